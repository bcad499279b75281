import type { BucketRule, BudgetWindowName, Config, Provider } from '../config/schema.js';
import { TollgateError } from '../errors.js';
import type {
  AdmitOp,
  AdmitVerdict,
  BucketLimit,
  BudgetLimit,
  LedgerRow,
  SettleOp,
  SpendIncrement,
  Store,
  TransactRequest,
} from '../state/types.js';
import { adjust, type BucketState, level, resetMs, take } from './bucket.js';
import { type Window, WindowClock, type WindowKind } from './windows.js';

/**
 * Admission and settlement: rules → decision, over a Store. Admission reserves the worst case
 * (bucket tokens and budget holds) in one atomic step; settlement books the ledger row with its
 * spend, then releases the holds and refunds (or charges) the difference.
 *
 * Per call this is two store operations: `admit` (or `transact`) and `settle` (or `record` then
 * `transact`). What applies to a (provider, model) is computed once per config object and budget
 * window and reused; a window's holds keep a running total, so deciding never walks or copies
 * them (expired holds are pruned only once one may have expired).
 */

export type LimitKind = 'requests' | 'tokens' | 'pages';

const WINDOW_OF: Record<BudgetWindowName, WindowKind> = { hourly: 'hour', daily: 'day', monthly: 'month' };
const WINDOW_NAMES: readonly BudgetWindowName[] = ['hourly', 'daily', 'monthly'];
const NANO = 1e9;
/** Bucket states are forgotten this long after their last write (a full bucket needs no state). */
const BUCKET_TTL_MS = 2 * 3_600_000;
export const toNano = (usd: number) => Math.round(usd * NANO);
export const fromNano = (nano: number) => nano / NANO;

interface BucketRef extends BucketLimit {
  kind: LimitKind;
  rule: BucketRule;
  scope: string;
}

interface BudgetRef extends BudgetLimit {
  scope: string;
  window: BudgetWindowName;
  win: Window;
}

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

const EMPTY_WRITES: ReadonlyMap<string, unknown> = new Map();
const NONE: readonly never[] = [];

/**
 * Admission, decided over the current values (the one TypeScript form of it: the memory and
 * sqlite stores run it through `transact`, and Redis on its local fallback; Redis' native `admit`
 * is the same steps in Lua). Updates hold states in place (see TransactRequest.decide).
 */
export function decideAdmit(
  op: AdmitOp,
  values: ReadonlyMap<string, unknown>,
  now: number,
): { writes: Map<string, unknown>; result: AdmitVerdict } {
  const n = op.buckets.length;
  const states: BucketState[] = new Array(n);
  const levels: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const b = op.buckets[i]!;
    const r = take(values.get(b.key) as BucketState | undefined, b, op.amounts[i]!, now);
    const short = !r.ok || r.available < (op.spares?.[i] ?? 0);
    if (short) {
      return {
        writes: EMPTY_WRITES as Map<string, unknown>,
        result: {
          admitted: false,
          now,
          levels: [],
          bucket: { index: i, retryAfterMs: r.retryAfterMs, exceedsCapacity: r.exceedsCapacity },
        },
      };
    }
    states[i] = r.state;
    levels[i] = r.available;
  }
  const worst = op.holdNano;
  const spare = op.holdSpare ?? 0;
  let short: AdmitVerdict['budget'];
  for (let j = 0; j < op.budgets.length; j++) {
    const g = op.budgets[j]!;
    const state = values.get(g.holdKey) as HoldState | undefined;
    const held = state === undefined ? 0 : liveHeld(state, now);
    const spent = (values.get(g.spentKey) as number | undefined) ?? 0;
    if (worst > g.limitNano || spent + held + worst + spare > g.limitNano) {
      short = { index: j, spent, held, tooLarge: worst > g.limitNano };
      break;
    }
  }
  if (short !== undefined && !op.degrade) {
    return {
      writes: EMPTY_WRITES as Map<string, unknown>,
      result: { admitted: false, now, levels: [], budget: short },
    };
  }
  const writes = new Map<string, unknown>();
  for (let i = 0; i < n; i++) writes.set(op.buckets[i]!.key, states[i]);
  if (short === undefined && worst > 0) {
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
  return {
    writes,
    result: short === undefined ? { admitted: true, now, levels } : { admitted: true, now, levels, budget: short },
  };
}

