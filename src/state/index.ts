import { MemoryStore } from './memory.js';
import type { Store } from './types.js';

export { type CacheOptions, createResponseCache, MemoryCache, type ResponseCache } from './cache/index.js';
export { MemoryStore } from './memory.js';
export * from './types.js';
export { warmStore } from './warm.js';

export interface StoreOptions {
  /** Where a remote store spools ledger rows while it is out of reach. */
  spoolDir?: string;
  log?: { warn(o: object, m: string): void; info(o: object, m: string): void };
  /** Redis only: the key prefix (default `tollgate:`). */
  keyPrefix?: string;
  /** Redis only: also replay the old spool file of the prefix (`tollgate spool replay --store`). */
  adoptLegacySpool?: boolean;
  /** Redis only: take other hosts' spool files as if their writers were gone (`--force`). */
  claimForeignSpool?: boolean;
  /** How long a call waits for a slow remote store before it fails (STATE_TIMEOUT_MS). */
  timeoutMs?: number;
}

/** The spool folder of a Redis store, read by `tollgate spool` and `tollgate costs` (loaded on demand). */
export function redisSpool() {
  return import('./redis/index.js');
}

/**
 * Picks the store for STATE_URL: `memory:`, `sqlite:PATH` (embedded, durable) or `redis://…` (fleet).
 * Backends load on demand so a sidecar only pays for the one it uses.
 */
export async function createStore(url: string, options: StoreOptions = {}): Promise<Store> {
  if (url === 'memory:') return new MemoryStore();
  if (url.startsWith('sqlite:')) {
    const { SqliteStore } = await import('./sqlite/index.js');
    return new SqliteStore(url.slice('sqlite:'.length));
  }
  if (url.startsWith('redis://') || url.startsWith('rediss://')) {
    const { RedisStore } = await import('./redis/index.js');
    return new RedisStore(url, options);
  }
  throw new Error(`unsupported STATE_URL: ${url}`);
}
