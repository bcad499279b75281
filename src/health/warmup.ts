import type { Provider } from '../config/index.js';
import type { ProviderAdapter } from '../providers/index.js';
import { type Store, warmStore } from '../state/index.js';

export interface WarmupLog {
  info(o: object, m: string): void;
  error(o: object, m: string): void;
}

export interface WarmupParts {
  providers: readonly ProviderAdapter[];
  /** What the price table in force prices for a provider (read afresh each round: a reload may add models). */
  models: (provider: Provider) => string[];
  store: Store;
  log: WarmupLog;
  /** One more step readiness waits for (tests: a slow one, to watch /readyz answer `warming`). */
  step?: () => Promise<void>;
  /** Wait before a failed warm-up is tried again. */
  retryMs?: number;
}

/**
 * Readiness means warm (contract section 7): the store's per-call operations have run once (scripts
 * loaded, or the fallback active) and every provider has loaded what the price table's models need
 * (tokenizer encodings), so the first call costs what the thousandth does. Runs in the background:
 * the sidecar listens (and /livez answers) meanwhile, and /readyz answers 503 `warming` until done.
 *
 * @example
 * const warmup = new Warmup({ providers, models: (p) => prices.current.models(p), store, log });
 * void warmup.start();
 * warmup.status(); // { ready: false, reason: 'warming' } until it is done
 */
export class Warmup {
  readonly #parts: WarmupParts;
  #warm = false;
  #failure: string | undefined;
  #stopped = false;
  #started: Promise<void> | undefined;

  constructor(parts: WarmupParts) {
    this.#parts = parts;
  }

  /** Warms everything once (again every `retryMs` while it fails); resolves once warm or stopped. */
  start(): Promise<void> {
    this.#started ??= this.#untilWarm();
    return this.#started;
  }

  /** After a price table reload: loads what added models need. Readiness does not flip for it. */
  async refresh(): Promise<void> {
    if (!this.#warm) return;
    try {
      await this.#providers();
    } catch (err) {
      this.#parts.log.error({ err }, 'warm-up after a price reload failed; those models load on first use');
    }
  }

  status(): { ready: boolean; reason?: string } {
    if (this.#warm) return { ready: true };
    return { ready: false, reason: this.#failure === undefined ? 'warming' : `warming: ${this.#failure}` };
  }

  stop(): void {
    this.#stopped = true;
  }

  async #untilWarm(): Promise<void> {
    const { log, store, step, retryMs = 1000 } = this.#parts;
    const started = performance.now();
    while (!this.#stopped) {
      try {
        // The store first: its round trips are not delayed by a vocabulary loading meanwhile.
        await warmStore(store);
        await this.#providers();
        await step?.();
        this.#warm = true;
        this.#failure = undefined;
        log.info({ ms: Math.round(performance.now() - started) }, 'warm: ready for traffic');
        return;
      } catch (err) {
        if (this.#stopped) return;
        this.#failure = (err as Error).message;
        log.error({ err }, `warm-up failed; trying again in ${retryMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, retryMs).unref());
      }
    }
  }

  async #providers(): Promise<void> {
    for (const adapter of this.#parts.providers) await adapter.warm?.(this.#parts.models(adapter.name));
  }
}
