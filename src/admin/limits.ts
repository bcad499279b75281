import type { Context } from 'hono';
import type { Limiter } from '../limits/index.js';
import { budgetView } from '../metering/index.js';

/** GET /admin/limits: every bucket's level and every budget's spend, in the contract's field names. */
export function getLimits(limiter: Limiter) {
  return async function getLimits(c: Context) {
    const snap = await limiter.snapshot();
    return c.json({
      buckets: snap.buckets.map((b) => ({
        scope: b.scope,
        kind: b.kind,
        limit_per_hour: b.limit,
        capacity: b.burst,
        available: b.remaining,
        refill_per_second: b.refillPerSecond,
        full_in_ms: b.resetMs,
      })),
      budgets: snap.budgets.map(budgetView),
    });
  };
}
