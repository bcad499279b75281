import { addToGroup } from './aggregate.js';
import type {
  LedgerGroup,
  LedgerQuery,
  LedgerRow,
  ServedBy,
  SettleOp,
  SpendIncrement,
  Store,
  StoreHealth,
  TransactRequest,
} from './types.js';

const DAY = 86_400_000;
/**
 * Older ledger rows are kept as totals per 15 minutes: every UTC offset in use is a multiple of
 * 15 minutes, so the hour, day and month windows of every time zone start and end on a slot edge.
 */
const SLOT_MS = 15 * 60_000;
/** 62 days of slots: the current and the previous calendar month, whatever the time zone. */
const MAX_SLOTS = 62 * 96;
/** Expired keys and counters are swept every this many operations (reads already ignore them). */
const SWEEP_EVERY = 4096;

interface Entry {
  value: unknown;
  expiresAt: number;
}

/** Ids a caller may present again (LlamaParse's `llamaparse:job:<id>`), unlike a random UUID v4. */
function mayRepeat(id: string): boolean {
  return !(
    id.length === 36 &&
    id.charCodeAt(8) === 45 &&
    id.charCodeAt(13) === 45 &&
    id.charCodeAt(14) === 52 && // '4': a random (v4) UUID, as randomUUID() makes
    id.charCodeAt(18) === 45 &&
    id.charCodeAt(23) === 45
  );
}

// Numeric columns of a kept row, in this order.
const NUMBERS = 5;
const IN = 0;
const CACHED = 1;
const OUT = 2;
const PAGES = 3;
const COST = 4;
/** The low two bits: who answered (SERVED_BY's index); then whether the row is billable. */
const SERVED_BY: readonly ServedBy[] = ['real', 'mock', 'replay', 'cache'];
const SERVED_MASK = 3;
const BILLABLE = 4;

/**
 * The most recent ledger rows, column by column in preallocated arrays: a row costs a few slots
 * and references to strings the caller already made, not an object of its own.
 */
class RecentRows {
  readonly capacity: number;
  readonly ids: string[] = [];
  readonly correlationIds: string[] = [];
  readonly traceIds: string[] = [];
  readonly providers: string[] = [];
  readonly operations: string[] = [];
  readonly models: string[] = [];
  readonly ts: Float64Array;
  readonly numbers: Float64Array;
  readonly flags: Uint8Array;
  /** Slot of the oldest row once full; the next slot to write. */
  next = 0;
  count = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.ts = new Float64Array(capacity);
    this.numbers = new Float64Array(capacity * NUMBERS);
    this.flags = new Uint8Array(capacity);
  }

  /** Slot of the i-th oldest row. */
  slot(i: number): number {
    return this.count < this.capacity ? i : (this.next + i) % this.capacity;
  }

  /** Writes `row` in the next slot (the oldest row's, once full). */
  write(row: LedgerRow): void {
    const s = this.next;
    this.ids[s] = row.id;
    this.correlationIds[s] = row.correlationId;
    this.traceIds[s] = row.traceId;
    this.providers[s] = row.provider;
    this.operations[s] = row.operation;
    this.models[s] = row.model;
    this.ts[s] = row.ts;
    const n = s * NUMBERS;
    this.numbers[n + IN] = row.inputTokens;
    this.numbers[n + CACHED] = row.cachedInputTokens;
    this.numbers[n + OUT] = row.outputTokens;
    this.numbers[n + PAGES] = row.pages;
    this.numbers[n + COST] = row.costNanoUsd;
    this.flags[s] = SERVED_BY.indexOf(row.servedBy) | (row.billable ? BILLABLE : 0);
    this.next = (s + 1) % this.capacity;
    if (this.count < this.capacity) this.count += 1;
  }

  row(s: number): LedgerRow {
    const n = s * NUMBERS;
    const flags = this.flags[s] as number;
    return {
      id: this.ids[s] as string,
      ts: this.ts[s] as number,
      correlationId: this.correlationIds[s] as string,
      traceId: this.traceIds[s] as string,
      provider: this.providers[s] as string,
      operation: this.operations[s] as string,
      model: this.models[s] as string,
      servedBy: SERVED_BY[flags & SERVED_MASK] as ServedBy,
      inputTokens: this.numbers[n + IN] as number,
      cachedInputTokens: this.numbers[n + CACHED] as number,
      outputTokens: this.numbers[n + OUT] as number,
      pages: this.numbers[n + PAGES] as number,
      costNanoUsd: this.numbers[n + COST] as number,
      billable: (flags & BILLABLE) !== 0,
    };
  }

  /** Adds the row in slot `s` to `groups`. */
  addTo(groups: Map<string, LedgerGroup>, s: number): void {
    const row = this.row(s);
    addToGroup(groups, row, 1, row);
  }
}

export interface MemoryStoreOptions {
  now?: () => number;
  /** Ledger rows kept whole for `rows()`; older ones are kept as 15-minute totals. */
  recentRows?: number;
  /** Row ids that may be presented again (not random UUIDs), remembered past the recent rows. */
  repeatableIds?: number;
}

/**
 * Everything in this process's memory: for tests, single sidecars that need no history, and as
 * the local fallback view of a remote store. Operations are synchronous, so they are atomic.
 *
 * Memory stays flat however many calls are booked, at the price of two approximations:
 * - `rows()` lists the last `recentRows` rows (10,000 by default); older rows live on only in
 *   15-minute totals (62 days of them), which `aggregate()` adds up. A range whose ends are on
 *   15-minute edges (every hour, day and month window, in any time zone) is exact; another range
 *   counts an older row when its 15-minute slot starts inside the range.
 * - A repeated id is refused when the first was among the recent rows, or when it is an id that
 *   can repeat (anything but a random UUID, e.g. `llamaparse:job:<id>`) among the last
 *   `repeatableIds` of those (100,000 by default). Random UUIDs are not remembered beyond the
 *   recent rows: nothing presents one twice.
 */
