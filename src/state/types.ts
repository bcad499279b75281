/**
 * The state store: where buckets, budgets and the spend ledger live. The interface is cut thin
 * so the limiting algorithm exists once (src/limits): a store only offers an atomic
 * read-decide-write over a few keys (`transact`) and an exactly-once ledger append (`record`).
 *
 * Values are opaque JSON to the store. Every key carries a version; `transact` commits only when
 * no key it read changed meanwhile (compare-and-set), and retries `decide` otherwise, so several
 * sidecars sharing one store cannot both spend the same capacity.
 *
 * Two optional operations let a remote store do the limiter's per-call work in one round trip
 * each: `admit` (the admission decision, given as data) and `settle` (book the row and release
 * the call's reservations together). A store without them gets the same effect from `transact`
 * and `record`; a store with them must decide exactly as the `transact` request it is handed
 * (src/limits/decide.ts `decideAdmit`/`decideRelease`, a layer above), which is also what it runs when its
 * native path is out of reach.
 */

/**
 * Who answered a call: the provider, the mock, a recording (REPLAY) or the response cache. A cache
 * row's cost column holds the cost the hit saved: it never counts as spend (reports show it as saved).
 */
export type ServedBy = 'real' | 'mock' | 'replay' | 'cache';

/** What a row cost (a cache row's cost column is what it saved, never spent). */
export const spentNanoUsd = (row: Pick<LedgerRow, 'servedBy' | 'costNanoUsd'>): number =>
  row.servedBy === 'cache' ? 0 : row.costNanoUsd;

/** One spend-ledger row (contract section 6). Money is kept in integer nano-USD to sum exactly. */
export interface LedgerRow {
  /** Unique per booked call; LlamaParse jobs use `llamaparse:job:<id>` so a job books once fleet-wide. */
  id: string;
  /** Epoch ms of the booking. */
  ts: number;
  correlationId: string;
  traceId: string;
  provider: string;
  operation: string;
  model: string;
  servedBy: ServedBy;
  inputTokens: number;
  cachedInputTokens: number;
  outputTokens: number;
  pages: number;
  costNanoUsd: number;
  /** Whether this row's cost counts against budgets (real spend, or mock with BUDGET_INCLUDE_MOCK). */
  billable: boolean;
}

/** An integer counter added to when a row is recorded (budget spend per window). */
export interface SpendIncrement {
  key: string;
  nanoUsd: number;
  /** When the key may be forgotten (end of its window plus a margin), epoch ms. */
  expiresAt: number;
}

export interface TransactRequest<T> {
  keys: readonly string[];
  /**
   * Counters (written by `record`) to read in the same atomic step; `decide` sees them in `values`
   * as numbers (0 when absent). The commit also fails, and `decide` runs again, if one of them
   * changed meanwhile: budgets compare spend and holds as of one instant.
   */
  counters?: readonly string[];
  /**
   * Computes the new values from the current ones (undefined when absent) and the store's clock.
   * It may run more than once when another writer got there first, so it depends on nothing but
   * its arguments. Return `writes` for keys to set (undefined deletes) and the caller's `result`.
   *
   * `decide` may update a value it was given in place (e.g. add one entry to a large map rather
   * than copy it), provided the result is also what it returns in `writes`, and any in-place change
   * to a value it does not write leaves that value meaning the same. A store therefore hands
   * `decide` values nobody else sees before the commit: a fresh copy per attempt (a remote or
   * on-disk store parses them), or its own objects when `decide` runs exactly once and commits in
   * the same synchronous step (the memory store).
   */
  decide(values: ReadonlyMap<string, unknown>, nowMs: number): { writes: Map<string, unknown>; result: T };
  /** Per key: when it may be forgotten, epoch ms (for window keys). Omitted: kept for a day after last write. */
  expiresAt?: (key: string, nowMs: number) => number;
}

export interface LedgerQuery {
  /** Inclusive, epoch ms. */
  from: number;
  /** Exclusive, epoch ms. */
  to: number;
}

export interface LedgerTotals {
  requests: number;
  costNanoUsd: number;
  inputTokens: number;
  cachedInputTokens: number;
  outputTokens: number;
  pages: number;
}

export interface LedgerGroup extends LedgerTotals {
  provider: string;
  model: string;
  servedBy: ServedBy;
  operation: string;
}

export interface StoreHealth {
  status: 'pass' | 'warn' | 'fail';
  output: string;
  /** True while a remote store is unreachable and its local fallback answers. */
  degraded?: boolean;
}

/**
 * Ledger rows waiting in a remote store's local spool folder, per store they belong to (contract
 * section 6: replayed into that store only, exactly once).
 */
export interface SpooledRows {
  /** `redis://host:port/db`; null for rows of an old spool file, which did not record their store. */
  store: string | null;
  /** The key prefix (an old spool file's: the slug its name was made of). */
  prefix: string;
  /** The old spool file the rows are in, when they do not name their store. */
  oldFile?: string;
  rows: number;
  costNanoUsd: number;
  firstTs: number;
  lastTs: number;
}

