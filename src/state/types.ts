/**
 * The state store: where buckets, budgets and the spend ledger live. The interface is cut thin
 * so the limiting algorithm exists once (src/limits): a store only offers an atomic
 * read-decide-write over a few keys (`transact`) and an exactly-once ledger append (`record`).
 *
 * Values are opaque JSON to the store. Every key carries a version; `transact` commits only when
 * no key it read changed meanwhile (compare-and-set), and retries `decide` otherwise, so several
 * sidecars sharing one store cannot both spend the same capacity.
 */

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
  servedBy: 'real' | 'mock';
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
   * Must be pure: it may run more than once when another writer got there first.
   * Return `writes` for keys to set (undefined deletes) and the caller's `result`.
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
  servedBy: 'real' | 'mock';
  operation: string;
}

export interface StoreHealth {
  status: 'pass' | 'warn' | 'fail';
  output: string;
  /** True while a remote store is unreachable and its local fallback answers. */
  degraded?: boolean;
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
  /** Reads integer counters written by `record` (absent → 0). */
  counters(keys: readonly string[]): Promise<Map<string, number>>;
  /** Totals per (provider, model, servedBy, operation) over a time range. */
  aggregate(query: LedgerQuery): Promise<LedgerGroup[]>;
  /** The rows of a time range, oldest first (bounded by `limit`). */
  rows(query: LedgerQuery & { limit?: number }): Promise<LedgerRow[]>;
  health(): StoreHealth;
  close(): Promise<void>;
}

/** Thrown when the store is out of reach and no fallback can answer. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
}
