import type { BudgetWindowName, Config, Provider } from '../config/schema.js';
import { TollgateError } from '../errors.js';
import type { LedgerRow, SpendIncrement, Store } from '../state/types.js';
import { adjust, type BucketRule, type BucketState, level, resetMs, take } from './bucket.js';
import { type Window, WindowClock, type WindowKind } from './windows.js';

/**
 * Admission and settlement: rules → decision, over a Store. Admission reserves the worst case
 * (bucket tokens and budget holds) in one atomic step; settlement books the ledger row with its
 * spend, then releases the holds and refunds (or charges) the difference.
 */

export type LimitKind = 'requests' | 'tokens' | 'pages';

const WINDOW_OF: Record<BudgetWindowName, WindowKind> = { hourly: 'hour', daily: 'day', monthly: 'month' };
const NANO = 1e9;
export const toNano = (usd: number) => Math.round(usd * NANO);
export const fromNano = (nano: number) => nano / NANO;

interface BucketRef {
  key: string;
  kind: LimitKind;
  rule: BucketRule;
  scope: string;
  amount: number;
}

interface BudgetRef {
  scope: string;
  window: BudgetWindowName;
  win: Window;
  limitNano: number;
  holdKey: string;
  spentKey: string;
}

type Holds = Record<string, [number, number]>;
interface HoldState {
  holds: Holds;
}

type BucketDenial = { kind: 'bucket'; ref: BucketRef; retryAfterMs: number; exceedsCapacity: boolean };
type BudgetDenial = { kind: 'budget'; ref: BudgetRef; tooLarge: boolean; spent: number; held: number };
interface Decision {
  denial: BucketDenial | BudgetDenial | undefined;
  /** A budget shortfall let through to the mock (BUDGET_EXCEEDED_ACTION=mock). */
  budget?: BudgetDenial;
  views: BucketView[];
}

export interface AdmitRequest {
  /** Unique per call: names its budget holds. */
  id: string;
  provider: Provider;
  model: string | undefined;
  /** Worst-case amounts to reserve. */
  tokens: number;
  pages: number;
  /** Worst-case cost in USD (0 when unpriced). */
  worstUsd: number;
  /** Whether the call may count against budgets (real/hybrid mode, or BUDGET_INCLUDE_MOCK). */
  budgeted: boolean;
  /** Whether a budget shortfall may be answered by the mock (HYBRID with BUDGET_EXCEEDED_ACTION=mock). */
  mayDegrade: boolean;
}

export interface BucketView {
  kind: LimitKind;
  scope: string;
  limit: number;
  burst: number;
  remaining: number;
  resetMs: number;
}

export interface Admission {
  /** The budget that would be exceeded, when BUDGET_EXCEEDED_ACTION=mock let the call through to the mock. */
  budgetExceeded: { scope: string; window: BudgetWindowName } | undefined;
  buckets: BucketView[];
  /** Rate-limit headers (OpenAI style and the IETF draft form) for the response. */
  headers: Record<string, string>;
  /**
   * Books the call (when `row` is given) and releases what admission held; tokens/pages reserved
   * beyond the actual are refunded, an excess is charged as debt.
   */
  settle(outcome: { row?: LedgerRow; tokens: number; pages: number }): Promise<void>;
}

export interface LimiterDeps {
  store: Store;
  config: () => Config;
  /** Ledger timestamps (the store's own clock decides limits). */
  now?: () => number;
  /** Holds older than this are dropped (a crashed sidecar's reservations do not block forever). */
  holdTtlMs?: () => number;
  onRejected?: (provider: Provider, limit: LimitKind | 'budget') => void;
}

