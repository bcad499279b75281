/**
 * The token bucket, written once for every store: pure functions over a small state.
 * Capacity is `burst`; refill is continuous at `limit` per hour, so any hour admits at most
 * limit + burst (contract section 2). Its rule (limit, burst) is config's BucketRule.
 */
import type { BucketRule } from '../config/index.js';

export interface BucketState {
  tokens: number;
  /** Epoch ms the tokens were last computed at. */
  at: number;
}

export interface TakeResult {
  ok: boolean;
  state: BucketState;
  /** Tokens left after this decision (never negative in the answer). */
  available: number;
  /** When `ok` is false: ms until `amount` tokens will be there (Infinity when it can never fit). */
  retryAfterMs: number;
  /** The amount alone is more than the bucket can ever hold. */
  exceedsCapacity: boolean;
}

const HOUR = 3_600_000;
/** Tokens refilled over `ms` (multiply first: limit/3600000 alone is inexact in floating point). */
const refilled = (rule: BucketRule, ms: number) => (ms * rule.limit) / HOUR;
/** Ms needed to refill `tokens`, rounded up so waiting exactly that long is always enough. */
const msFor = (rule: BucketRule, tokens: number) => Math.ceil((tokens * HOUR) / rule.limit);
/**
 * Ms until `tokens` have refilled to `amount`. `msFor` rounds up, but `tokens + refilled(ms)` is itself
 * rounded: with a level a hair below a whole number (-5.6e-17) the sum can land one ulp short of
 * `amount` at exactly that ms, so wait the extra millisecond (one ms refills far more than an ulp).
 */
function msUntil(rule: BucketRule, tokens: number, amount: number): number {
  let ms = msFor(rule, amount - tokens);
  while (tokens + refilled(rule, ms) < amount) ms += 1;
  return ms;
}
/** A clock that steps back must not refill the same time twice: state time never goes backwards. */
const stamp = (state: BucketState | undefined, now: number) => Math.max(state?.at ?? now, now);

/** Tokens in the bucket at `now` (a missing state is a full bucket). */
export function level(state: BucketState | undefined, rule: BucketRule, now: number): number {
  if (state === undefined) return rule.burst;
  const elapsed = Math.max(0, now - state.at);
  return Math.min(rule.burst, state.tokens + refilled(rule, elapsed));
}

/**
 * Takes `amount` tokens if they are there.
 * @example take(undefined, { limit: 3600, burst: 60 }, 1, Date.now()).ok // true
 */
export function take(state: BucketState | undefined, rule: BucketRule, amount: number, now: number): TakeResult {
  const tokens = level(state, rule, now);
  const at = stamp(state, now);
  if (amount > rule.burst) {
    return {
      ok: false,
      state: { tokens, at },
      available: Math.max(0, tokens),
      retryAfterMs: Infinity,
      exceedsCapacity: true,
    };
  }
  if (tokens >= amount) {
    const next = { tokens: tokens - amount, at };
    return { ok: true, state: next, available: next.tokens, retryAfterMs: 0, exceedsCapacity: false };
  }
  return {
    ok: false,
    state: { tokens, at },
    available: Math.max(0, tokens),
    retryAfterMs: msUntil(rule, tokens, amount),
    exceedsCapacity: false,
  };
}

/**
 * Gives back (positive) or charges (negative) tokens after the fact: a refund never fills past
 * capacity; a debt may take the bucket below zero, so later calls wait for it.
 */
export function adjust(state: BucketState | undefined, rule: BucketRule, delta: number, now: number): BucketState {
  const tokens = level(state, rule, now);
  return { tokens: Math.min(rule.burst, tokens + delta), at: stamp(state, now) };
}

/** Ms until the bucket is full again. */
export function resetMs(state: BucketState | undefined, rule: BucketRule, now: number): number {
  return Math.max(0, msFor(rule, rule.burst - level(state, rule, now)));
}
