import type { Redis } from 'ioredis';
import { connectWithin, createClient } from '../redis/connection.js';
import type { CacheOptions, ResponseCache } from './types.js';

/**
 * The fleet's cache in Redis: each answer a key with its TTL (`PX`), and an index sorted by when it
 * was stored, so past `maxEntries` the oldest are evicted first. Its own connection: a slow or absent
 * cache never holds up the limits store, and the other way round.
 */
export class RedisCache implements ResponseCache {
  readonly kind = 'redis' as const;
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #index: string;
  readonly #max: number;
  readonly #timeoutMs: number;
  readonly #now: () => number;
  #connected: Promise<void> | undefined;

  constructor(url: string, options: CacheOptions = {}) {
    this.#redis = createClient(url, { connectTimeoutMs: 2000, recoveryPollMs: 1000 });
    this.#redis.on('error', () => {});
    this.#prefix = `${options.keyPrefix ?? 'tollgate:'}cache:`;
    this.#index = `${this.#prefix}index`;
    this.#max = options.maxEntries ?? 10_000;
    this.#timeoutMs = options.timeoutMs ?? 3000;
    this.#now = options.now ?? Date.now;
  }

  /** Runs `op` once connected, or gives up (undefined) after the timeout: the call goes on without the cache. */
  async #within<T>(op: (r: Redis) => Promise<T>): Promise<T | undefined> {
    this.#connected ??= connectWithin(this.#redis, this.#timeoutMs).catch((e) => {
      this.#connected = undefined;
      throw e;
    });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(resolve, this.#timeoutMs, undefined);
      timer.unref();
    });
    try {
      return await Promise.race([this.#connected.then(() => op(this.#redis)), late]);
    } catch {
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  async get(key: string): Promise<string | undefined> {
    return (await this.#within((r) => r.get(this.#prefix + key))) ?? undefined;
  }

  async put(key: string, value: string, ttlMs: number): Promise<void> {
    const k = this.#prefix + key;
    const now = this.#now();
    await this.#within(async (r) => {
      const [, , , count] = (await r
        .multi()
        .set(k, value, 'PX', ttlMs)
        .zadd(this.#index, now, k)
        // Index entries of answers that expired on their own (stored a TTL ago) are dropped.
        .zremrangebyscore(this.#index, '-inf', now - ttlMs)
        .zcard(this.#index)
        .exec()) as [Error | null, unknown][];
      const excess = Number(count?.[1] ?? 0) - this.#max;
      if (excess <= 0) return;
      const oldest = (await r.zpopmin(this.#index, excess)).filter((_, i) => i % 2 === 0);
      if (oldest.length > 0) await r.del(...oldest);
    });
  }

  async close(): Promise<void> {
    this.#redis.disconnect();
  }
}
