/**
 * The fleet store: several sidecars sharing one Redis share their buckets, budgets and ledger
 * (key layout: keys.ts).
 *
 * Every write happens in a Lua script (scripts/*.lua, loaded once, called by EVALSHA through
 * ioredis `defineCommand`), so each is atomic on the server: READ (Redis `TIME`, the fleet's one
 * clock, plus version/value/TTL of each key), CAS (writes every key only if no version moved),
 * RECORD (the id guard, the row, its hour totals and its spend counters together, or nothing), and
 * the limiter's two per-call steps: ADMIT (take the buckets, check and hold the budgets) and SETTLE
 * (RECORD, then refund the buckets and release the call's holds). So a proxied call costs two
 * round trips, one per step, and concurrent calls' scripts share writes (auto-pipelining);
 * generic `transact` (READ, then CAS, retried on conflict) serves everything else.
 *
 * When Redis is out of reach the store keeps answering from a local fallback (fallback.ts) seeded
 * with the last state it saw, and spools rows to a local JSONL file (spool.ts) that is replayed
 * through RECORD — exactly once thanks to the id guard — when Redis answers again.
 */
export type { RedisStoreLog, RedisStoreOptions, RedisStoreStats } from './options.js';
export type { SpoolEntry, SpoolFile, SpoolLine } from './spool-files.js';
export { readSpoolFolder, spooledRows } from './spool-files.js';
export { describeIdentity, type StoreIdentity, sameIdentity, storeAddress, storeIdentity } from './spool-identity.js';
export { RedisStore } from './store.js';
