import { groupRows } from './aggregate.js';
import type {
  LedgerGroup,
  LedgerQuery,
  LedgerRow,
  SpendIncrement,
  Store,
  StoreHealth,
  TransactRequest,
} from './types.js';

const DAY = 86_400_000;

interface Entry {
  value: unknown;
  expiresAt: number;
}

/**
 * Everything in this process's memory: for tests, single sidecars that need no history, and as
 * the local fallback view of a remote store. Operations are synchronous, so they are atomic.
 */
export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  readonly #values = new Map<string, Entry>();
  readonly #counters = new Map<string, Entry>();
  readonly #rows: LedgerRow[] = [];
  readonly #ids = new Set<string>();
  readonly #now: () => number;
  readonly #maxRows: number;

  constructor({ now = Date.now, maxRows = 1_000_000 }: { now?: () => number; maxRows?: number } = {}) {
    this.#now = now;
    this.#maxRows = maxRows;
  }

  async open(): Promise<void> {}

  #live(map: Map<string, Entry>, key: string, now: number): Entry | undefined {
    const e = map.get(key);
    if (e !== undefined && e.expiresAt <= now) {
      map.delete(key);
      return undefined;
    }
    return e;
  }

  /** Synchronous core of transact (the remote stores' fallback uses it directly). */
  transactSync<T>(request: TransactRequest<T>): T {
    const now = this.#now();
    const values = new Map<string, unknown>();
    for (const k of request.keys) values.set(k, this.#live(this.#values, k, now)?.value);
    for (const k of request.counters ?? []) values.set(k, (this.#live(this.#counters, k, now)?.value as number) ?? 0);
    const { writes, result } = request.decide(values, now);
    for (const [k, v] of writes) {
      if (v === undefined) this.#values.delete(k);
      else this.#values.set(k, { value: v, expiresAt: request.expiresAt?.(k, now) ?? now + DAY });
    }
    return result;
  }

  async transact<T>(request: TransactRequest<T>): Promise<T> {
    return this.transactSync(request);
  }

  recordSync(row: LedgerRow, spend: readonly SpendIncrement[]): boolean {
    if (this.#ids.has(row.id)) return false;
    this.#ids.add(row.id);
    this.#rows.push(row);
    if (this.#rows.length > this.#maxRows) {
      const dropped = this.#rows.splice(0, this.#rows.length - this.#maxRows);
      for (const d of dropped) this.#ids.delete(d.id);
    }
    const now = this.#now();
    for (const s of spend) {
      const cur = this.#live(this.#counters, s.key, now);
      this.#counters.set(s.key, {
        value: ((cur?.value as number | undefined) ?? 0) + s.nanoUsd,
        expiresAt: s.expiresAt,
      });
    }
    return true;
  }

  async record(row: LedgerRow, spend: readonly SpendIncrement[]): Promise<boolean> {
    return this.recordSync(row, spend);
  }

  countersSync(keys: readonly string[]): Map<string, number> {
    const now = this.#now();
    return new Map(keys.map((k) => [k, (this.#live(this.#counters, k, now)?.value as number | undefined) ?? 0]));
  }

  async counters(keys: readonly string[]): Promise<Map<string, number>> {
    return this.countersSync(keys);
  }

  /** Seeds a counter (a remote store's last known value) without a ledger row. */
  seedCounter(key: string, value: number, expiresAt: number): void {
    this.#counters.set(key, { value, expiresAt });
  }

  /** Seeds a value (a remote store's last known state). */
  seedValue(key: string, value: unknown, expiresAt: number): void {
    this.#values.set(key, { value, expiresAt });
  }

  #inRange({ from, to }: LedgerQuery): LedgerRow[] {
    return this.#rows.filter((r) => r.ts >= from && r.ts < to);
  }

  async aggregate(query: LedgerQuery): Promise<LedgerGroup[]> {
    return groupRows(this.#inRange(query));
  }

  async rows(query: LedgerQuery & { limit?: number }): Promise<LedgerRow[]> {
    return this.#inRange(query).slice(0, query.limit ?? Number.POSITIVE_INFINITY);
  }

  health(): StoreHealth {
    return { status: 'pass', output: `memory store, ${this.#rows.length} ledger rows (lost on restart)` };
  }

  async close(): Promise<void> {}
}
