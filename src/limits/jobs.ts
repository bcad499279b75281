import type { BucketLimit, ServedBy, SettleOp } from '../state/index.js';
import { decideRelease, type HoldState, liveHeld } from './decide.js';

/**
 * LlamaParse jobs' holds: an upload's admission hold is handed to the job it started, kept in the
 * store under the job's booking id (so a restart or another sidecar sees it), and settled once,
 * to what the job reports, when its result is read, when the sidecar fetches it, or at the hold's
 * expiry. Only `transact` is needed: the hold moves within the budget windows' hold maps, and two
 * plain keys remember the job (its record, and an index of jobs not yet settled).
 */

/** How long a job's hold lives: LlamaCloud keeps a job's result for about 48 hours. */
export const JOB_HOLD_TTL_MS = 48 * 3_600_000;
/** The index of unsettled jobs: `{ [bookingId]: dueAt }`. */
export const PENDING_JOBS_KEY = 'jobs:pending';
export const jobKey = (bookingId: string) => `job:${bookingId}`;

/** What the store remembers of a job whose hold is not settled yet. */
export interface JobRecord {
  bookingId: string;
  /** The provider's job id. */
  jobId: string;
  provider: string;
  /** The operation that started it (`parse.upload`, `parse.v2.upload`, …). */
  operation: string;
  /** The tier (model) the hold was priced at. */
  model: string;
  servedBy: ServedBy;
  billable: boolean;
  correlationId: string;
  traceId: string;
  holdNano: number;
  /** The budget windows' hold keys the hold lives in, and when each may be forgotten (its window's end). */
  holdKeys: string[];
  keyExpiry: Record<string, number>;
  /** Pages taken from the pages buckets at admission. */
  pages: number;
  createdAt: number;
  /** When the sidecar settles it itself if nobody read its result. */
  dueAt: number;
  /** When the hold expires (and is booked as spend). */
  expiresAt: number;
  /** LlamaCloud answered 404: the job is gone; its hold is booked when it expires. */
  gone?: boolean;
}

type Pending = Record<string, number>;
type Writes = Map<string, unknown>;

/** Moves hold `from` to `to` (or places `amount` under `to` when `from` is gone) in one window's holds. */
function moveHold(
  state: HoldState | undefined,
  from: string,
  to: string,
  amount: number,
  expires: number,
  now: number,
) {
  const s = state ?? { held: 0, next: 0, holds: {} };
  if (s.held === undefined || s.next === undefined) liveHeld(s, now);
  const prev = s.holds[from];
  if (prev !== undefined) {
    delete s.holds[from];
    s.held! -= prev[0];
  }
  const existing = s.holds[to];
  s.holds[to] = [amount, expires];
  s.held! += amount - (existing?.[0] ?? 0);
  if (s.next === 0 || expires < s.next!) s.next = expires;
  return s;
}

/** Hands an admission's hold (`holdId`) to the job: moved under its booking id, recorded, indexed. */
export function decideKeep(
  holdId: string,
  job: Omit<JobRecord, 'createdAt' | 'dueAt' | 'expiresAt'>,
  settleAfterMs: number,
  values: ReadonlyMap<string, unknown>,
  now: number,
): { writes: Writes; result: JobRecord } {
  const writes: Writes = new Map();
  const expiresAt = now + JOB_HOLD_TTL_MS;
  const record: JobRecord = { ...job, createdAt: now, dueAt: now + settleAfterMs, expiresAt };
  for (const key of job.holdKeys) {
    const state = values.get(key) as HoldState | undefined;
    writes.set(key, moveHold(state, holdId, job.bookingId, job.holdNano, expiresAt, now));
  }
  writes.set(jobKey(job.bookingId), record);
  const pending = { ...((values.get(PENDING_JOBS_KEY) as Pending | undefined) ?? {}) };
  pending[job.bookingId] = record.dueAt;
  writes.set(PENDING_JOBS_KEY, pending);
  return { writes, result: record };
}

/**
 * Settles a job's hold once: releases it, drops the record and its index entry, and gives the pages
 * buckets back what was held beyond the job's `pages` (or charges the excess). Resolves the record
 * that was settled, or undefined when another call settled it first.
 */
export function decideSettleJob(
  bookingId: string,
  pages: number,
  pageBuckets: readonly BucketLimit[],
  values: ReadonlyMap<string, unknown>,
  now: number,
): { writes: Writes; result: JobRecord | undefined } {
  const record = values.get(jobKey(bookingId)) as JobRecord | undefined;
  if (record === undefined) return { writes: new Map(), result: undefined };
  const delta = record.pages - pages;
  const op: SettleOp = {
    row: undefined,
    spend: [],
    holdId: bookingId,
    holdKeys: record.holdKeys,
    adjust: delta === 0 ? [] : pageBuckets,
    deltas: delta === 0 ? [] : pageBuckets.map(() => delta),
  };
  const { writes } = decideRelease(op, values, now);
  writes.set(jobKey(bookingId), undefined);
  const pending = { ...((values.get(PENDING_JOBS_KEY) as Pending | undefined) ?? {}) };
  delete pending[bookingId];
  writes.set(PENDING_JOBS_KEY, pending);
  return { writes, result: record };
}

/** Marks a job LlamaCloud no longer knows: nothing to fetch; its hold is booked when it expires. */
export function decideGone(
  bookingId: string,
  values: ReadonlyMap<string, unknown>,
): { writes: Writes; result: undefined } {
  const writes: Writes = new Map();
  const record = values.get(jobKey(bookingId)) as JobRecord | undefined;
  if (record === undefined || record.gone) return { writes, result: undefined };
  writes.set(jobKey(bookingId), { ...record, gone: true });
  const pending = { ...((values.get(PENDING_JOBS_KEY) as Pending | undefined) ?? {}) };
  pending[bookingId] = record.expiresAt;
  writes.set(PENDING_JOBS_KEY, pending);
  return { writes, result: undefined };
}

/**
 * Claims the jobs due at `now` (at most `max`) by pushing their due time `leaseMs` ahead, so one
 * sidecar of a fleet works on each at a time; a claim that is not settled comes due again.
 */
export function decideClaim(
  max: number,
  leaseMs: number,
  values: ReadonlyMap<string, unknown>,
  now: number,
): { writes: Writes; result: string[] } {
  const pending = (values.get(PENDING_JOBS_KEY) as Pending | undefined) ?? {};
  const due = Object.keys(pending)
    .filter((id) => pending[id]! <= now)
    .slice(0, max);
  if (due.length === 0) return { writes: new Map(), result: [] };
  const next = { ...pending };
  for (const id of due) next[id] = now + leaseMs;
  return { writes: new Map([[PENDING_JOBS_KEY, next]]), result: due };
}

/** Drops index entries of jobs that have no record (read in the same step, so a new record stays). */
export function decideForget(
  ids: readonly string[],
  values: ReadonlyMap<string, unknown>,
): { writes: Writes; result: undefined } {
  const pending = { ...((values.get(PENDING_JOBS_KEY) as Pending | undefined) ?? {}) };
  const gone = ids.filter((id) => values.get(jobKey(id)) === undefined && id in pending);
  if (gone.length === 0) return { writes: new Map(), result: undefined };
  for (const id of gone) delete pending[id];
  return { writes: new Map([[PENDING_JOBS_KEY, pending]]), result: undefined };
}

/** When each key a job transaction writes may be forgotten. */
export const jobKeyExpiry =
  (record: Pick<JobRecord, 'keyExpiry'> | undefined) =>
  (key: string, now: number): number =>
    record?.keyExpiry[key] ?? now + JOB_HOLD_TTL_MS + 86_400_000;
