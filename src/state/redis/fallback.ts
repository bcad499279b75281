/**
 * The local fallback: what this process last saw of Redis, kept so that when Redis goes out of
 * reach a {@link MemoryStore} seeded with it goes on from the last known state.
 */
import { mergeGroups } from '../aggregate.js';
import { MemoryStore } from '../memory.js';
import type { AdmitOp, LedgerGroup, LedgerQuery, LedgerRow, SettleOp, SpendIncrement } from '../types.js';
import { BoundedMap } from './bounded-map.js';
import type { KeyState } from './codec.js';

/** What this process knows of one budget window's holds in Redis. */
interface HoldMirror {
  /** The total Redis reported at `seenAt` (its clock), every sidecar's holds. */
  held: number;
  seenAt: number;
  /** The hold TTL of the last admission: no hold Redis had at `seenAt` outlives `seenAt + ttl`. */
  ttl: number;
  /** When the hold key itself expires (its window's end). */
  expiresAt: number;
  /** This process's holds not yet released: id → [nano-USD, expires-at]. */
  own: Map<string, [number, number]>;
}

/**
 * The fallback's hold state for one window: this process's own holds as they are (SETTLE on the
 * fallback releases them), and everything else Redis held as one hold that expires when the
 * latest of those could: the limiter's HoldState shape.
 */
function seedHolds(
  m: HoldMirror,
  now: number,
): { held: number; next: number; holds: Record<string, [number, number]> } {
  const holds: Record<string, [number, number]> = {};
  let ownLive = 0;
  for (const [id, h] of m.own) {
    if (h[1] <= now) continue;
    holds[id] = h;
    if (h[1] > m.seenAt) ownLive += h[0];
  }
  const others = m.held - ownLive;
  if (others > 0 && m.seenAt + m.ttl > now) holds['~fleet'] = [others, m.seenAt + m.ttl];
  let held = 0;
  let next = 0;
  for (const id in holds) {
    const [amount, expires] = holds[id]!;
    held += amount;
    if (next === 0 || expires < next) next = expires;
  }
  return { held, next, holds };
}

/** The last state Redis showed this process: kv keys, counters and budget holds. */
export class LastKnown {
  readonly #kv = new BoundedMap<string, KeyState>(100_000);
  readonly #counters = new BoundedMap<string, { value: number; expiresAt: number }>(100_000);
  /**
   * Per budget hold key written by ADMIT: what Redis last said is held, and this process's own holds
   * (those SETTLE has not released). ADMIT/SETTLE do not send the whole hold map back, so this is
   * what seeds the fallback's holds.
   */
  readonly #holds = new BoundedMap<string, HoldMirror>(10_000);

  get keyCount(): number {
    return this.#kv.size;
  }

  get counterCount(): number {
    return this.#counters.size;
  }

  key(key: string, state: KeyState): void {
    if (state.version === '') this.#kv.delete(key);
    else this.#kv.set(key, state);
  }

  /** `states[i]` for `keys[i]`, as {@link key} (no states: nothing was written). */
  keys(keys: readonly string[], states: readonly KeyState[]): void {
    states.forEach((state, i) => {
      this.key(keys[i]!, state);
    });
  }

  /** A counter as Redis holds it ('' absent). */
  counter(key: string, raw: string, expiresAt: number): void {
    if (raw === '') this.#counters.delete(key);
    else this.#counters.set(key, { value: Number(raw), expiresAt });
  }

  /** The counters a booked row's spend moved, to the values Redis answered. */
  spent(spend: readonly SpendIncrement[], values: readonly number[]): void {
    spend.forEach((s, i) => {
      this.#counters.set(s.key, { value: values[i]!, expiresAt: s.expiresAt });
    });
  }

  /** An ADMIT that placed this process's hold, `held[j]` now held in budget j, as of `now`. */
  admitted(op: AdmitOp, now: number, held: readonly number[]): void {
    const expires = now + op.holdTtlMs;
    op.budgets.forEach((g, j) => {
      const mirror = this.#mirror(g.holdKey, g.expiresAt);
      mirror.held = held[j]!;
      mirror.seenAt = now;
      mirror.ttl = op.holdTtlMs;
      mirror.own.set(op.holdId, [op.holdNano, expires]);
      if (mirror.own.size > 4096) for (const [id, [, e]] of mirror.own) if (e <= now) mirror.own.delete(id);
    });
  }

  /** A SETTLE that released the hold, `held[j]` left in hold key j (undefined: it was not there). */
  released(op: SettleOp, now: number, held: readonly (number | undefined)[]): void {
    op.holdKeys.forEach((k, j) => {
      const mirror = this.#holds.get(k);
      if (mirror === undefined) return;
      mirror.own.delete(op.holdId);
      const h = held[j];
      if (h !== undefined) {
        mirror.held = h;
        mirror.seenAt = now;
      }
    });
  }

  #mirror(key: string, expiresAt: number): HoldMirror {
    let m = this.#holds.get(key);
    if (m === undefined) {
      m = { held: 0, seenAt: 0, ttl: 0, expiresAt, own: new Map() };
      this.#holds.set(key, m);
    }
    return m;
  }

  /** A local store holding everything still live at `clock()`, and going on with that clock. */
  fallback(clock: () => number): MemoryStore {
    const store = new MemoryStore({ now: clock });
    const now = clock();
    for (const [k, s] of this.#kv)
      if (s.data !== '' && s.expiresAt > now) store.seedValue(k, JSON.parse(s.data), s.expiresAt);
    for (const [k, m] of this.#holds) if (m.expiresAt > now) store.seedValue(k, seedHolds(m, now), m.expiresAt);
    for (const [k, c] of this.#counters) if (c.expiresAt > now) store.seedCounter(k, c.value, c.expiresAt);
    return store;
  }
}

/**
 * The last Redis answer to each recent ledger query, so a degraded store answers with it plus the
 * rows booked locally: best effort, it may miss rows other sidecars booked.
 */
export class LastAnswers {
  readonly #aggregates = new BoundedMap<string, LedgerGroup[]>(32);
  readonly #rows = new BoundedMap<string, LedgerRow[]>(32);

  /** Keeps and returns Redis' groups for `query`. */
  aggregated(query: LedgerQuery, groups: LedgerGroup[]): LedgerGroup[] {
    this.#aggregates.set(`${query.from}:${query.to}`, groups);
    return groups;
  }

  aggregateWith(query: LedgerQuery, local: LedgerGroup[]): LedgerGroup[] {
    return mergeGroups(this.#aggregates.get(`${query.from}:${query.to}`) ?? [], local);
  }

  /** Keeps and returns Redis' rows for `query` up to `limit`. */
  listed(query: LedgerQuery, limit: number, rows: LedgerRow[]): LedgerRow[] {
    this.#rows.set(`${query.from}:${query.to}:${limit}`, rows);
    return rows;
  }

  rowsWith(query: LedgerQuery, limit: number, local: LedgerRow[]): LedgerRow[] {
    const byId = new Map<string, LedgerRow>();
    for (const r of this.#rows.get(`${query.from}:${query.to}:${limit}`) ?? []) byId.set(r.id, r);
    for (const r of local) byId.set(r.id, r);
    return [...byId.values()].sort((a, b) => a.ts - b.ts).slice(0, limit);
  }
}
