import { MemoryCache } from './memory.js';
import type { CacheOptions, ResponseCache } from './types.js';

export { MemoryCache } from './memory.js';
export type { CacheOptions, ResponseCache } from './types.js';

/**
 * The response cache beside the store STATE_URL names: in this process for `memory:`, in the
 * database file for `sqlite:PATH`, shared by the fleet for `redis://…`. Backends load on demand.
 */
export async function createResponseCache(url: string, options: CacheOptions = {}): Promise<ResponseCache> {
  if (url.startsWith('sqlite:')) {
    const { SqliteCache } = await import('./sqlite.js');
    return new SqliteCache(url.slice('sqlite:'.length), options);
  }
  if (url.startsWith('redis://') || url.startsWith('rediss://')) {
    const { RedisCache } = await import('./redis.js');
    return new RedisCache(url, options);
  }
  return new MemoryCache(options);
}
