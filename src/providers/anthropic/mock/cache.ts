/**
 * The mock's prompt cache, so MOCK rehearses what caching costs: a request whose `cache_control`
 * prefix was written within its TTL (5 minutes, or 1 hour with `ttl: "1h"`) reads it
 * (`cache_read_input_tokens`), else writes it (`cache_creation_input_tokens`, split by TTL in
 * `cache_creation`). As the API does, a read looks back to the longest cached breakpoint, a hit
 * refreshes the entry, and a prefix shorter than the minimum cacheable length is not cached. What
 * is written is booked at the TTL of the last breakpoint (the API splits mixed TTLs per breakpoint).
 * State lives in the mock (per process), so the counts depend on what was asked before, as they do
 * at Anthropic.
 */
import { createHash } from 'node:crypto';
import { type Breakpoint, cacheBreakpoints } from '../tokens.js';

/** The smallest prefix Anthropic caches (1,024 tokens for most models). */
export const MIN_CACHEABLE_TOKENS = 1024;
const TTL_MS = { '5m': 5 * 60_000, '1h': 60 * 60_000 } as const;
/** Entries kept; the oldest go first. */
const MAX_ENTRIES = 10_000;

export interface CacheUsage {
  reads: number;
  writes5m: number;
  writes1h: number;
}

const NONE: CacheUsage = { reads: 0, writes5m: 0, writes1h: 0 };

export class PromptCache {
  readonly #expires = new Map<string, number>();
  readonly #now: () => number;

  constructor(now: () => number) {
    this.#now = now;
  }

  #key(model: string, bp: Breakpoint): string {
    return createHash('sha256').update(model).update('\0').update(bp.prefix).digest('base64url');
  }

  #store(key: string, ttl: Breakpoint['ttl']) {
    this.#expires.delete(key);
    if (this.#expires.size >= MAX_ENTRIES) {
      const oldest = this.#expires.keys().next();
      if (!oldest.done) this.#expires.delete(oldest.value);
    }
    this.#expires.set(key, this.#now() + TTL_MS[ttl]);
  }

  /** What a request reads from and writes to the cache, and the cache updated for it. */
  use(model: string, json: Record<string, unknown>): CacheUsage {
    const points = cacheBreakpoints(json).filter((bp) => bp.tokens >= MIN_CACHEABLE_TOKENS);
    const last = points.at(-1);
    if (last === undefined) return NONE;
    const now = this.#now();
    const keys = points.map((bp) => this.#key(model, bp));
    let hit = -1;
    for (let i = points.length - 1; i >= 0 && hit === -1; i--) {
      if ((this.#expires.get(keys[i] as string) ?? 0) > now) hit = i;
    }
    const reads = hit === -1 ? 0 : (points[hit] as Breakpoint).tokens;
    for (const [i, bp] of points.entries()) this.#store(keys[i] as string, bp.ttl);
    const writes = last.tokens - reads;
    return { reads, writes5m: last.ttl === '5m' ? writes : 0, writes1h: last.ttl === '1h' ? writes : 0 };
  }
}
