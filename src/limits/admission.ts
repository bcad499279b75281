import type { BudgetWindowName, Config, Provider } from '../config/index.js';
import { beyondBucket, beyondBudget, budgetExceeded, rateLimited, type TollgateError } from '../errors.js';
import type {
  AdmitOp,
  AdmitVerdict,
  LedgerRow,
  SettleOp,
  SpendIncrement,
  Store,
  TransactRequest,
} from '../state/index.js';
import { resetMs } from './bucket.js';
import { decideAdmit, decideRelease } from './decide.js';
import { type AdmitSizing, bucketFit, budgetFit } from './fit.js';
import { type BucketView, fmtReset, rateLimitHeaders } from './headers.js';
import { JobBook, type JobHold } from './job-book.js';
import {
  type BucketRef,
  type BudgetRef,
  type BudgetSet,
  bucketExpiry,
  fromNano,
  type LimitKind,
  RuleBook,
  type Rules,
  toNano,
} from './rules.js';
import { type LimitsSnapshot, takeSnapshot } from './snapshot.js';

/**
 * Admission and settlement over a Store. Admission reserves the worst case (bucket tokens and
 * budget holds) in one atomic step; settlement books the ledger row with its spend, then releases
 * the holds and refunds (or charges) the difference.
 *
 * Per call this is two store operations: `admit` (or `transact`) and `settle` (or `record` then
 * `transact`).
 */

const NONE: readonly never[] = [];

/**
 * An attempt with an upper bound (see AdmitRequest.refine) also asks every tokens bucket and budget
 * for room for this many more such bounds. Calls in flight hold their bounds, not their exact needs,
 * so near a limit they could crowd out calls that exact figures would admit; with this headroom
 * the last stretch before a limit is reserved with exact figures (the tokenizer runs there only),
 * and a refusal sees bound-sized holds only if this many calls came in while one was in flight.
 */
export const BOUND_HEADROOM = 64;

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
  /**
   * The request field that sized the worst case (of the bound, or of the exact figures once refined),
   * so a refusal can say how much would fit. Asked for only on a refusal.
   */
  sizing?: ((refined: boolean) => AdmitSizing | undefined) | undefined;
}

export interface SettleOutcome {
  row?: LedgerRow;
  tokens: number;
  pages: number;
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
  settle(outcome: SettleOutcome): Promise<void>;
  /**
   * Instead of `settle`: hands what admission held (budget holds and pages) to the job the call
   * started, to be settled once by the job (see `Limiter.book`). Tokens are not held by jobs.
   */
  keep(job: JobHold): Promise<void>;
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

/** One call's admission in progress: what applies to it and what it asks for. */
interface Attempt {
  req: AdmitRequest;
  rules: Rules;
  budgets: BudgetSet | undefined;
  ttl: number;
  degrade: boolean;
}

const amountFor = (kind: LimitKind, tokens: number, pages: number) =>
  kind === 'requests' ? 1 : kind === 'tokens' ? tokens : pages;

/** The 429 a refused verdict answers with, and which limit refused. */
function refusal(
  a: Attempt,
  verdict: AdmitVerdict,
  tokens: number,
  worstNano: number,
  sizing: AdmitSizing | undefined,
): { error: TollgateError; limit: LimitKind | 'budget' } {
  if (verdict.bucket !== undefined) {
    const { index, retryAfterMs, exceedsCapacity } = verdict.bucket;
    const ref = a.rules.buckets[index]!;
    const amount = amountFor(ref.kind, tokens, a.req.pages);
    const hint = ref.kind === 'tokens' ? bucketFit(sizing, amount, ref.burst) : undefined;
    const error = exceedsCapacity
      ? beyondBucket(ref, amount, hint)
      : rateLimited(ref, retryAfterMs, fmtReset(retryAfterMs));
    return { error, limit: ref.kind };
  }
  const d = verdict.budget!;
  const ref = a.budgets!.refs[d.index]!;
  const budget = {
    scope: ref.scope,
    window: ref.window,
    limitUsd: fromNano(ref.limitNano),
    resetsAt: ref.win.end,
    setBy: ref.setBy,
  };
  const worstUsd = fromNano(worstNano);
  const hint = budgetFit(sizing, worstUsd, fromNano(ref.limitNano - d.spent - d.held));
  const error = d.tooLarge
    ? beyondBudget(budget, worstUsd, hint)
    : budgetExceeded(budget, fromNano(d.spent), worstUsd, hint);
  return { error, limit: 'budget' };
}

function bucketViews(rules: Rules, verdict: AdmitVerdict): BucketView[] {
  const now = verdict.now;
  return rules.buckets.map((ref, i) => {
    const tokens = verdict.levels[i]!;
    return {
      kind: ref.kind,
      scope: ref.scope,
      limit: ref.limit,
      burst: ref.burst,
      remaining: Math.floor(tokens),
      resetMs: resetMs({ tokens, at: now }, ref, now),
    };
  });
}

export class Limiter {
  readonly #deps: LimiterDeps;
  readonly #book: RuleBook;
  /** LlamaParse jobs' holds, kept in the store. */
  readonly jobs: JobBook;

