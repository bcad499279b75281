import { MODES, type Mode, PROVIDERS, type Provider } from '../config/index.js';

export type FallbackReason =
  | 'no_api_key'
  | 'circuit_open'
  | 'upstream_unreachable'
  | 'upstream_timeout'
  | 'upstream_5xx'
  | 'upstream_429'
  | 'budget_exceeded'
  | 'replay_miss';

export const isMode = (v: unknown): v is Mode => typeof v === 'string' && (MODES as readonly string[]).includes(v);
export const isProvider = (v: unknown): v is Provider =>
  typeof v === 'string' && (PROVIDERS as readonly string[]).includes(v);

/**
 * The mode in force per provider. Starts from config; `PUT /admin/mode` and config reloads
 * change it at runtime (the latest switch wins), and the next request sees the new mode.
 */
export class ModeState {
  #default: Mode;
  #modes: Record<Provider, Mode>;

  constructor(defaultMode: Mode, modes: Record<Provider, Mode>) {
    this.#default = defaultMode;
    this.#modes = { ...modes };
  }

  get(provider: Provider): Mode {
    return this.#modes[provider];
  }

  snapshot(): { default: Mode; providers: Record<Provider, Mode> } {
    return { default: this.#default, providers: { ...this.#modes } };
  }

  /** Sets one provider's mode, or every provider's (and the default) when provider is omitted. */
  set(mode: Mode, provider?: Provider): void {
    if (provider === undefined) {
      this.#default = mode;
      for (const p of PROVIDERS) this.#modes[p] = mode;
    } else {
      this.#modes[provider] = mode;
    }
  }

  /** The default mode as configured (a reload of SERVICE_MODE); providers follow only where they have no override. */
  setDefault(mode: Mode): void {
    this.#default = mode;
  }
}
