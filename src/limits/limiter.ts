/** The old entry point: everything limiter.ts exported before it was split by concern. */
export {
  type Admission,
  type AdmitRequest,
  BOUND_HEADROOM,
  Limiter,
  type LimiterDeps,
} from './admission.js';
export { decideAdmit, decideRelease, type HoldState, liveHeld } from './decide.js';
export { type BucketView, rateLimitHeaders } from './headers.js';
export { fromNano, type LimitKind, toNano } from './rules.js';
