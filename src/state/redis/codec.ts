/**
 * What goes into the scripts and what comes back: KEYS and ARGV in the order each script takes
 * them (see scripts/*.lua), and their replies read back into the store's types.
 */
import type { AdmitOp, AdmitVerdict, LedgerRow, SettleOp, SpendIncrement, TransactRequest } from '../types.js';
import { DAY, HOUR, hourOf, type RedisKeys } from './keys.js';
import type { Reply, ScriptArg } from './scripts.js';

export interface KeyState {
  /** '' when absent. */
  version: string;
  /** JSON, '' when absent. */
  data: string;
  expiresAt: number;
}

export interface Snapshot {
  now: number;
  keys: KeyState[];
  /** Counter values as Redis holds them ('' absent), compared verbatim by CAS. */
  counters: string[];
  /** When each counter expires. */
  counterExpiry: number[];
}

/** KEYS then ARGV of one script call, with the KEYS count EVALSHA wants first. */
export interface ScriptCall {
  numKeys: number;
  args: ScriptArg[];
}

function call(keys: ScriptArg[], args: ScriptArg[]): ScriptCall {
  return { numKeys: keys.length, args: [...keys, ...args] };
}

/** A PTTL as an expiry: a key without one is kept for a day in the local picture. */
export function expiryOf(now: number, pttl: number): number {
  return pttl >= 0 ? now + pttl : now + DAY;
}

/** Parses a state.lua answer from `offset` on: TIME, then each kv key, then each counter. */
export function decodeState(nKeys: number, nCounters: number, reply: Reply, offset: number): Snapshot {
  const now = Number(reply[offset]) * 1000 + Math.floor(Number(reply[offset + 1]) / 1000);
  let at = offset + 2;
  const keys: KeyState[] = [];
  for (let i = 0; i < nKeys; i++, at += 3) {
    keys.push({
      version: String(reply[at]),
      data: String(reply[at + 1]),
      expiresAt: expiryOf(now, Number(reply[at + 2])),
    });
  }
  const counters: string[] = [];
  const counterExpiry: number[] = [];
  for (let i = 0; i < nCounters; i++, at += 2) {
    counters.push(String(reply[at]));
    counterExpiry.push(expiryOf(now, Number(reply[at + 1])));
  }
  return { now, keys, counters, counterExpiry };
}

export function readCall(k: RedisKeys, keys: readonly string[], counters: readonly string[]): ScriptCall {
  return call([...keys.map((x) => k.kv(x)), ...counters.map((x) => k.counter(x))], [keys.length]);
}

/** A CAS call, and the state each kv key will have once it commits (version still unknown). */
export function casCall<T>(
  k: RedisKeys,
  request: TransactRequest<T>,
  snapshot: Snapshot,
  writes: Map<string, unknown>,
): { call: ScriptCall; keys: string[]; planned: KeyState[] } {
  const keys = [...request.keys];
  const read = new Set(keys);
  for (const x of writes.keys()) if (!read.has(x)) keys.push(x);
  const counters = request.counters ?? [];
  const names = [k.version, ...keys.map((x) => k.kv(x)), ...counters.map((x) => k.counter(x))];
  const args: ScriptArg[] = [keys.length, request.keys.length];
  const planned: KeyState[] = [];
  keys.forEach((key, i) => {
    const expected = i < request.keys.length ? snapshot.keys[i]!.version : '*';
    if (!writes.has(key)) {
      args.push(expected, '', '', 0);
      planned.push(snapshot.keys[i]!);
      return;
    }
    const value = writes.get(key);
    if (value === undefined) {
      args.push(expected, 'd', '', 0);
      planned.push({ version: '', data: '', expiresAt: 0 });
      return;
    }
    const expiresAt = Math.ceil(request.expiresAt?.(key, snapshot.now) ?? snapshot.now + DAY);
    const data = JSON.stringify(value);
    args.push(expected, 's', data, expiresAt);
    planned.push({ version: '', data, expiresAt });
  });
  args.push(...snapshot.counters);
  return { call: call(names, args), keys, planned };
}

/** Appends a row's KEYS and ARGV in the order `book` (book.lua) takes them. */
export function pushBook(
  k: RedisKeys,
  retention: number,
  row: LedgerRow,
  spend: readonly SpendIncrement[],
  keys: ScriptArg[],
  args: ScriptArg[],
): void {
  const hour = hourOf(row.ts);
  keys.push(k.guard(row.id), k.hourRows(hour), k.hourTotals(hour), k.hours);
  for (const s of spend) keys.push(k.counter(s.key));
  args.push(
    retention,
    JSON.stringify(row),
    row.ts,
    hour,
    JSON.stringify([row.provider, row.model, row.servedBy, row.operation]),
    row.costNanoUsd,
    row.inputTokens,
    row.cachedInputTokens,
    row.outputTokens,
    row.pages,
  );
  for (const s of spend) args.push(s.nanoUsd, Math.ceil(s.expiresAt));
}

export function recordCall(
  k: RedisKeys,
  retention: number,
  row: LedgerRow,
  spend: readonly SpendIncrement[],
): ScriptCall {
  const keys: ScriptArg[] = [];
  const args: ScriptArg[] = [];
  pushBook(k, retention, row, spend, keys, args);
  return call(keys, args);
}

