/**
 * What a failed Redis call means (contract section 6). Only evidence that Redis cannot answer is an
 * outage: the connection is lost or refused (ioredis' own errors), or — decided in probe.ts — the
 * store's probes fail repeatedly. A slow answer is not: the call waits up to STATE_TIMEOUT_MS, then
 * fails with {@link StateUnavailable}. Each error reply has its own behaviour, see {@link classify}.
 */
import { StoreUnavailableError } from '../types.js';

/** Thrown inside the store when a Redis call failed for want of Redis; callers turn to the fallback. */
export class RedisUnreachable extends Error {
  override readonly name = 'RedisUnreachable';
}

/** Why a call was refused rather than answered (the proxy answers 503 `state_unavailable`). */
export type Refusal = 'timeout' | 'oom' | 'wrongtype' | 'closed';

/** Redis did not complete the call but is not out of reach: no fallback, a clear 503 instead. */
export class StateUnavailable extends StoreUnavailableError {
  readonly reason: Refusal;
  constructor(reason: Refusal, message: string, options?: ErrorOptions) {
    super(message, options);
    this.reason = reason;
  }
}

/** The calls Redis refused lately (StateUnavailable), so health can say it while the 503s go out. */
export class Refusals {
  count = 0;
  #last: { at: number; message: string } | undefined;

  note(err: StateUnavailable): void {
    this.count += 1;
    this.#last = { at: performance.now(), message: err.message };
  }

  /** The last refusal if it is less than `ms` old. */
  recent(ms = 30_000): string | undefined {
    return this.#last !== undefined && performance.now() - this.#last.at < ms ? this.#last.message : undefined;
  }
}

/** A call that got no answer within STATE_TIMEOUT_MS while the connection is up. */
export function timedOut(where: string, ms: number): StateUnavailable {
  return new StateUnavailable(
    'timeout',
    `redis ${where} did not answer within ${ms} ms (STATE_TIMEOUT_MS); the connection is up, so this is not an outage`,
  );
}

/**
 * - `unreachable`: no answer can come (connection lost, refused, reset, not connected) → fallback.
 * - `retry`: the server cannot serve this now but will (LOADING, BUSY, TRYAGAIN, MASTERDOWN,
 *   CLUSTERDOWN, NOREPLICAS); the command did not run → retry until the deadline.
 * - `noscript`: the script cache was flushed; the script did not run → retry once (ioredis reloads).
 * - `readonly`: this server is a replica (a failover happened) and cannot take writes → fallback.
 * - `oom`: maxmemory reached; the server answers and holds the fleet's truth → 503, no fallback.
 * - `wrongtype`: a key under the prefix holds the wrong type → 503 naming the key.
 * - `other`: any other reply is a bug in the request, thrown as is.
 */
export type Failure = 'unreachable' | 'retry' | 'noscript' | 'readonly' | 'oom' | 'wrongtype' | 'other';

const REPLIES: readonly [RegExp, Failure][] = [
  [/^(LOADING|BUSY|TRYAGAIN|MASTERDOWN|CLUSTERDOWN|NOREPLICAS)\b/, 'retry'],
  [/^NOSCRIPT\b/, 'noscript'],
  [/^READONLY\b/, 'readonly'],
  [/^OOM\b/, 'oom'],
  [/^WRONGTYPE\b/, 'wrongtype'],
];

export function classify(err: unknown): Failure {
  if (!(err instanceof Error) || err instanceof TypeError || err instanceof SyntaxError) return 'other';
  // Without a command timeout, ioredis raises only connection trouble as plain errors ("Connection
  // is closed.", "Stream isn't writeable…", ECONNREFUSED/ECONNRESET, max retries); only ReplyError
  // comes from the server itself.
  if (err.name !== 'ReplyError') return 'unreachable';
  for (const [pattern, failure] of REPLIES) if (pattern.test(err.message)) return failure;
  return 'other';
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Host and port only: a URL may carry a password, and this goes into logs and /health. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '6379'}${u.pathname && u.pathname !== '/' ? u.pathname : ''}`;
  } catch {
    return 'redis';
  }
}