  constructor(deps: LimiterDeps) {
    this.#deps = deps;
    this.#book = new RuleBook(deps.config().budgets.timezone);
    this.jobs = new JobBook(deps.store);
  }

  #now(): number {
    return this.#deps.now?.() ?? Date.now();
  }

  /** One admission attempt through the store's native `admit` when it has one, else `transact`. */
  #attempt(a: Attempt, tokens: number, holdNano: number, degrade: boolean, bound: boolean): Promise<AdmitVerdict> {
    const { rules, budgets } = a;
    const op: AdmitOp = {
      holdId: a.req.id,
      buckets: rules.buckets,
      amounts: rules.buckets.map((b) => amountFor(b.kind, tokens, a.req.pages)),
      budgets: budgets?.refs ?? NONE,
      holdNano,
      holdTtlMs: a.ttl,
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
    const rules = this.#book.rulesFor(cfg, req.provider, req.model);
    // Windows are chosen by this sidecar's clock; keys name them, so every sidecar agrees.
    let budgets = req.budgeted ? this.#book.budgetsAt(cfg, rules, this.#now()) : undefined;
    if (budgets !== undefined && budgets.refs.length === 0) budgets = undefined;
    if (rules.buckets.length === 0 && budgets === undefined) return this.#free(req.model);
    const ttl = this.#deps.holdTtlMs?.() ?? cfg.upstream.timeoutMs + 60_000;
    const a: Attempt = { req, rules, budgets, ttl, degrade: cfg.budgets.exceededAction === 'mock' && req.mayDegrade };

    let tokens = req.tokens;
    let worstNano = toNano(req.worstUsd);
    let refined = false;
    // With a bound to refine, a shortfall is not taken for final (nor degraded to the mock) yet, and
    // the bound must leave headroom (BOUND_HEADROOM): near a limit the exact figures decide.
    const bound = req.refine !== undefined;
    let verdict = await this.#attempt(a, tokens, worstNano, a.degrade && !bound, bound);
    if (
      !verdict.admitted &&
      req.refine !== undefined &&
      (verdict.budget !== undefined || rules.buckets[verdict.bucket!.index]!.kind === 'tokens')
    ) {
      const exact = req.refine();
      tokens = exact.tokens;
      worstNano = toNano(exact.worstUsd);
      refined = true;
      verdict = await this.#attempt(a, tokens, worstNano, a.degrade, false);
    }
    if (!verdict.admitted) {
      const { error, limit } = refusal(a, verdict, tokens, worstNano, req.sizing?.(refined));
      this.#deps.onRejected?.(req.provider, limit);
      throw error;
    }
    return this.#admitted(a, verdict, tokens, worstNano);
  }

