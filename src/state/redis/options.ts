import type { ProbeOptions } from './probe.js';

export interface RedisStoreLog {
  warn(o: object, m: string): void;
  info(o: object, m: string): void;
}

/** The log when none is given: the store says nothing. */
export const silentLog: RedisStoreLog = { warn() {}, info() {} };

export interface RedisStoreOptions {
  /** Where rows are spooled while Redis is unreachable; sidecars may share it (one file each). */
  spoolDir?: string;
  /** Also replay the old single spool file of this prefix, whose rows do not name their store (`tollgate spool replay --store`). */
  adoptLegacySpool?: boolean;
  /** Take spool files written or claimed on other hosts as if their process were gone (`tollgate spool replay --force`). */
  claimForeignSpool?: boolean;
  /** How often the spool folder is scanned for rows a gone sidecar left for this store. */
  spoolSweepMs?: number;
  keyPrefix?: string;
  /** The local clock (the fallback's, offset to Redis TIME as last seen). */
  now?: () => number;
  log?: RedisStoreLog;
  /** How long a row, its hour totals and its id guard are kept. */
  ledgerRetentionMs?: number;
  /**
   * How long a call waits for a slow Redis before it fails with StateUnavailable (STATE_TIMEOUT_MS,
   * default 3000). A slow answer is not an outage.
   */
  timeoutMs?: number;
  /** The store's own PING: every `intervalMs`, `timeoutMs` each, `failures` misses in a row = outage. */
  probe?: Partial<ProbeOptions>;
  /** Bound on the initial connect; past it the store starts degraded. */
  connectTimeoutMs?: number;
  /** How often a degraded store checks whether Redis is back. */
  recoveryPollMs?: number;
  /** CAS attempts before `transact` gives up on a key that keeps changing. */
  maxAttempts?: number;
}

export interface RedisStoreStats {
  transacts: number;
  /** Native admissions and settlements (one ADMIT / SETTLE script each). */
  admits: number;
  settles: number;
  /** CAS attempts that found a version moved and had to decide again. */
  retries: number;
  records: number;
  /** `transact` calls answered by the local fallback. */
  fallbackTransacts: number;
  /** Rows currently waiting in the spool file. */
  spooled: number;
  /** Rows sent through RECORD from the spool (including ones Redis already had). */
  replayed: number;
  /** Times the store switched to its local fallback. */
  degradedSwitches: number;
  /** Calls that failed with StateUnavailable (no answer in time, OOM, WRONGTYPE). */
  refusals: number;
  /** Commands sent again after LOADING, BUSY, TRYAGAIN… or NOSCRIPT. */
  waited: number;
}

export function emptyStats(): RedisStoreStats {
  return {
    transacts: 0,
    admits: 0,
    settles: 0,
    retries: 0,
    records: 0,
    fallbackTransacts: 0,
    spooled: 0,
    replayed: 0,
    degradedSwitches: 0,
    refusals: 0,
    waited: 0,
  };
}