const fmtReset = (ms: number) => {
  const s = Math.ceil(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${s % 60}s` : `${Math.floor(m / 60)}h${m % 60}m${s % 60}s`;
};

export class Limiter {
  readonly #deps: LimiterDeps;
  #clock: WindowClock;

  constructor(deps: LimiterDeps) {
    this.#deps = deps;
    this.#clock = new WindowClock(deps.config().budgets.timezone);
  }

  #windows(): WindowClock {
    const tz = this.#deps.config().budgets.timezone;
    if (this.#clock.timeZone !== tz) this.#clock = new WindowClock(tz);
    return this.#clock;
  }

  /** Every bucket that applies to a call, with the amount it takes. */
  buckets(provider: Provider, model: string | undefined, amounts: { tokens: number; pages: number }): BucketRef[] {
    const cfg = this.#deps.config().limits;
    const out: BucketRef[] = [];
    const push = (scope: string, kind: LimitKind, rule: BucketRule | undefined, amount: number) => {
      if (rule !== undefined) out.push({ key: `bucket:${scope}:${kind}`, kind, rule, scope, amount });
    };
    const p = cfg[provider] as { requests?: BucketRule; tokens?: BucketRule; pages?: BucketRule };
    push(provider, 'requests', p.requests, 1);
    push(provider, 'tokens', p.tokens, amounts.tokens);
    push(provider, 'pages', p.pages, amounts.pages);
    const perModel = model === undefined ? undefined : cfg.models?.[provider]?.models[model];
    if (perModel !== undefined) {
      const rule = (limit: number | undefined, burst: number | undefined): BucketRule | undefined =>
        limit === undefined ? undefined : { limit, burst: burst ?? Math.max(1, Math.ceil(limit / 60)) };
      const scope = `${provider}:${model}`;
      push(scope, 'requests', rule(perModel.requests_per_hour, perModel.requests_burst), 1);
      push(scope, 'tokens', rule(perModel.tokens_per_hour, perModel.tokens_burst), amounts.tokens);
      push(scope, 'pages', rule(perModel.pages_per_hour, perModel.pages_burst), amounts.pages);
    }
    return out;
  }

  /** Every budget that applies to a call at `now`. */
  budgets(provider: Provider, model: string | undefined, now: number): BudgetRef[] {
    const b = this.#deps.config().budgets;
    const clock = this.#windows();
    const out: BudgetRef[] = [];
    const add = (scope: string, caps: Partial<Record<BudgetWindowName, number>>) => {
      for (const [window, usd] of Object.entries(caps) as [BudgetWindowName, number | undefined][]) {
        if (usd === undefined) continue;
        const win = clock.at(WINDOW_OF[window], now);
        // The same scope and window set twice (a variable and CONFIG_FILE) is one budget: the tighter limit.
        const same = out.find((b) => b.scope === scope && b.window === window);
        if (same !== undefined) {
          same.limitNano = Math.min(same.limitNano, toNano(usd));
          continue;
        }
        out.push({
          scope,
          window,
          win,
          limitNano: toNano(usd),
          holdKey: `budget:${scope}:${win.id}`,
          spentKey: `spent:${scope}:${win.id}`,
        });
      }
    };
    add('total', b.caps.total);
    add(provider, b.caps[provider]);
    for (const [scope, caps] of Object.entries(b.extra ?? {})) {
      if (scope === provider || scope === 'total' || (model !== undefined && scope === `${provider}:${model}`)) {
        add(scope, { hourly: caps.hourly_usd, daily: caps.daily_usd, monthly: caps.monthly_usd });
      }
    }
    return out;
  }

  /**
   * Reserves the worst case atomically, or throws a 429 TollgateError. With BUDGET_EXCEEDED_ACTION=mock
   * a budget shortfall does not throw: the admission says `budgetExceeded` and holds nothing.
   */
  async admit(req: AdmitRequest): Promise<Admission> {
    const cfg = this.#deps.config();
    const action = cfg.budgets.exceededAction;
    const buckets = this.buckets(req.provider, req.model, { tokens: req.tokens, pages: req.pages });
    const ttl = this.#deps.holdTtlMs?.() ?? cfg.upstream.timeoutMs + 60_000;
    const worstNano = toNano(req.worstUsd);
    // Windows are chosen by this sidecar's clock; keys name them, so every sidecar agrees.
    const budgets = req.budgeted ? this.budgets(req.provider, req.model, this.#deps.now?.() ?? Date.now()) : [];
    if (buckets.length === 0 && budgets.length === 0) return this.#free(req.model);

    const decision = await this.#deps.store.transact<Decision>({
      keys: [...buckets.map((b) => b.key), ...budgets.map((b) => b.holdKey)],
      counters: budgets.map((b) => b.spentKey),
      expiresAt: (key, now) => budgets.find((b) => b.holdKey === key)?.win.end ?? now + 2 * 3_600_000,
      decide: (values, now) => {
        const writes = new Map<string, unknown>();
        const views: BucketView[] = [];
        for (const ref of buckets) {
          const r = take(values.get(ref.key) as BucketState | undefined, ref.rule, ref.amount, now);
          if (!r.ok) {
            return {
              writes: new Map(),
              result: {
                denial: {
                  kind: 'bucket',
                  ref,
                  retryAfterMs: r.retryAfterMs,
                  exceedsCapacity: r.exceedsCapacity,
                },
                views,
              },
            };
          }
          writes.set(ref.key, r.state);
          views.push({
            kind: ref.kind,
            scope: ref.scope,
            limit: ref.rule.limit,
            burst: ref.rule.burst,
            remaining: Math.floor(r.available),
            resetMs: resetMs(r.state, ref.rule, now),
          });
        }
        let over: BudgetDenial | undefined;
        const holdWrites = new Map<string, HoldState>();
        for (const ref of budgets) {
          const state = (values.get(ref.holdKey) as HoldState | undefined) ?? { holds: {} };
          const holds: Holds = {};
          let held = 0;
          for (const [id, [amount, expires]] of Object.entries(state.holds)) {
            if (expires > now) {
              holds[id] = [amount, expires];
              held += amount;
            }
          }
          const spent = (values.get(ref.spentKey) as number | undefined) ?? 0;
          if (worstNano > ref.limitNano || spent + held + worstNano > ref.limitNano) {
            over ??= { kind: 'budget', ref, tooLarge: worstNano > ref.limitNano, spent, held };
            continue;
          }
          holds[req.id] = [worstNano, now + ttl];
          holdWrites.set(ref.holdKey, { holds });
        }
        if (over !== undefined) {
          // Rate limits still apply to what the mock will answer; nothing is held against budgets.
          if (action === 'mock' && req.mayDegrade)
            return { writes, result: { denial: undefined, budget: over, views } };
          return { writes: new Map(), result: { denial: over, views } };
        }
        for (const [k, v] of holdWrites) writes.set(k, v);
        return { writes, result: { denial: undefined, budget: undefined, views } };
      },
    });

    if (decision.denial !== undefined) {
      const d = decision.denial;
      if (d.kind === 'bucket') {
        this.#deps.onRejected?.(req.provider, d.ref.kind);
        throw rateLimited(d.ref, d.retryAfterMs, d.exceedsCapacity);
      }
      this.#deps.onRejected?.(req.provider, 'budget');
      throw budgetExceeded(d.ref, worstNano, d.spent, d.tooLarge);
    }
    const held = decision.budget === undefined ? budgets : [];
    if (decision.budget !== undefined) this.#deps.onRejected?.(req.provider, 'budget');
    return {
      budgetExceeded: decision.budget
        ? { scope: decision.budget.ref.scope, window: decision.budget.ref.window }
        : undefined,
      buckets: decision.views,
      headers: rateLimitHeaders(decision.views),
      settle: (outcome) => this.#settle(req, buckets, held, outcome),
    };
  }

  #free(requestModel: string | undefined): Admission {
    return {
      budgetExceeded: undefined,
      buckets: [],
      headers: {},
      settle: async (outcome) => {
        if (outcome.row) await this.#deps.store.record(outcome.row, this.#spendFor(outcome.row, requestModel));
      },
    };
  }

  /** Spend counts against the budgets the call was admitted under: scopes follow the requested model. */
  #spendFor(row: LedgerRow, requestModel: string | undefined): SpendIncrement[] {
    if (!row.billable || row.costNanoUsd === 0) return [];
    return this.budgets(row.provider as Provider, requestModel ?? row.model, row.ts).map((b) => ({
      key: b.spentKey,
      nanoUsd: row.costNanoUsd,
      expiresAt: b.win.end + 86_400_000,
    }));
  }

  /** Books a row outside any admission (a LlamaParse job booked once when its result is read). */
  async book(
    row: LedgerRow,
    extra?: { provider: Provider; model: string | undefined; pages: number },
  ): Promise<boolean> {
    const fresh = await this.#deps.store.record(row, this.#spendFor(row, extra?.model));
    if (fresh && extra && extra.pages > 0) {
      // The upload reserved one page; the rest of the job's pages are charged now.
      const refs = this.buckets(extra.provider, extra.model, { tokens: 0, pages: 0 }).filter((b) => b.kind === 'pages');
      if (refs.length > 0)
        await this.#adjust(
          refs.map((r) => ({ ref: r, delta: -(extra.pages - 1) })),
          [],
          '',
        );
    }
    return fresh;
  }

  async #settle(
    req: AdmitRequest,
    buckets: BucketRef[],
    held: BudgetRef[],
    outcome: { row?: LedgerRow; tokens: number; pages: number },
  ) {
    // The row (and its spend) first, then the holds go: in between, the budget counts both, which errs safe.
    if (outcome.row) await this.#deps.store.record(outcome.row, this.#spendFor(outcome.row, req.model));
    const deltas = buckets
      .filter((b) => b.kind === 'tokens')
      .map((ref) => ({ ref, delta: req.tokens - outcome.tokens }))
      .filter((d) => d.delta !== 0);
    if (deltas.length === 0 && held.length === 0) return;
    await this.#adjust(deltas, held, req.id);
  }

  async #adjust(deltas: { ref: BucketRef; delta: number }[], held: BudgetRef[], holdId: string) {
    await this.#deps.store.transact({
      keys: [...deltas.map((d) => d.ref.key), ...held.map((h) => h.holdKey)],
      expiresAt: (key, now) => held.find((b) => b.holdKey === key)?.win.end ?? now + 2 * 3_600_000,
      decide: (values, now) => {
        const writes = new Map<string, unknown>();
        for (const { ref, delta } of deltas) {
          writes.set(ref.key, adjust(values.get(ref.key) as BucketState | undefined, ref.rule, delta, now));
        }
        for (const h of held) {
          const state = values.get(h.holdKey) as HoldState | undefined;
          if (state?.holds[holdId] === undefined) continue;
          const holds = { ...state.holds };
          delete holds[holdId];
          writes.set(h.holdKey, { holds });
        }
        return { writes, result: undefined };
      },
    });
  }

  /** Every configured bucket and budget, for /admin/limits and health. */
  async snapshot(): Promise<{
    buckets: (BucketView & { key: string; refillPerSecond: number })[];
    budgets: {
      scope: string;
      window: BudgetWindowName;
      limitUsd: number;
      spentUsd: number;
      heldUsd: number;
      remainingUsd: number;
      windowStart: number;
      windowEnd: number;
    }[];
  }> {
    const cfg = this.#deps.config();
    const now = this.#deps.now?.() ?? Date.now();
    const refs: BucketRef[] = [];
    for (const provider of ['openai', 'llamaparse'] as const) {
      refs.push(...this.buckets(provider, undefined, { tokens: 0, pages: 0 }));
      for (const model of Object.keys(cfg.limits.models?.[provider]?.models ?? {})) {
        refs.push(...this.buckets(provider, model, { tokens: 0, pages: 0 }).filter((r) => r.scope !== provider));
      }
    }
    const budgetRefs = new Map<string, BudgetRef>();
    for (const provider of ['openai', 'llamaparse'] as const) {
      for (const b of this.budgets(provider, undefined, now)) budgetRefs.set(b.holdKey, b);
      for (const scope of Object.keys(cfg.budgets.extra ?? {})) {
        const [p, model] = scope.split(':');
        if (p === provider && model) for (const b of this.budgets(provider, model, now)) budgetRefs.set(b.holdKey, b);
      }
    }
    const budgets = [...budgetRefs.values()];
    const state = await this.#deps.store.transact({
      keys: [...refs.map((r) => r.key), ...budgets.map((b) => b.holdKey)],
      counters: budgets.map((b) => b.spentKey),
      decide: (values, t) => ({ writes: new Map(), result: { values, t } }),
    });
    return {
      buckets: refs.map((r) => {
        const s = state.values.get(r.key) as BucketState | undefined;
        return {
          key: r.key,
          kind: r.kind,
          scope: r.scope,
          limit: r.rule.limit,
          burst: r.rule.burst,
          remaining: Math.floor(level(s, r.rule, state.t)),
          resetMs: resetMs(s, r.rule, state.t),
          refillPerSecond: r.rule.limit / 3600,
        };
      }),
      budgets: budgets.map((b) => {
        const spent = (state.values.get(b.spentKey) as number | undefined) ?? 0;
        const holds = (state.values.get(b.holdKey) as HoldState | undefined)?.holds ?? {};
        const held = Object.values(holds).reduce((sum, [amount, exp]) => (exp > state.t ? sum + amount : sum), 0);
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
      }),
    };
  }
}

function rateLimited(ref: BucketRef, retryAfterMs: number, exceedsCapacity: boolean): TollgateError {
  const per = `${ref.rule.limit} ${ref.kind} per hour (burst ${ref.rule.burst})`;
  if (exceedsCapacity) {
    return new TollgateError(
      429,
      'rate_limit_exceeded',
      `This request needs ${ref.amount} ${ref.kind}, more than the ${ref.scope} ${ref.kind} bucket can ever hold (${per}). Reduce the request size (e.g. max_tokens).`,
      { type: ref.kind, headers: { 'x-should-retry': 'false' } },
    );
  }
  const seconds = retryAfterMs / 1000;
  return new TollgateError(
    429,
    'rate_limit_exceeded',
    `Rate limit reached for ${ref.scope} ${ref.kind}: ${per}. Please try again in ${seconds.toFixed(3)}s.`,
    {
      type: ref.kind,
      headers: {
        'retry-after': String(Math.max(1, Math.ceil(seconds))),
        'retry-after-ms': String(Math.ceil(retryAfterMs)),
        [`x-ratelimit-limit-${ref.kind}`]: String(ref.rule.limit),
        [`x-ratelimit-remaining-${ref.kind}`]: '0',
        [`x-ratelimit-reset-${ref.kind}`]: fmtReset(retryAfterMs),
      },
    },
  );
}

function budgetExceeded(ref: BudgetRef, worstNano: number, spentNano: number, tooLarge: boolean): TollgateError {
  const limit = fromNano(ref.limitNano).toFixed(4);
  const message = tooLarge
    ? `This request's worst-case cost ($${fromNano(worstNano).toFixed(6)}) is more than the whole ${ref.window} ${ref.scope} budget ($${limit}).`
    : `The ${ref.window} ${ref.scope} budget of $${limit} would be exceeded ($${fromNano(spentNano).toFixed(6)} spent, this request may cost up to $${fromNano(worstNano).toFixed(6)}). It resets at ${new Date(ref.win.end).toISOString()}.`;
  return new TollgateError(429, 'budget_exceeded', message, {
    type: 'insufficient_quota',
    headers: { 'x-should-retry': 'false' },
  });
}

/** OpenAI-style x-ratelimit-* for requests/tokens, plus the IETF draft RateLimit-Policy/RateLimit. */
export function rateLimitHeaders(views: BucketView[]): Record<string, string> {
  const h: Record<string, string> = {};
  const policy: string[] = [];
  const current: string[] = [];
  // The tightest bucket of each kind is the one a worker must respect.
  const tightest = new Map<LimitKind, BucketView>();
  for (const v of views) {
    const t = tightest.get(v.kind);
    if (t === undefined || v.remaining < t.remaining) tightest.set(v.kind, v);
  }
  for (const [kind, v] of tightest) {
    h[`x-ratelimit-limit-${kind}`] = String(v.limit);
    h[`x-ratelimit-remaining-${kind}`] = String(v.remaining);
    h[`x-ratelimit-reset-${kind}`] = fmtReset(v.resetMs);
    policy.push(`"${kind}";q=${v.limit};w=3600`);
    current.push(`"${kind}";r=${v.remaining};t=${Math.ceil(v.resetMs / 1000)}`);
  }
  if (policy.length > 0) {
    h['ratelimit-policy'] = policy.join(', ');
    h.ratelimit = current.join(', ');
  }
  return h;
}
