/**
 * How long one store call may wait for Redis (STATE_TIMEOUT_MS), and the way to give up on it early
 * when the store declares an outage meanwhile.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export class Deadline {
  readonly #gaveUp: Promise<never>;
  #reject!: (err: Error) => void;
  #timer: NodeJS.Timeout | undefined;
  #over = false;

  /** `expired` makes the error a call gets once `ms` passed without its answer. */
  constructor(ms: number, expired: () => Error) {
    this.#gaveUp = new Promise<never>((_, reject) => {
      this.#reject = reject;
    });
    this.#gaveUp.catch(() => {});
    this.#timer = setTimeout(() => {
      // After this process was stopped or busy, timers run before pending I/O is read: let an
      // answer that already arrived settle the call first (setImmediate runs after the poll phase).
      setImmediate(() => this.abort(expired()));
    }, ms);
  }

  /** True once the call gave up (timed out or aborted). */
  get over(): boolean {
    return this.#over;
  }

  /** Gives up now with `err` (an outage was declared: the caller turns to the fallback). */
  abort(err: Error): void {
    if (this.#over) return;
    this.#over = true;
    clearTimeout(this.#timer);
    this.#reject(err);
  }

  /** The call finished: stop the clock. */
  done(): void {
    this.#over = true;
    clearTimeout(this.#timer);
  }

  /** `work`, or the deadline's error if it comes first. */
  race<T>(work: Promise<T>): Promise<T> {
    return Promise.race([work, this.#gaveUp]);
  }

  /** Waits `ms` unless the deadline comes first. */
  pause(ms: number): Promise<void> {
    return this.race(sleep(ms, undefined, { ref: false }));
  }
}

/** The deadlines of the calls in flight, so an outage declared meanwhile reaches them all. */
export class Deadlines {
  readonly #live = new Set<Deadline>();
  readonly #ms: number;
  readonly #expired: () => Error;

  /** Each call gets `ms`; `expired` makes the error of one that got no answer in time. */
  constructor(ms: number, expired: () => Error) {
    this.#ms = ms;
    this.#expired = expired;
  }

  /** Runs `work` under a new deadline. */
  async within<T>(work: (d: Deadline) => Promise<T>): Promise<T> {
    const d = new Deadline(this.#ms, this.#expired);
    this.#live.add(d);
    try {
      return await d.race(work(d));
    } finally {
      d.done();
      this.#live.delete(d);
    }
  }

  /** Gives up every call in flight with `err()`. */
  abortAll(err: () => Error): void {
    for (const d of this.#live) d.abort(err());
  }
}
