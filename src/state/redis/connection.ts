/** The ioredis client a store talks through, and its first connect. */
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';

export interface ConnectionOptions {
  connectTimeoutMs: number;
  /** The longest wait between reconnect attempts. */
  recoveryPollMs: number;
}

/**
 * A client not yet connected, tuned so a lost connection shows at once instead of queuing commands.
 * No command timeout: a slow answer is not an outage; each store call is bounded by its Deadline.
 */
export function createClient(url: string, o: ConnectionOptions): Redis {
  return new Redis(url, {
    lazyConnect: true,
    enableAutoPipelining: true,
    // Fail fast so the fallback answers instead of the request waiting on a dead socket.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: o.connectTimeoutMs,
    retryStrategy: (times) => Math.min(100 * times, o.recoveryPollMs),
  });
}

/** Connects, or rejects once `ms` passed without an answer. */
export async function connectWithin(redis: Redis, ms: number): Promise<void> {
  await Promise.race([
    redis.connect(),
    sleep(ms, undefined, { ref: false }).then(() => {
      throw new Error(`no answer within ${ms} ms`);
    }),
  ]);
}