/** A token bucket an admission takes from, as a store's native `admit` sees it (the limiter's bucket.ts, a layer above). */
export interface BucketLimit {
  /** The transact key of the bucket's state (`{ tokens, at }`). */
  key: string;
  /** Refill per hour. */
  limit: number;
  /** Capacity. */
  burst: number;
}

/** A budget window an admission checks and holds against. */
export interface BudgetLimit {
  /** The transact key of the window's holds (`{ held, next, holds: { [id]: [nanoUsd, expiresAt] } }`). */
  holdKey: string;
  /** The window's spend counter (written by `record`). */
  spentKey: string;
  limitNano: number;
  /** When the hold key may be forgotten: the window's end, epoch ms. */
  expiresAt: number;
}

/**
 * One admission as data: take `amounts[i]` from each bucket (all or none), then check every budget
 * (spent + live holds + `holdNano` must stay within the limit) and hold `holdNano` in each under
 * `holdId` until `holdTtlMs` from now. Bucket states expire two hours after they are written.
 */
export interface AdmitOp {
  holdId: string;
  buckets: readonly BucketLimit[];
  /** What each bucket gives, by index. */
  amounts: readonly number[];
  budgets: readonly BudgetLimit[];
  /** Held in every budget (nano-USD); nothing is held when 0. */
  holdNano: number;
  holdTtlMs: number;
  /** On a budget shortfall: take the buckets anyway and hold nothing (true), or change nothing (false). */
  degrade: boolean;
  /**
   * Room each bucket must still have after its take, by index (absent: 0), and every budget after
   * the hold: an attempt with an upper bound of the call's needs asks for headroom beyond it, so
   * near a limit the exact figures decide. A bucket short of it refuses with `retryAfterMs` 0.
   */
  spares?: readonly number[];
  holdSpare?: number;
}

export interface AdmitVerdict {
  /** Whether the buckets were taken (and, with no `budget` shortfall, the holds placed). */
  admitted: boolean;
  /** The store's clock at the decision. */
  now: number;
  /** Each bucket's level after the take, by index (empty when not admitted). */
  levels: number[];
  /** The first bucket that refused (nothing was written). */
  bucket?: { index: number; retryAfterMs: number; exceedsCapacity: boolean };
  /** The first budget the call did not fit: refused, or admitted without holds when `degrade`. */
  budget?: { index: number; spent: number; held: number; tooLarge: boolean };
}

/**
 * One settlement as data: record `row` with its `spend` (exactly once), then, whether the row was
 * new or not, add `deltas[i]` to each of `adjust` (a refund never fills past capacity; a charge may
 * go below zero) and remove the hold `holdId` from each of `holdKeys`.
 */
export interface SettleOp {
  row: LedgerRow | undefined;
  spend: readonly SpendIncrement[];
  holdId: string;
  holdKeys: readonly string[];
  adjust: readonly BucketLimit[];
  deltas: readonly number[];
}

export interface Store {
  readonly kind: 'memory' | 'sqlite' | 'redis';
  /** Connects/opens; rejects when the store cannot be used at all. */
  open(): Promise<void>;
  /** The store's clock (Redis TIME for a fleet; Date.now locally). Cheap: may be cached per call. */
  transact<T>(request: TransactRequest<T>): Promise<T>;
  /**
   * Durably records a ledger row and adds its spend to `spend` counters, exactly once per row id
   * (a second record of the same id changes nothing and resolves false).
   */
  record(row: LedgerRow, spend: readonly SpendIncrement[]): Promise<boolean>;
  /**
   * Optional: `op` decided natively in one atomic step (one round trip for a remote store), with
   * exactly the outcome of `transact(request)`, which it runs instead when its native path is
   * unavailable (a remote store on its local fallback).
   */
  admit?(op: AdmitOp, request: TransactRequest<AdmitVerdict>): Promise<AdmitVerdict>;
  /**
   * Optional: `record(op.row, op.spend)` (when there is a row), then `transact(release)` (when
   * given), as one step. Resolves whether the row was new (false without a row).
   */
  settle?(op: SettleOp, release: TransactRequest<void> | undefined): Promise<boolean>;
  /** Reads integer counters written by `record` (absent → 0). */
  counters(keys: readonly string[]): Promise<Map<string, number>>;
  /** Totals per (provider, model, servedBy, operation) over a time range. */
  aggregate(query: LedgerQuery): Promise<LedgerGroup[]>;
  /** The rows of a time range, oldest first (bounded by `limit`). */
  rows(query: LedgerQuery & { limit?: number }): Promise<LedgerRow[]>;
  health(): StoreHealth;
  /** Optional: a remote store's unreplayed spooled rows in its spool folder, any store's (as of the last scan). */
  spooled?(): readonly SpooledRows[];
  close(): Promise<void>;
}

/** Thrown when the store is out of reach and no fallback can answer. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
}
