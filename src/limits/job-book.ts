import type { BucketLimit, Store } from '../state/index.js';
import {
  decideClaim,
  decideForget,
  decideGone,
  decideKeep,
  decideSettleJob,
  type JobRecord,
  jobKey,
  jobKeyExpiry,
  PENDING_JOBS_KEY,
} from './jobs.js';

/** A job to hand an admission's hold to. */
export type JobHold = Omit<
  JobRecord,
  'createdAt' | 'dueAt' | 'expiresAt' | 'holdNano' | 'holdKeys' | 'keyExpiry' | 'pages'
>;

/** The store side of LlamaParse jobs' holds (see jobs.ts): every step one `transact`. */
export class JobBook {
  constructor(readonly store: Store) {}

  /** Moves the admission's hold `holdId` to the job and records the job. */
  keep(
    holdId: string,
    job: Omit<JobRecord, 'createdAt' | 'dueAt' | 'expiresAt'>,
    settleAfterMs: number,
  ): Promise<JobRecord> {
    return this.store.transact({
      keys: [...job.holdKeys, jobKey(job.bookingId), PENDING_JOBS_KEY],
      decide: (values, now) => decideKeep(holdId, job, settleAfterMs, values, now),
      expiresAt: jobKeyExpiry(job),
    });
  }

  /** The job's record, while its hold is not settled. */
  async record(bookingId: string): Promise<JobRecord | undefined> {
    return this.store.transact({
      keys: [jobKey(bookingId)],
      decide: (values) => ({ writes: new Map(), result: values.get(jobKey(bookingId)) as JobRecord | undefined }),
    });
  }

  /**
   * Releases the job's hold, once, and adjusts the pages buckets to the job's `pages`. Resolves the
   * record settled, or undefined when there was none (settled already, or never held).
   */
  async settle(bookingId: string, pages: number, pageBuckets: readonly BucketLimit[]): Promise<JobRecord | undefined> {
    const record = await this.record(bookingId);
    if (record === undefined) return undefined;
    return this.store.transact({
      keys: [...record.holdKeys, jobKey(bookingId), PENDING_JOBS_KEY, ...pageBuckets.map((b) => b.key)],
      decide: (values, now) => decideSettleJob(bookingId, pages, pageBuckets, values, now),
      expiresAt: jobKeyExpiry(record),
    });
  }

  /** LlamaCloud no longer knows the job: it comes due again when its hold expires. */
  gone(bookingId: string): Promise<void> {
    return this.store.transact({
      keys: [jobKey(bookingId), PENDING_JOBS_KEY],
      decide: (values) => decideGone(bookingId, values),
      expiresAt: jobKeyExpiry(undefined),
    });
  }

  /** Claims up to `max` jobs due now for `leaseMs`; resolves their records. */
  async claimDue(max: number, leaseMs: number): Promise<JobRecord[]> {
    const ids = await this.store.transact({
      keys: [PENDING_JOBS_KEY],
      decide: (values, now) => decideClaim(max, leaseMs, values, now),
      expiresAt: jobKeyExpiry(undefined),
    });
    const records = await Promise.all(ids.map((id) => this.record(id)));
    const missing = ids.filter((_, i) => records[i] === undefined);
    // Settled meanwhile (or its record expired): nothing left to claim.
    if (missing.length > 0) await this.#forget(missing);
    return records.filter((r): r is JobRecord => r !== undefined);
  }

  #forget(ids: readonly string[]): Promise<void> {
    return this.store.transact({
      keys: [PENDING_JOBS_KEY, ...ids.map(jobKey)],
      decide: (values) => decideForget(ids, values),
      expiresAt: jobKeyExpiry(undefined),
    });
  }
}