export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  readonly #values = new Map<string, Entry>();
  readonly #counters = new Map<string, Entry>();
  readonly #now: () => number;
  readonly #recentCapacity: number;
  #recent: RecentRows | undefined;
  /** Ids of the recent rows. */
  readonly #recentIds = new Set<string>();
  /** Ids that may be presented again, oldest first. */
  readonly #repeatableIds = new Set<string>();
  readonly #maxRepeatableIds: number;
  /** 15-minute slot start → totals per group of the rows that left the recent ones. */
  readonly #slots = new Map<number, Map<string, LedgerGroup>>();
  /** Rows counted in `#slots`. */
  #folded = 0;
  #untilSweep = SWEEP_EVERY;

  constructor({ now = Date.now, recentRows = 10_000, repeatableIds = 100_000 }: MemoryStoreOptions = {}) {
    this.#now = now;
    this.#recentCapacity = Math.max(1, recentRows);
    this.#maxRepeatableIds = repeatableIds;
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

  /** Forgets keys and counters past their expiry that no read has touched since (reads ignore them anyway). */
  #sweep(now: number): void {
    if (--this.#untilSweep > 0) return;
    this.#untilSweep = SWEEP_EVERY;
    for (const map of [this.#values, this.#counters]) {
      for (const [k, e] of map) if (e.expiresAt <= now) map.delete(k);
    }
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
    this.#sweep(now);
    return result;
  }

  async transact<T>(request: TransactRequest<T>): Promise<T> {
    return this.transactSync(request);
  }

  recordSync(row: LedgerRow, spend: readonly SpendIncrement[]): boolean {
    if (this.#recentIds.has(row.id) || this.#repeatableIds.has(row.id)) return false;
    this.#keep(row);
    const now = this.#now();
    for (const s of spend) {
      const cur = this.#live(this.#counters, s.key, now);
      this.#counters.set(s.key, {
        value: ((cur?.value as number | undefined) ?? 0) + s.nanoUsd,
        expiresAt: s.expiresAt,
      });
    }
    this.#sweep(now);
    return true;
  }

  /** Adds `row` to the recent rows, folding the oldest into its 15-minute totals when they are full. */
  #keep(row: LedgerRow): void {
    this.#recent ??= new RecentRows(this.#recentCapacity);
    const recent = this.#recent;
    if (recent.count === recent.capacity) {
      const oldest = recent.next;
      const start = Math.floor((recent.ts[oldest] as number) / SLOT_MS) * SLOT_MS;
      let slot = this.#slots.get(start);
      if (slot === undefined) {
        slot = new Map();
        this.#slots.set(start, slot);
        // Slots are made in time order in practice: the first one is the oldest.
        if (this.#slots.size > MAX_SLOTS) this.#dropOldestSlot();
      }
      recent.addTo(slot, oldest);
      this.#folded += 1;
      this.#recentIds.delete(recent.ids[oldest] as string);
    }
    recent.write(row);
    this.#recentIds.add(row.id);
    if (mayRepeat(row.id)) {
      this.#repeatableIds.add(row.id);
      if (this.#repeatableIds.size > this.#maxRepeatableIds) {
        this.#repeatableIds.delete(this.#repeatableIds.values().next().value as string);
      }
    }
  }

  #dropOldestSlot(): void {
    const [start, groups] = this.#slots.entries().next().value as [number, Map<string, LedgerGroup>];
    for (const g of groups.values()) this.#folded -= g.requests;
    this.#slots.delete(start);
  }

  async record(row: LedgerRow, spend: readonly SpendIncrement[]): Promise<boolean> {
    return this.recordSync(row, spend);
  }

  /** Store.settle: the row (exactly once, with its spend), then the release, in one synchronous step. */
  async settle(op: SettleOp, release: TransactRequest<void> | undefined): Promise<boolean> {
    const fresh = op.row !== undefined && this.recordSync(op.row, op.spend);
    if (release !== undefined) this.transactSync(release);
    return fresh;
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

  async aggregate({ from, to }: LedgerQuery): Promise<LedgerGroup[]> {
    const groups = new Map<string, LedgerGroup>();
    for (const [start, slot] of this.#slots) {
      if (start < from || start >= to) continue;
      for (const g of slot.values()) addToGroup(groups, g, g.requests, g);
    }
    const recent = this.#recent;
    if (recent !== undefined) {
      for (let i = 0; i < recent.count; i++) {
        const s = recent.slot(i);
        const ts = recent.ts[s] as number;
        if (ts >= from && ts < to) recent.addTo(groups, s);
      }
    }
    return [...groups.values()];
  }

  /** The recent rows of the range, in the order they were recorded. */
  async rows({ from, to, limit = Number.POSITIVE_INFINITY }: LedgerQuery & { limit?: number }): Promise<LedgerRow[]> {
    const out: LedgerRow[] = [];
    const recent = this.#recent;
    if (recent === undefined) return out;
    for (let i = 0; i < recent.count && out.length < limit; i++) {
      const s = recent.slot(i);
      const ts = recent.ts[s] as number;
      if (ts >= from && ts < to) out.push(recent.row(s));
    }
    return out;
  }

  health(): StoreHealth {
    const rows = (this.#recent?.count ?? 0) + this.#folded;
    return { status: 'pass', output: `memory store, ${rows} ledger rows (lost on restart)` };
  }

  async close(): Promise<void> {}
}