  #admitted(a: Attempt, verdict: AdmitVerdict, reserved: number, worstNano: number): Admission {
    const short: BudgetRef | undefined =
      verdict.budget === undefined ? undefined : a.budgets!.refs[verdict.budget.index];
    if (short !== undefined) this.#deps.onRejected?.(a.req.provider, 'budget');
    const views = bucketViews(a.rules, verdict);
    // Holds were placed only when the call fit every budget and its worst case costs something.
    const holdKeys = short === undefined && worstNano > 0 && a.budgets !== undefined ? a.budgets.holdKeys : NONE;
    return {
      budgetExceeded: short ? { scope: short.scope, window: short.window } : undefined,
      buckets: views,
      headers: rateLimitHeaders(views),
      settle: (outcome) => this.#settle(a, holdKeys, reserved, outcome),
      keep: async (job) => {
        // A job whose cost does not count (a mock job without BUDGET_INCLUDE_MOCK) keeps no budget hold.
        const keys = job.billable ? holdKeys : NONE;
        if (keys.length < holdKeys.length) await this.#settle(a, holdKeys, reserved, { tokens: reserved, pages: 0 });
        if (keys.length === 0 && a.rules.pageBuckets.length === 0) return;
        const keyExpiry: Record<string, number> = {};
        for (const k of keys) keyExpiry[k] = a.budgets!.expiresAt(k, 0);
        const settleAfterMs = this.#deps.config().parseJobs.settleAfterMs;
        const held = { ...job, holdNano: keys.length > 0 ? worstNano : 0, holdKeys: [...keys], keyExpiry };
        await this.jobs.keep(a.req.id, { ...held, pages: a.req.pages }, settleAfterMs);
      },
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
      keep: async () => {},
    };
  }

  /** Spend counts against the budgets the call was admitted under: scopes follow the requested model. */
  #spendFor(row: LedgerRow, requestModel: string | undefined): SpendIncrement[] {
    if (!row.billable || row.costNanoUsd === 0) return NONE as never[];
    const cfg = this.#deps.config();
    const rules = this.#book.rulesFor(cfg, row.provider as Provider, requestModel ?? row.model);
    const refs = this.#book.budgetsAt(cfg, rules, row.ts).refs;
    const out: SpendIncrement[] = new Array(refs.length);
    for (let i = 0; i < refs.length; i++) {
      const b = refs[i]!;
      out[i] = { key: b.spentKey, nanoUsd: row.costNanoUsd, expiresAt: b.win.end + 86_400_000 };
    }
    return out;
  }

  /**
   * Books a row outside any admission: a LlamaParse job, once, when its result is read (or the
   * sidecar settles it). The job's hold, if one was kept, is released in the same go and its pages
   * buckets adjusted to the job's pages; a job nobody held for is charged its pages now.
   */
  async book(
    row: LedgerRow,
    extra?: { provider: Provider; model: string | undefined; pages: number },
  ): Promise<boolean> {
    const fresh = await this.#deps.store.record(row, this.#spendFor(row, extra?.model));
    if (extra === undefined) return fresh;
    const refs = this.#book.rulesFor(this.#deps.config(), extra.provider, extra.model).pageBuckets;
    const settled = await this.jobs.settle(row.id, extra.pages, refs);
    if (fresh && settled === undefined && extra.pages > 0 && refs.length > 0) await this.#charge(refs, -extra.pages);
    return fresh;
  }

  /** Adds `delta` to every bucket of `refs` (negative: a charge, which may leave debt). */
  async #charge(refs: BucketRef[], delta: number): Promise<void> {
    const op: SettleOp = {
      row: undefined,
      spend: NONE,
      holdId: '',
      holdKeys: NONE,
      adjust: refs,
      deltas: refs.map(() => delta),
    };
    await this.#deps.store.transact({
      keys: refs.map((r) => r.key),
      expiresAt: bucketExpiry,
      decide: (values, now) => decideRelease(op, values, now),
    });
  }

  async #settle(a: Attempt, holdKeys: readonly string[], reserved: number, outcome: SettleOutcome) {
    const { rules, budgets } = a;
    const row = outcome.row;
    const delta = reserved - outcome.tokens;
    const adjustTokens = delta !== 0 && rules.tokenBuckets.length > 0;
    if (row === undefined && !adjustTokens && holdKeys.length === 0) return;
    const op: SettleOp = {
      row,
      spend: row === undefined ? NONE : this.#spendFor(row, a.req.model),
      holdId: a.req.id,
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
  snapshot(): Promise<LimitsSnapshot> {
    return takeSnapshot(this.#deps.store, this.#book, this.#deps.config(), this.#now());
  }
}
