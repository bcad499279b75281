/**
 * The response cache's store: stored answers by request key, each kept until its TTL runs out.
 * Memory and sqlite keep it on this machine; Redis shares it with every sidecar of the fleet.
 * A cache never fails a call: a store that cannot answer is a miss, a write that fails is dropped.
 */
export interface ResponseCache {
  readonly kind: 'memory' | 'sqlite' | 'redis';
  /** The stored answer for `key`, while younger than the TTL it was stored with. */
  get(key: string): Promise<string | undefined>;
  /** Stores an answer for `ttlMs`; past `maxEntries` the oldest go first. */
  put(key: string, value: string, ttlMs: number): Promise<void>;
  close(): Promise<void>;
}

export interface CacheOptions {
  maxEntries?: number;
  now?: () => number;
  /** How long a remote cache may take before the call goes on without it. */
  timeoutMs?: number;
  /** Redis only: the key prefix (the store's, `tollgate:` by default). */
  keyPrefix?: string;
}
