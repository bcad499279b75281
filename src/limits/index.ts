/**
 * The limits module's public face: token buckets and spend budgets, admitted and settled over a
 * Store. Import from here, not from the files behind it.
 */
export type { BucketRule } from '../config/index.js';
export {
  type Admission,
  type AdmitRequest,
  BOUND_HEADROOM,
  Limiter,
  type LimiterDeps,
  type SettleOutcome,
} from './admission.js';
export { type BucketState, level, resetMs, take } from './bucket.js';
export { BudgetWatch, type BudgetWatchDeps, type WarnLog } from './budget-watch.js';
export { decideAdmit, decideRelease, type HoldState, liveHeld } from './decide.js';
export type { AdmitSizing } from './fit.js';
export { type BucketView, rateLimitHeaders } from './headers.js';
export type { JobHold } from './job-book.js';
export { JOB_HOLD_TTL_MS, type JobRecord } from './jobs.js';
export { fromNano, type LimitKind, toNano } from './rules.js';
export type { BucketSnapshot, BudgetSnapshot, LimitsSnapshot } from './snapshot.js';
export { type Window, WindowClock, type WindowKind, windowAt } from './windows.js';
