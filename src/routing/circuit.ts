export type CircuitState = 'closed' | 'open' | 'half_open';

/** A transition: the state before, the state after, and why it happened. */
export interface CircuitChange {
  from: CircuitState;
  to: CircuitState;
  why: string;
}

export interface CircuitSettings {
  failureThreshold: number;
  resetMs: number;
}

/**
 * A per-provider circuit breaker: opens after `failureThreshold` consecutive failures,
 * lets one probe through after `resetMs` (half-open), closes on its success and re-opens on its failure.
 * Settings are read on every decision so a config reload applies at once.
 */
export class CircuitBreaker {
  #failures = 0;
  #openedAt: number | undefined;
  #probing = false;
  /** Opened by a failed health probe (trip), not by failed calls. */
  #tripped = false;
  readonly #settings: () => CircuitSettings;
  readonly #now: () => number;
  readonly #onChange: ((change: CircuitChange) => void) | undefined;

  constructor(
    settings: () => CircuitSettings,
    now: () => number = Date.now,
    onChange?: (change: CircuitChange) => void,
  ) {
    this.#settings = settings;
    this.#now = now;
    this.#onChange = onChange;
  }

  get state(): CircuitState {
    if (this.#openedAt === undefined) return 'closed';
    return this.#now() - this.#openedAt >= this.#settings().resetMs ? 'half_open' : 'open';
  }

  get consecutiveFailures(): number {
    return this.#failures;
  }

  /** What opened the circuit: failed calls, or a failed health probe (`trip`); undefined while closed. */
  get openedBy(): 'failures' | 'probe' | undefined {
    if (this.#openedAt === undefined) return undefined;
    return this.#tripped ? 'probe' : 'failures';
  }

  /** Milliseconds until a probe may go through (0 when closed or half-open). */
  retryAfterMs(): number {
    if (this.#openedAt === undefined) return 0;
    return Math.max(0, this.#openedAt + this.#settings().resetMs - this.#now());
  }

  /**
   * Whether a call may go to the provider now. In half-open state exactly one caller
   * gets `true` (the probe) until it reports success, failure or release.
   */
  tryAcquire(): { allowed: boolean; probe: boolean } {
    const state = this.state;
    if (state === 'closed') return { allowed: true, probe: false };
    if (state === 'open' || this.#probing) return { allowed: false, probe: false };
    this.#probing = true;
    return { allowed: true, probe: true };
  }

  success(why = 'a call to the provider succeeded'): void {
    const from = this.state;
    this.#failures = 0;
    this.#openedAt = undefined;
    this.#probing = false;
    this.#tripped = false;
    if (from !== 'closed') this.#onChange?.({ from, to: 'closed', why });
  }

  failure(): void {
    this.#failures += 1;
    const wasProbe = this.#probing;
    this.#probing = false;
    if (wasProbe || (this.#openedAt === undefined && this.#failures >= this.#settings().failureThreshold)) {
      const from = this.state;
      this.#openedAt = this.#now();
      this.#tripped = false;
      const why = wasProbe
        ? 'the half-open probe failed'
        : `${this.#failures} consecutive failures (CIRCUIT_FAILURE_THRESHOLD=${this.#settings().failureThreshold})`;
      // A probe that fails re-opens a half-open circuit: a transition too.
      if (from !== 'open') this.#onChange?.({ from, to: 'open', why });
    }
  }

  /**
   * Opens the circuit now, whatever the count of failures: the background health probe failed
   * (HYBRID). Calls fall back as `circuit_open` while `tollgate_circuit_open` and /health say open;
   * after `resetMs` one call probes the provider as after any opening.
   */
  trip(): void {
    // Open after failed calls and not yet half-open: keep their record and their reset time.
    const from = this.state;
    if (from === 'open' && !this.#tripped) return;
    this.#openedAt = this.#now();
    this.#tripped = true;
    // A probe still failing when the reset time came keeps the circuit open: no new transition.
    if (from === 'closed') this.#onChange?.({ from, to: 'open', why: 'the health probe failed' });
  }

  /** The health probe passes again: a circuit it tripped closes (one that failed calls opened stays open). */
  untrip(): void {
    if (this.#tripped) this.success('the health probe passed');
  }

  /** A probe that ended without a verdict (e.g. the worker disconnected) frees the slot. */
  release(probe: boolean): void {
    if (probe) this.#probing = false;
  }

  reset(why = 'reset'): void {
    this.success(why);
  }
}
