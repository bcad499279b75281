import type { CacheOptions, ResponseCache } from './types.js';

/** The cache in this process: a Map in insertion order, so the oldest entry is the first one. */
export class MemoryCache implements ResponseCache {
  readonly kind = 'memory' as const;
  readonly #entries = new Map<string, { value: string; expiresAt: number }>();
  readonly #max: number;
  readonly #now: () => number;

  constructor(options: CacheOptions = {}) {
    this.#max = options.maxEntries ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  async get(key: string): Promise<string | undefined> {
    const e = this.#entries.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt > this.#now()) return e.value;
    this.#entries.delete(key);
    return undefined;
  }

  async put(key: string, value: string, ttlMs: number): Promise<void> {
    this.#entries.delete(key);
    this.#entries.set(key, { value, expiresAt: this.#now() + ttlMs });
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.#max) break;
      this.#entries.delete(oldest);
    }
  }

  async close(): Promise<void> {
    this.#entries.clear();
  }
}
