import type { AdmitOp, AdmitVerdict, SettleOp } from '../state/index.js';
import { adjust, type BucketState, take } from './bucket.js';

/**
 * The decisions the stores run, over the current values (the one TypeScript form of them: the
 * memory and sqlite stores run them through `transact`, and Redis on its local fallback; Redis'
 * native `admit` is the same steps in Lua). They update hold states in place (see
 * TransactRequest.decide). A window's holds keep a running total, so deciding never walks or
 * copies them (expired holds are pruned only once one may have expired).
 */

/**
 * The holds of one budget window. `held` is the sum of every entry (expired ones included until
 * pruned) and no entry expires before `next` (0: there are none), so while `now < next` the live
 * total is `held` as it stands. States written before these two fields existed are recomputed.
 */
export interface HoldState {
  held?: number;
  next?: number;
  holds: Record<string, [amount: number, expiresAt: number]>;
}

type Decision<T> = { writes: Map<string, unknown>; result: T };

const EMPTY_WRITES: ReadonlyMap<string, unknown> = new Map();
type BucketShort = NonNullable<AdmitVerdict['bucket']>;
type BudgetShort = NonNullable<AdmitVerdict['budget']>;

/** The live held total; drops expired holds in place first when one may have expired. */
export function liveHeld(state: HoldState, now: number): number {
  const { held, next } = state;
  if (held !== undefined && next !== undefined && (next === 0 || now < next)) return held;
  let sum = 0;
  let first = 0;
  const holds = state.holds;
  for (const id in holds) {
    const [amount, expires] = holds[id]!;
    if (expires > now) {
      sum += amount;
      if (first === 0 || expires < first) first = expires;
    } else delete holds[id];
  }
  state.held = sum;
  state.next = first;
  return sum;
}

/** Every bucket's state after its take, or the first bucket short of its amount (and spare). */
function takeBuckets(
  op: AdmitOp,
  values: ReadonlyMap<string, unknown>,
  now: number,
): { states: BucketState[]; levels: number[] } | BucketShort {
  const n = op.buckets.length;
  const states: BucketState[] = new Array(n);
  const levels: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const b = op.buckets[i]!;
    const r = take(values.get(b.key) as BucketState | undefined, b, op.amounts[i]!, now);
    if (!r.ok || r.available < (op.spares?.[i] ?? 0)) {
      return { index: i, retryAfterMs: r.retryAfterMs, exceedsCapacity: r.exceedsCapacity };
    }
    states[i] = r.state;
    levels[i] = r.available;
  }
  return { states, levels };
}

/** The first budget the worst case (and spare) does not fit, if any. */
function shortBudget(op: AdmitOp, values: ReadonlyMap<string, unknown>, now: number): BudgetShort | undefined {
  const worst = op.holdNano;
  const spare = op.holdSpare ?? 0;
  for (let j = 0; j < op.budgets.length; j++) {
    const g = op.budgets[j]!;
    const state = values.get(g.holdKey) as HoldState | undefined;
    const held = state === undefined ? 0 : liveHeld(state, now);
    const spent = (values.get(g.spentKey) as number | undefined) ?? 0;
    if (worst > g.limitNano || spent + held + worst + spare > g.limitNano) {
      return { index: j, spent, held, tooLarge: worst > g.limitNano };
    }
  }
  return undefined;
}

/** Holds the worst case in every budget, under the call's id, until `now + holdTtlMs`. */
function placeHolds(op: AdmitOp, values: ReadonlyMap<string, unknown>, now: number, writes: Map<string, unknown>) {
  const worst = op.holdNano;
  const expires = now + op.holdTtlMs;
  for (const g of op.budgets) {
    const state = (values.get(g.holdKey) as HoldState | undefined) ?? { held: 0, next: 0, holds: {} };
    const prev = state.holds[op.holdId];
    state.holds[op.holdId] = [worst, expires];
    state.held = (state.held ?? 0) + worst - (prev?.[0] ?? 0);
    if (state.next === 0 || state.next === undefined || expires < state.next) state.next = expires;
    writes.set(g.holdKey, state);
  }
}

/** Admission: take every bucket, check every budget, hold the worst case (see AdmitOp). */
export function decideAdmit(op: AdmitOp, values: ReadonlyMap<string, unknown>, now: number): Decision<AdmitVerdict> {
  const taken = takeBuckets(op, values, now);
  if ('index' in taken) {
    return {
      writes: EMPTY_WRITES as Map<string, unknown>,
      result: { admitted: false, now, levels: [], bucket: taken },
    };
  }
  const short = shortBudget(op, values, now);
  if (short !== undefined && !op.degrade) {
    return {
      writes: EMPTY_WRITES as Map<string, unknown>,
      result: { admitted: false, now, levels: [], budget: short },
    };
  }
  const writes = new Map<string, unknown>();
  for (let i = 0; i < taken.states.length; i++) writes.set(op.buckets[i]!.key, taken.states[i]);
  if (short === undefined && op.holdNano > 0) placeHolds(op, values, now, writes);
  const levels = taken.levels;
  return {
    writes,
    result: short === undefined ? { admitted: true, now, levels } : { admitted: true, now, levels, budget: short },
  };
}

/** The release half of settlement (after the row is booked): bucket adjustments and hold removal. */
export function decideRelease(op: SettleOp, values: ReadonlyMap<string, unknown>, now: number): Decision<undefined> {
  const writes = new Map<string, unknown>();
  for (let i = 0; i < op.adjust.length; i++) {
    const b = op.adjust[i]!;
    writes.set(b.key, adjust(values.get(b.key) as BucketState | undefined, b, op.deltas[i]!, now));
  }
  for (const key of op.holdKeys) {
    const state = values.get(key) as HoldState | undefined;
    if (state === undefined) continue;
    if (state.held === undefined || state.next === undefined) liveHeld(state, now);
    const hold = state.holds[op.holdId];
    if (hold === undefined) continue;
    delete state.holds[op.holdId];
    state.held! -= hold[0];
    writes.set(key, state);
  }
  return { writes, result: undefined };
}
