import { type BudgetWindowName, type Config, PROVIDERS } from '../config/index.js';
import type { Store } from '../state/index.js';
import { type BucketState, level, resetMs } from './bucket.js';
import type { HoldState } from './decide.js';
import type { BucketView } from './headers.js';
import { type BucketRef, type BudgetRef, fromNano, type RuleBook } from './rules.js';

/** Every configured bucket and budget with its current state, for /admin/limits, health and metrics. */

export interface BucketSnapshot extends BucketView {
  key: string;
  refillPerSecond: number;
}

export interface BudgetSnapshot {
  scope: string;
  window: BudgetWindowName;
  limitUsd: number;
  spentUsd: number;
  heldUsd: number;
  remainingUsd: number;
  windowStart: number;
  windowEnd: number;
}

export interface LimitsSnapshot {
  buckets: BucketSnapshot[];
  budgets: BudgetSnapshot[];
}

/** Provider-wide buckets, then each per-model bucket, for every provider. */
function configuredBuckets(book: RuleBook, cfg: Config): BucketRef[] {
  const refs: BucketRef[] = [];
  for (const provider of PROVIDERS) {
    refs.push(...book.rulesFor(cfg, provider, undefined).buckets);
    for (const model of Object.keys(cfg.limits.models?.[provider]?.models ?? {})) {
      refs.push(...book.rulesFor(cfg, provider, model).buckets.filter((r) => r.scope !== provider));
    }
  }
  return refs;
}

/** Every budget of the windows at `now`, each once (a budget applies to many (provider, model)s). */
function configuredBudgets(book: RuleBook, cfg: Config, now: number): BudgetRef[] {
  const byKey = new Map<string, BudgetRef>();
  for (const provider of PROVIDERS) {
    for (const b of book.budgetRefs(cfg, provider, undefined, now)) byKey.set(b.holdKey, b);
    for (const scope of Object.keys(cfg.budgets.extra ?? {})) {
      const [p, model] = scope.split(':');
      if (p === provider && model) {
        for (const b of book.budgetRefs(cfg, provider, model, now)) byKey.set(b.holdKey, b);
      }
    }
  }
  return [...byKey.values()];
}

function bucketSnapshot(r: BucketRef, s: BucketState | undefined, t: number): BucketSnapshot {
  return {
    key: r.key,
    kind: r.kind,
    scope: r.scope,
    limit: r.limit,
    burst: r.burst,
    remaining: Math.floor(level(s, r, t)),
    resetMs: resetMs(s, r, t),
    refillPerSecond: r.limit / 3600,
  };
}

/** Counts live holds without pruning them: a snapshot writes nothing. */
function budgetSnapshot(b: BudgetRef, spent: number, holds: HoldState['holds'], t: number): BudgetSnapshot {
  const held = Object.values(holds).reduce((sum, [amount, exp]) => (exp > t ? sum + amount : sum), 0);
  return {
    scope: b.scope,
    window: b.window,
    limitUsd: fromNano(b.limitNano),
    spentUsd: fromNano(spent),
    heldUsd: fromNano(held),
    remainingUsd: fromNano(Math.max(0, b.limitNano - spent)),
    windowStart: b.win.start,
    windowEnd: b.win.end,
  };
}

/** Reads every configured bucket and budget in one store operation (the store's clock decides levels). */
export async function takeSnapshot(store: Store, book: RuleBook, cfg: Config, now: number): Promise<LimitsSnapshot> {
  const refs = configuredBuckets(book, cfg);
  const budgets = configuredBudgets(book, cfg, now);
  const state = await store.transact({
    keys: [...refs.map((r) => r.key), ...budgets.map((b) => b.holdKey)],
    counters: budgets.map((b) => b.spentKey),
    decide: (values, t) => ({ writes: new Map(), result: { values, t } }),
  });
  const { values, t } = state;
  return {
    buckets: refs.map((r) => bucketSnapshot(r, values.get(r.key) as BucketState | undefined, t)),
    budgets: budgets.map((b) =>
      budgetSnapshot(
        b,
        (values.get(b.spentKey) as number | undefined) ?? 0,
        (values.get(b.holdKey) as HoldState | undefined)?.holds ?? {},
        t,
      ),
    ),
  };
}