/** RECORD's answer: undefined for a row already booked, else the spend counters' new values. */
export function decodeRecord(reply: Reply, nSpend: number): number[] | undefined {
  if (Number(reply[0]) !== 1) return undefined;
  return Array.from({ length: nSpend }, (_, i) => Number(reply[i + 1]));
}

export function admitCall(k: RedisKeys, op: AdmitOp): ScriptCall {
  const keys: ScriptArg[] = [k.version];
  for (const b of op.buckets) keys.push(k.kv(b.key));
  for (const g of op.budgets) keys.push(k.kv(g.holdKey));
  for (const g of op.budgets) keys.push(k.counter(g.spentKey));
  const args: ScriptArg[] = [
    op.buckets.length,
    op.budgets.length,
    op.holdId,
    op.holdNano,
    op.holdTtlMs,
    op.degrade ? 1 : 0,
    op.holdSpare ?? 0,
  ];
  op.buckets.forEach((b, i) => {
    args.push(b.limit, b.burst, op.amounts[i]!, op.spares?.[i] ?? 0);
  });
  for (const g of op.budgets) args.push(g.limitNano, Math.ceil(g.expiresAt));
  return call(keys, args);
}

export interface AdmitReply {
  verdict: AdmitVerdict;
  /** Each bucket's state as written (admitted only). */
  buckets: KeyState[];
  /** Each hold key's total after the hold was placed (undefined: no hold was placed). */
  held: number[] | undefined;
}

export function decodeAdmit(op: AdmitOp, reply: Reply): AdmitReply {
  const status = Number(reply[0]);
  const now = Number(reply[1]);
  const index = Number(reply[2]) - 1;
  if (status === 3) {
    const retry = Number(reply[3]);
    const bucket = {
      index,
      retryAfterMs: retry < 0 ? Number.POSITIVE_INFINITY : retry,
      exceedsCapacity: reply[4] === 1,
    };
    return { verdict: { admitted: false, now, levels: [], bucket }, buckets: [], held: undefined };
  }
  const budget =
    index < 0 ? undefined : { index, spent: Number(reply[3]), held: Number(reply[4]), tooLarge: reply[5] === 1 };
  if (status === 4) return { verdict: { admitted: false, now, levels: [], budget }, buckets: [], held: undefined };
  const levels: number[] = [];
  const buckets: KeyState[] = [];
  let at = 6;
  for (let i = 0; i < op.buckets.length; i++, at += 2) {
    const data = String(reply[at + 1]);
    levels.push((JSON.parse(data) as { tokens: number }).tokens);
    buckets.push({ version: String(reply[at]), data, expiresAt: now + 2 * HOUR });
  }
  let held: number[] | undefined;
  if (at < reply.length) {
    held = [];
    for (let j = 0; j < op.budgets.length; j++, at += 3) held.push(Number(reply[at + 1]));
  }
  const verdict = budget === undefined ? { admitted: true, now, levels } : { admitted: true, now, levels, budget };
  return { verdict, buckets, held };
}

export function settleCall(k: RedisKeys, retention: number, op: SettleOp): ScriptCall {
  const row = op.row;
  const spend = row === undefined ? [] : op.spend;
  const keys: ScriptArg[] = [k.version];
  const args: ScriptArg[] = [row === undefined ? 0 : 1, spend.length, op.adjust.length, op.holdKeys.length, op.holdId];
  if (row !== undefined) pushBook(k, retention, row, spend, keys, args);
  op.adjust.forEach((b, i) => {
    keys.push(k.kv(b.key));
    args.push(b.limit, b.burst, op.deltas[i]!);
  });
  for (const x of op.holdKeys) keys.push(k.kv(x));
  return call(keys, args);
}

export interface SettleReply {
  /** Whether the row was booked now (false: no row, or one already booked). */
  fresh: boolean;
  /** The spend counters' new values when fresh. */
  counters: number[];
  now: number;
  /** Each adjusted bucket's state as written. */
  buckets: KeyState[];
  /** Each hold key's total after the release (undefined: the hold was not there). */
  held: (number | undefined)[];
}

export function decodeSettle(op: SettleOp, reply: Reply): SettleReply {
  const fresh = Number(reply[0]) === 1;
  const nSpend = op.row === undefined ? 0 : op.spend.length;
  const counters = fresh ? Array.from({ length: nSpend }, (_, i) => Number(reply[i + 1])) : [];
  let at = 1 + counters.length;
  const now = Number(reply[reply.length - 1]);
  const buckets: KeyState[] = [];
  for (let i = 0; i < op.adjust.length; i++, at += 2) {
    buckets.push({ version: String(reply[at]), data: String(reply[at + 1]), expiresAt: now + 2 * HOUR });
  }
  const held: (number | undefined)[] = [];
  for (let j = 0; j < op.holdKeys.length; j++, at += 2) held.push(reply[at] === '' ? undefined : Number(reply[at + 1]));
  return { fresh, counters, now, buckets, held };
}

export function countersCall(k: RedisKeys, keys: readonly string[]): ScriptCall {
  return call(
    keys.map((x) => k.counter(x)),
    [],
  );
}
