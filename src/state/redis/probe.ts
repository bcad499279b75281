/**
 * The store's own probe: a PING every `intervalMs` while Redis is in use. A slow or paused process
 * or server misses one; only `failures` misses in a row (each `timeoutMs` without any answer) are
 * evidence that Redis cannot answer, and so an outage.
 */
import type { Redis } from 'ioredis';
import { Deadline } from './deadline.js';

export interface ProbeOptions {
  intervalMs: number;
  timeoutMs: number;
  /** Misses in a row that declare the outage. */
  failures: number;
}

export const defaultProbe: ProbeOptions = { intervalMs: 500, timeoutMs: 1000, failures: 3 };

/** Resolves once `redis` answers anything (an error reply is an answer), or rejects past `ms`. */
export async function answers(redis: Redis, ms: number): Promise<void> {
  const d = new Deadline(ms, () => new Error(`no answer within ${ms} ms`));
  try {
    await d.race(
      redis.ping().catch((err: Error) => {
        if (err.name !== 'ReplyError') throw err;
      }),
    );
  } finally {
    d.done();
  }
}

/** True when the server takes writes (its ROLE is master, or ROLE is not allowed to this user). */
export async function takesWrites(redis: Redis, ms: number): Promise<boolean> {
  const d = new Deadline(ms, () => new Error(`no answer within ${ms} ms`));
  try {
    // ROLE refused (an ACL, a managed Redis without it): take the server as it says by answering.
    const role = (await d.race(
      redis.call('ROLE').catch((err: Error) => {
        if (err.name !== 'ReplyError') throw err;
        return ['master'];
      }),
    )) as unknown[];
    return role[0] === 'master';
  } finally {
    d.done();
  }
}

export interface ProbeHooks {
  /** The probes missed `failures` times in a row: declare the outage. */
  down(reason: string): void;
  /** Redis answers and takes writes again: replay and switch back (rejects if it could not). */
  back(): Promise<unknown>;
}

/**
 * Watches a healthy connection (`watch`: PING every `intervalMs`), or, on the fallback, polls for
 * Redis' return (`recover`: every `recoveryPollMs`, and at once on ioredis' reconnect).
 */
export class Probe {
  readonly #redis: Redis;
  readonly #o: ProbeOptions & { recoveryPollMs: number };
  readonly #hooks: ProbeHooks;
  #mode: 'off' | 'watch' | 'recover' = 'off';
  #timer: NodeJS.Timeout | undefined;
  #inFlight = false;
  #missed = 0;

  constructor(redis: Redis, options: ProbeOptions & { recoveryPollMs: number }, hooks: ProbeHooks) {
    this.#redis = redis;
    this.#o = options;
    this.#hooks = hooks;
  }

  watch(): void {
    this.#every('watch', this.#o.intervalMs);
    this.#missed = 0;
  }

  recover(): void {
    this.#every('recover', this.#o.recoveryPollMs);
  }

  stop(): void {
    this.#mode = 'off';
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #every(mode: 'watch' | 'recover', ms: number): void {
    this.stop();
    this.#mode = mode;
    this.#timer = setInterval(() => void this.check(), ms);
    this.#timer.unref();
  }

  /** One probe of the current mode (none while one is in flight). */
  async check(): Promise<void> {
    if (this.#inFlight || this.#mode === 'off') return;
    this.#inFlight = true;
    try {
      if (this.#mode === 'watch') await this.#watchOnce();
      else await this.#recoverOnce();
    } finally {
      this.#inFlight = false;
    }
  }

  async #watchOnce(): Promise<void> {
    // Not connected: ioredis' 'close' already told the store.
    if (this.#redis.status !== 'ready') return;
    try {
      await answers(this.#redis, this.#o.timeoutMs);
      this.#missed = 0;
    } catch {
      this.#missed += 1;
      if (this.#missed >= this.#o.failures && this.#mode === 'watch') {
        this.#missed = 0;
        this.#hooks.down(`no answer to ${this.#o.failures} probes in a row (${this.#o.timeoutMs} ms each)`);
      }
    }
  }

  async #recoverOnce(): Promise<void> {
    try {
      await answers(this.#redis, this.#o.timeoutMs);
      // A replica answers PING too: back only once the server takes writes.
      if (this.#mode === 'recover' && (await takesWrites(this.#redis, this.#o.timeoutMs))) await this.#hooks.back();
    } catch {
      // Still down; the next poll or ioredis' reconnect tries again.
    }
  }
}
