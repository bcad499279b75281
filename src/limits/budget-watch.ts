import type { BudgetSnapshot, LimitsSnapshot } from './snapshot.js';

/**
 * Watches the spend budgets: refreshes a snapshot of them every few seconds (health reads the
 * last one, and the store latency it took) and warns once per budget window when spending
 * crosses the warning ratio, not on every refresh.
 */

/** The one logger call the watch makes (pino's Logger fits). */
export interface WarnLog {
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface BudgetWatchDeps {
  limiter: { snapshot(): Promise<LimitsSnapshot> };
  /** Read on every refresh: a config reload applies at the next one. */
  warnRatio: () => number;
  log: WarnLog;
  intervalMs?: number;
  /** A monotonic clock in ms, for the store latency (default performance.now). */
  now?: () => number;
  /** Runs `tick` every `ms` until the returned stop is called (default: an unref'd setInterval). */
  every?: (tick: () => void, ms: number) => () => void;
}

const everyInterval = (tick: () => void, ms: number) => {
  // unref: the watch alone must not keep the process alive.
  const timer = setInterval(tick, ms).unref();
  return () => clearInterval(timer);
};

/** Whether `b` has crossed the warning ratio (an unlimited or zero budget never warns). */
const nearLimit = (b: BudgetSnapshot, ratio: number) => b.limitUsd > 0 && b.spentUsd / b.limitUsd >= ratio;

/** A budget window, as the once-per-window warning knows it. */
const windowKey = (b: BudgetSnapshot) => `${b.scope}:${b.window}:${b.windowStart}`;

export class BudgetWatch {
  readonly #deps: BudgetWatchDeps;
  readonly #warned = new Set<string>();
  #budgets: readonly BudgetSnapshot[] = [];
  #storeLatencyMs = 0;
  #stop: (() => void) | undefined;

  constructor(deps: BudgetWatchDeps) {
    this.#deps = deps;
  }

  /** The budgets as of the last successful refresh (empty before the first). */
  get budgets(): readonly BudgetSnapshot[] {
    return this.#budgets;
  }

  /** How long the last successful snapshot took, in ms (two decimals). */
  get storeLatencyMs(): number {
    return this.#storeLatencyMs;
  }

  /** Takes a snapshot and warns for newly crossed budgets; a failure is logged, never thrown. */
  async refresh(): Promise<void> {
    const now = this.#deps.now ?? (() => performance.now());
    try {
      const t0 = now();
      this.#budgets = (await this.#deps.limiter.snapshot()).budgets;
      this.#storeLatencyMs = Math.round((now() - t0) * 100) / 100;
      this.#warn(this.#budgets);
    } catch (err) {
      this.#deps.log.warn({ err }, 'budget snapshot failed');
    }
  }

  #warn(budgets: readonly BudgetSnapshot[]): void {
    const ratio = this.#deps.warnRatio();
    for (const b of budgets) {
      const key = windowKey(b);
      if (!nearLimit(b, ratio) || this.#warned.has(key)) continue;
      this.#warned.add(key);
      this.#deps.log.warn(
        { scope: b.scope, window: b.window, spent_usd: b.spentUsd, limit_usd: b.limitUsd },
        'budget near its limit',
      );
    }
  }

  /** Refreshes every intervalMs (default 5 s) until stop(); a second start() changes nothing. */
  start(): void {
    if (this.#stop !== undefined) return;
    const every = this.#deps.every ?? everyInterval;
    this.#stop = every(() => void this.refresh(), this.#deps.intervalMs ?? 5000);
  }

  stop(): void {
    this.#stop?.();
    this.#stop = undefined;
  }
}