/** The release half of settlement (after the row is booked): bucket adjustments and hold removal. */
export function decideRelease(
  op: SettleOp,
  values: ReadonlyMap<string, unknown>,
  now: number,
): { writes: Map<string, unknown>; result: undefined } {
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

/** The budgets of a (provider, model) in one set of windows, with the key lists a transaction needs. */
interface BudgetSet {
  refs: BudgetRef[];
  /** The instants these windows cover together: [from, to). */
  from: number;
  to: number;
  /** Bucket keys, then hold keys. */
  keys: string[];
  spentKeys: string[];
  holdKeys: string[];
  /** Token bucket keys, then hold keys (a settlement that refunds tokens and releases holds). */
  releaseKeys: string[];
  expiresAt: (key: string, now: number) => number;
}

/** Everything that applies to calls of one (provider, model) under one config object. */
interface Rules {
  provider: Provider;
  /** The model whose per-model rules apply (undefined: provider-wide only). */
  model: string | undefined;
  buckets: BucketRef[];
  bucketKeys: string[];
  tokenBuckets: BucketRef[];
  tokenKeys: string[];
  pageBuckets: BucketRef[];
  budgets: BudgetSet | undefined;
}

const bucketExpiry = (_key: string, now: number) => now + BUCKET_TTL_MS;

export interface AdmitRequest {
  /** Unique per call: names its budget holds. */
  id: string;
  provider: Provider;
  model: string | undefined;
  /** Worst-case amounts to reserve (`tokens` may be a cheap upper bound: see `refine`). */
  tokens: number;
  pages: number;
  /** Worst-case cost in USD (0 when unpriced). */
  worstUsd: number;
  /** Whether the call may count against budgets (real/hybrid mode, or BUDGET_INCLUDE_MOCK). */
  budgeted: boolean;
  /** Whether a budget shortfall may be answered by the mock (HYBRID with BUDGET_EXCEEDED_ACTION=mock). */
  mayDegrade: boolean;
  /**
   * When `tokens`/`worstUsd` are an upper bound: the exact figures (never above the bound), asked
   * for at most once, only when the bound would be refused by a tokens bucket or a budget, or would
   * leave one less than BOUND_HEADROOM more bounds of room.
   */
  refine?: (() => { tokens: number; worstUsd: number }) | undefined;
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

/** fmtReset answers for whole seconds, memoized: the same few values recur call after call. */
const resetText = new Map<number, string>();
const fmtReset = (ms: number) => {
  const s = Math.ceil(ms / 1000);
  let text = resetText.get(s);
  if (text !== undefined) return text;
  if (s < 60) text = `${s}s`;
  else {
    const m = Math.floor(s / 60);
    text = m < 60 ? `${m}m${s % 60}s` : `${Math.floor(m / 60)}h${m % 60}m${s % 60}s`;
  }
  if (resetText.size >= 8192) resetText.clear();
  resetText.set(s, text);
  return text;
};

/**
 * An attempt with an upper bound (see AdmitRequest.refine) also asks every tokens bucket and budget
 * for room for this many more such bounds. Calls in flight hold their bounds, not their exact needs,
 * so near a limit they could crowd out calls that exact figures would admit; with this headroom
 * the last stretch before a limit is reserved with exact figures (the tokenizer runs there only),
 * and a refusal sees bound-sized holds only if this many calls came in while one was in flight.
 */
export const BOUND_HEADROOM = 64;

/** Rules cached per (provider, model); bounded although models named in config are few. */
const MAX_RULES = 1024;

export class Limiter {
  readonly #deps: LimiterDeps;
  #clock: WindowClock;
  /** The config object the caches below were built from. */
  #cfg: Config | undefined;
  readonly #rules = new Map<string, Rules>();
  /** Per provider: the models with rules of their own (per-model limits or a `provider:model` budget). */
  readonly #special = new Map<Provider, Set<string>>();

  constructor(deps: LimiterDeps) {
    this.#deps = deps;
    this.#clock = new WindowClock(deps.config().budgets.timezone);
  }

  /** The rules for a call, rebuilt when config() hands out a new object. */
  #rulesFor(cfg: Config, provider: Provider, model: string | undefined): Rules {
    if (cfg !== this.#cfg) {
      this.#cfg = cfg;
      this.#rules.clear();
      this.#special.clear();
      if (this.#clock.timeZone !== cfg.budgets.timezone) this.#clock = new WindowClock(cfg.budgets.timezone);
    }
    let special = this.#special.get(provider);
    if (special === undefined) {
      special = new Set(Object.keys(cfg.limits.models?.[provider]?.models ?? {}));
      for (const scope of Object.keys(cfg.budgets.extra ?? {})) {
        if (scope.startsWith(`${provider}:`)) special.add(scope.slice(provider.length + 1));
      }
      this.#special.set(provider, special);
    }
    const own = model !== undefined && special.has(model) ? model : undefined;
    const key = own === undefined ? provider : `${provider}:${own}`;
    let rules = this.#rules.get(key);
    if (rules === undefined) {
      const buckets = this.#bucketRefs(cfg, provider, own);
      const tokenBuckets = buckets.filter((b) => b.kind === 'tokens');
      rules = {
        provider,
        model: own,
        buckets,
        bucketKeys: buckets.map((b) => b.key),
        tokenBuckets,
        tokenKeys: tokenBuckets.map((b) => b.key),
        pageBuckets: buckets.filter((b) => b.kind === 'pages'),
        budgets: undefined,
      };
      if (this.#rules.size >= MAX_RULES) this.#rules.clear();
      this.#rules.set(key, rules);
    }
    return rules;
  }

  /** The budgets of `rules` at `now`, recomputed when a window rolls. */
  #budgetsAt(cfg: Config, rules: Rules, now: number): BudgetSet {
    const cached = rules.budgets;
    if (cached !== undefined && now >= cached.from && now < cached.to) return cached;
    const refs = this.#budgetRefs(cfg, rules.provider, rules.model, now);
    let from = Number.NEGATIVE_INFINITY;
    let to = Number.POSITIVE_INFINITY;
    const expiry = new Map<string, number>();
    for (const b of refs) {
      from = Math.max(from, b.win.start);
      to = Math.min(to, b.win.end);
      expiry.set(b.holdKey, b.expiresAt);
    }
    const holdKeys = refs.map((b) => b.holdKey);
    const set: BudgetSet = {
      refs,
      from,
      to,
      keys: [...rules.bucketKeys, ...holdKeys],
      spentKeys: refs.map((b) => b.spentKey),
      holdKeys,
      releaseKeys: [...rules.tokenKeys, ...holdKeys],
      expiresAt: (key, t) => expiry.get(key) ?? t + BUCKET_TTL_MS,
    };
    // A row booked a moment before a window rolled asks for the old windows: answer, keep the current.
    if (cached === undefined || now >= cached.to) rules.budgets = set;
    return set;
  }

  /** Every bucket that applies to a call of `provider` (and the per-model rules of `model`). */
  #bucketRefs(cfg: Config, provider: Provider, model: string | undefined): BucketRef[] {
    const limits = cfg.limits;
    const out: BucketRef[] = [];
    const push = (scope: string, kind: LimitKind, rule: BucketRule | undefined) => {
      if (rule !== undefined) {
        out.push({ key: `bucket:${scope}:${kind}`, kind, rule, scope, limit: rule.limit, burst: rule.burst });
      }
    };
    const p = (limits[provider] ?? {}) as { requests?: BucketRule; tokens?: BucketRule; pages?: BucketRule };
    push(provider, 'requests', p.requests);
    push(provider, 'tokens', p.tokens);
    push(provider, 'pages', p.pages);
    const perModel = model === undefined ? undefined : limits.models?.[provider]?.models[model];
    if (perModel !== undefined) {
      const rule = (limit: number | undefined, burst: number | undefined): BucketRule | undefined =>
        limit === undefined ? undefined : { limit, burst: burst ?? Math.max(1, Math.ceil(limit / 60)) };
      const scope = `${provider}:${model}`;
      push(scope, 'requests', rule(perModel.requests_per_hour, perModel.requests_burst));
      push(scope, 'tokens', rule(perModel.tokens_per_hour, perModel.tokens_burst));
      push(scope, 'pages', rule(perModel.pages_per_hour, perModel.pages_burst));
    }
    return out;
  }

  /** Every budget that applies to a call at `now`. */
  #budgetRefs(cfg: Config, provider: Provider, model: string | undefined, now: number): BudgetRef[] {
    const b = cfg.budgets;
    const clock = this.#clock;
    const out: BudgetRef[] = [];
    const add = (scope: string, caps: Partial<Record<BudgetWindowName, number>>) => {
      for (const window of WINDOW_NAMES) {
        const usd = caps[window];
        if (usd === undefined) continue;
        // The same scope and window set twice (a variable and CONFIG_FILE) is one budget: the tighter limit.
        const same = out.find((x) => x.scope === scope && x.window === window);
        if (same !== undefined) {
          same.limitNano = Math.min(same.limitNano, toNano(usd));
          continue;
        }
        const win = clock.at(WINDOW_OF[window], now);
        out.push({
          scope,
          window,
          win,
          limitNano: toNano(usd),
          holdKey: `budget:${scope}:${win.id}`,
          spentKey: `spent:${scope}:${win.id}`,
          expiresAt: win.end,
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

  /** One admission attempt through the store's native `admit` when it has one, else `transact`. */
  #attempt(
    rules: Rules,
    budgets: BudgetSet | undefined,
    req: AdmitRequest,
    tokens: number,
    holdNano: number,
    ttl: number,
    degrade: boolean,
    bound: boolean,
  ): Promise<AdmitVerdict> {
    const amounts = rules.buckets.map((b) => (b.kind === 'requests' ? 1 : b.kind === 'tokens' ? tokens : req.pages));
    const op: AdmitOp = {
      holdId: req.id,
      buckets: rules.buckets,
      amounts,
      budgets: budgets?.refs ?? NONE,
      holdNano,
      holdTtlMs: ttl,
      degrade,
    };
    if (bound) {
      op.spares = rules.buckets.map((b) => (b.kind === 'tokens' ? BOUND_HEADROOM * tokens : 0));
      op.holdSpare = BOUND_HEADROOM * holdNano;
    }
    const request: TransactRequest<AdmitVerdict> = {
      keys: budgets?.keys ?? rules.bucketKeys,
      counters: budgets?.spentKeys,
      expiresAt: budgets?.expiresAt ?? bucketExpiry,
      decide: (values, now) => decideAdmit(op, values, now),
    };
    const store = this.#deps.store;
    return store.admit !== undefined ? store.admit(op, request) : store.transact(request);
  }

  /**
   * Reserves the worst case atomically, or throws a 429 TollgateError. With BUDGET_EXCEEDED_ACTION=mock
   * a budget shortfall does not throw: the admission says `budgetExceeded` and holds nothing.
   */
  async admit(req: AdmitRequest): Promise<Admission> {
    const cfg = this.#deps.config();
    const rules = this.#rulesFor(cfg, req.provider, req.model);
    // Windows are chosen by this sidecar's clock; keys name them, so every sidecar agrees.
    let budgets = req.budgeted ? this.#budgetsAt(cfg, rules, this.#deps.now?.() ?? Date.now()) : undefined;
    if (budgets !== undefined && budgets.refs.length === 0) budgets = undefined;
    if (rules.buckets.length === 0 && budgets === undefined) return this.#free(req.model);
    const ttl = this.#deps.holdTtlMs?.() ?? cfg.upstream.timeoutMs + 60_000;
    const degrade = cfg.budgets.exceededAction === 'mock' && req.mayDegrade;

    let tokens = req.tokens;
    let worstNano = toNano(req.worstUsd);
    // With a bound to refine, a shortfall is not taken for final (nor degraded to the mock) yet, and
    // the bound must leave headroom (BOUND_HEADROOM): near a limit the exact figures decide.
    const bound = req.refine !== undefined;
    let verdict = await this.#attempt(rules, budgets, req, tokens, worstNano, ttl, degrade && !bound, bound);
    if (
      !verdict.admitted &&
      req.refine !== undefined &&
      (verdict.budget !== undefined || rules.buckets[verdict.bucket!.index]!.kind === 'tokens')
    ) {
      const exact = req.refine();
      tokens = exact.tokens;
      worstNano = toNano(exact.worstUsd);
      verdict = await this.#attempt(rules, budgets, req, tokens, worstNano, ttl, degrade, false);
    }

    if (!verdict.admitted) {
      if (verdict.bucket !== undefined) {
        const ref = rules.buckets[verdict.bucket.index]!;
        this.#deps.onRejected?.(req.provider, ref.kind);
        const amount = ref.kind === 'requests' ? 1 : ref.kind === 'tokens' ? tokens : req.pages;
        throw rateLimited(ref, amount, verdict.bucket.retryAfterMs, verdict.bucket.exceedsCapacity);
      }
      const d = verdict.budget!;
      this.#deps.onRejected?.(req.provider, 'budget');
      throw budgetExceeded(budgets!.refs[d.index]!, worstNano, d.spent, d.tooLarge);
    }
    const short = verdict.budget === undefined ? undefined : budgets!.refs[verdict.budget.index]!;
    if (short !== undefined) this.#deps.onRejected?.(req.provider, 'budget');
    const views = this.#views(rules, verdict);
    // Holds were placed only when the call fit every budget and its worst case costs something.
    const holdKeys = short === undefined && worstNano > 0 && budgets !== undefined ? budgets.holdKeys : NONE;
    const reserved = tokens;
    return {
      budgetExceeded: short ? { scope: short.scope, window: short.window } : undefined,
      buckets: views,
      headers: rateLimitHeaders(views),
      settle: (outcome) => this.#settle(req, rules, budgets, holdKeys, reserved, outcome),
    };
  }

  #views(rules: Rules, verdict: AdmitVerdict): BucketView[] {
    const now = verdict.now;
    return rules.buckets.map((ref, i) => {
      const tokens = verdict.levels[i]!;
      return {
        kind: ref.kind,
        scope: ref.scope,
        limit: ref.limit,
        burst: ref.burst,
        remaining: Math.floor(tokens),
        resetMs: resetMs({ tokens, at: now }, ref.rule, now),
      };
    });
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
    if (!row.billable || row.costNanoUsd === 0) return NONE as never[];
    const cfg = this.#deps.config();
    const rules = this.#rulesFor(cfg, row.provider as Provider, requestModel ?? row.model);
    const refs = this.#budgetsAt(cfg, rules, row.ts).refs;
    const out: SpendIncrement[] = new Array(refs.length);
    for (let i = 0; i < refs.length; i++) {
      const b = refs[i]!;
      out[i] = { key: b.spentKey, nanoUsd: row.costNanoUsd, expiresAt: b.win.end + 86_400_000 };
    }
    return out;
  }

  /** Books a row outside any admission (a LlamaParse job booked once when its result is read). */
  async book(
    row: LedgerRow,
    extra?: { provider: Provider; model: string | undefined; pages: number },
  ): Promise<boolean> {
    const fresh = await this.#deps.store.record(row, this.#spendFor(row, extra?.model));
    if (fresh && extra && extra.pages > 0) {
      // The upload reserved one page; the rest of the job's pages are charged now.
      const refs = this.#rulesFor(this.#deps.config(), extra.provider, extra.model).pageBuckets;
      if (refs.length > 0) {
        const op: SettleOp = {
          row: undefined,
          spend: NONE,
          holdId: '',
          holdKeys: NONE,
          adjust: refs,
          deltas: refs.map(() => -(extra.pages - 1)),
        };
        await this.#deps.store.transact({
          keys: refs.map((r) => r.key),
          expiresAt: bucketExpiry,
          decide: (values, now) => decideRelease(op, values, now),
        });
      }
    }
    return fresh;
  }

  async #settle(
    req: AdmitRequest,
    rules: Rules,
    budgets: BudgetSet | undefined,
    holdKeys: readonly string[],
    reserved: number,
    outcome: { row?: LedgerRow; tokens: number; pages: number },
  ) {
    const row = outcome.row;
    const delta = reserved - outcome.tokens;
    const adjustTokens = delta !== 0 && rules.tokenBuckets.length > 0;
    if (row === undefined && !adjustTokens && holdKeys.length === 0) return;
    const op: SettleOp = {
      row,
      spend: row === undefined ? NONE : this.#spendFor(row, req.model),
      holdId: req.id,
      holdKeys,
      adjust: adjustTokens ? rules.tokenBuckets : NONE,
      deltas: adjustTokens ? rules.tokenBuckets.map(() => delta) : NONE,
    };
    let release: TransactRequest<void> | undefined;
    if (adjustTokens || holdKeys.length > 0) {
      release = {
        keys: !adjustTokens ? holdKeys : holdKeys.length === 0 ? rules.tokenKeys : budgets!.releaseKeys,
        expiresAt: budgets?.expiresAt ?? bucketExpiry,
        decide: (values, now) => decideRelease(op, values, now),
      };
    }
    const store = this.#deps.store;
    if (store.settle !== undefined) {
      await store.settle(op, release);
      return;
    }
    // The row (and its spend) first, then the holds go: in between, the budget counts both, which errs safe.
    if (row !== undefined) await store.record(row, op.spend);
    if (release !== undefined) await store.transact(release);
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
      refs.push(...this.#rulesFor(cfg, provider, undefined).buckets);
      for (const model of Object.keys(cfg.limits.models?.[provider]?.models ?? {})) {
        refs.push(...this.#rulesFor(cfg, provider, model).buckets.filter((r) => r.scope !== provider));
      }
    }
    const budgetRefs = new Map<string, BudgetRef>();
    for (const provider of ['openai', 'llamaparse'] as const) {
      for (const b of this.#budgetRefs(cfg, provider, undefined, now)) budgetRefs.set(b.holdKey, b);
      for (const scope of Object.keys(cfg.budgets.extra ?? {})) {
        const [p, model] = scope.split(':');
        if (p === provider && model) {
          for (const b of this.#budgetRefs(cfg, provider, model, now)) budgetRefs.set(b.holdKey, b);
        }
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

function rateLimited(ref: BucketRef, amount: number, retryAfterMs: number, exceedsCapacity: boolean): TollgateError {
  const per = `${ref.rule.limit} ${ref.kind} per hour (burst ${ref.rule.burst})`;
  if (exceedsCapacity) {
    return new TollgateError(
      429,
      'rate_limit_exceeded',
      `This request needs ${amount} ${ref.kind}, more than the ${ref.scope} ${ref.kind} bucket can ever hold (${per}). Reduce the request size (e.g. max_tokens).`,
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

const HEADER_NAMES: Record<LimitKind, { limit: string; remaining: string; reset: string }> = {
  requests: {
    limit: 'x-ratelimit-limit-requests',
    remaining: 'x-ratelimit-remaining-requests',
    reset: 'x-ratelimit-reset-requests',
  },
  tokens: {
    limit: 'x-ratelimit-limit-tokens',
    remaining: 'x-ratelimit-remaining-tokens',
    reset: 'x-ratelimit-reset-tokens',
  },
  pages: {
    limit: 'x-ratelimit-limit-pages',
    remaining: 'x-ratelimit-remaining-pages',
    reset: 'x-ratelimit-reset-pages',
  },
};

/** OpenAI-style x-ratelimit-* for requests/tokens, plus the IETF draft RateLimit-Policy/RateLimit. */
export function rateLimitHeaders(views: readonly BucketView[]): Record<string, string> {
  const h: Record<string, string> = {};
  let policy = '';
  let current = '';
  // The tightest bucket of each kind is the one a worker must respect (kinds in order of first appearance).
  outer: for (let i = 0; i < views.length; i++) {
    const kind = views[i]!.kind;
    for (let j = 0; j < i; j++) if (views[j]!.kind === kind) continue outer;
    let v = views[i]!;
    for (let j = i + 1; j < views.length; j++) {
      const o = views[j]!;
      if (o.kind === kind && o.remaining < v.remaining) v = o;
    }
    const names = HEADER_NAMES[kind];
    h[names.limit] = String(v.limit);
    h[names.remaining] = String(v.remaining);
    h[names.reset] = fmtReset(v.resetMs);
    const sep = policy === '' ? '' : ', ';
    policy += `${sep}"${kind}";q=${v.limit};w=3600`;
    current += `${sep}"${kind}";r=${v.remaining};t=${Math.ceil(v.resetMs / 1000)}`;
  }
  if (policy !== '') {
    h['ratelimit-policy'] = policy;
    h.ratelimit = current;
  }
  return h;
}
