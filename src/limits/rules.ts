import type { BucketRule, BudgetWindowName, Config, Provider } from '../config/index.js';
import { CATALOG } from '../providers/catalog.js';
import type { BucketLimit, BudgetLimit } from '../state/index.js';
import { type Window, WindowClock, type WindowKind } from './windows.js';

/**
 * Config → rules: the buckets and budgets that apply to calls of one (provider, model), with the
 * store keys a transaction needs. Computed once per config object (and budget window) and reused.
 */

export type LimitKind = 'requests' | 'tokens' | 'pages';

const WINDOW_OF: Record<BudgetWindowName, WindowKind> = { hourly: 'hour', daily: 'day', monthly: 'month' };
const WINDOW_NAMES: readonly BudgetWindowName[] = ['hourly', 'daily', 'monthly'];
const NANO = 1e9;
/** Bucket states are forgotten this long after their last write (a full bucket needs no state). */
const BUCKET_TTL_MS = 2 * 3_600_000;
/** Rules cached per (provider, model); bounded although models named in config are few. */
const MAX_RULES = 1024;

export const toNano = (usd: number) => Math.round(usd * NANO);
export const fromNano = (nano: number) => nano / NANO;
export const bucketExpiry = (_key: string, now: number) => now + BUCKET_TTL_MS;

export interface BucketRef extends BucketLimit {
  kind: LimitKind;
  scope: string;
  /** The setting that set the limit, as a 429 names it: `OPENAI_REQUESTS_PER_HOUR`, or a CONFIG_FILE path. */
  setBy: string;
  /** The setting that sets the capacity (`OPENAI_TOKENS_BURST`, or a CONFIG_FILE path). */
  burstSetBy: string;
}

export interface BudgetRef extends BudgetLimit {
  scope: string;
  window: BudgetWindowName;
  win: Window;
  /** The setting that set the limit: `BUDGET_DAILY_USD`, `OPENAI_BUDGET_DAILY_USD`, or a CONFIG_FILE path. */
  setBy: string;
}

/** A CONFIG_FILE entry as an error names it: `budgets.openai:gpt-4o.daily_usd in CONFIG_FILE (limits.yaml)`. */
const inFile = (cfg: Config, path: string) =>
  `${path} in CONFIG_FILE${cfg.configFile === undefined ? '' : ` (${cfg.configFile})`}`;

const envPrefix = (provider: string) => CATALOG.find((f) => f.name === provider)?.envPrefix ?? provider.toUpperCase();

/** The budgets of a (provider, model) in one set of windows, with the key lists a transaction needs. */
export interface BudgetSet {
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
export interface Rules {
  provider: Provider;
  /** The model whose per-model rules apply (undefined: provider-wide only). */
  model: string | undefined;
  buckets: BucketRef[];
  bucketKeys: string[];
  tokenBuckets: BucketRef[];
  tokenKeys: string[];
  pageBuckets: BucketRef[];
  /** The budgets of the current windows, cached (see RuleBook.budgetsAt). */
  budgets: BudgetSet | undefined;
}

/** Default bucket capacity for a per-model rule: one minute's worth, at least 1. */
const perModelRule = (limit: number | undefined, burst: number | undefined): BucketRule | undefined =>
  limit === undefined ? undefined : { limit, burst: burst ?? Math.max(1, Math.ceil(limit / 60)) };

/** Every bucket that applies to a call of `provider` (and the per-model rules of `model`). */
export function bucketRefs(cfg: Config, provider: Provider, model: string | undefined): BucketRef[] {
  const limits = cfg.limits;
  const out: BucketRef[] = [];
  const push = (scope: string, kind: LimitKind, rule: BucketRule | undefined, setBy: string, burstSetBy: string) => {
    if (rule !== undefined)
      out.push({
        key: `bucket:${scope}:${kind}`,
        kind,
        scope,
        limit: rule.limit,
        burst: rule.burst,
        setBy,
        burstSetBy,
      });
  };
  const p = (limits[provider] ?? {}) as { requests?: BucketRule; tokens?: BucketRule; pages?: BucketRule };
  const prefix = envPrefix(provider);
  for (const kind of ['requests', 'tokens', 'pages'] as const) {
    const name = `${prefix}_${kind.toUpperCase()}`;
    push(provider, kind, p[kind], `${name}_PER_HOUR`, `${name}_BURST`);
  }
  const perModel = model === undefined ? undefined : limits.models?.[provider]?.models[model];
  if (perModel !== undefined) {
    const scope = `${provider}:${model}`;
    const path = `limits.${provider}.models.${model}`;
    for (const kind of ['requests', 'tokens', 'pages'] as const) {
      const rule = perModelRule(perModel[`${kind}_per_hour`], perModel[`${kind}_burst`]);
      push(scope, kind, rule, inFile(cfg, `${path}.${kind}_per_hour`), inFile(cfg, `${path}.${kind}_burst`));
    }
  }
  return out;
}

/** Every budget that applies to a call of `provider` (and `model`) at `now`. */
export function budgetRefs(
  cfg: Config,
  clock: WindowClock,
  provider: Provider,
  model: string | undefined,
  now: number,
): BudgetRef[] {
  const b = cfg.budgets;
  const out: BudgetRef[] = [];
  const add = (
    scope: string,
    caps: Partial<Record<BudgetWindowName, number>>,
    setBy: (window: BudgetWindowName) => string,
  ) => {
    for (const window of WINDOW_NAMES) {
      const usd = caps[window];
      if (usd === undefined) continue;
      // The same scope and window set twice (a variable and CONFIG_FILE) is one budget: the tighter limit.
      const same = out.find((x) => x.scope === scope && x.window === window);
      if (same !== undefined) {
        if (toNano(usd) < same.limitNano) Object.assign(same, { limitNano: toNano(usd), setBy: setBy(window) });
        continue;
      }
      const win = clock.at(WINDOW_OF[window], now);
      out.push({
        scope,
        window,
        win,
        setBy: setBy(window),
        limitNano: toNano(usd),
        holdKey: `budget:${scope}:${win.id}`,
        spentKey: `spent:${scope}:${win.id}`,
        expiresAt: win.end,
      });
    }
  };
  const variable = (prefix: string) => (window: BudgetWindowName) => `${prefix}BUDGET_${window.toUpperCase()}_USD`;
  add('total', b.caps.total, variable(''));
  add(provider, b.caps[provider], variable(`${envPrefix(provider)}_`));
  for (const [scope, caps] of Object.entries(b.extra ?? {})) {
    if (scope === provider || scope === 'total' || (model !== undefined && scope === `${provider}:${model}`)) {
      const setBy = (window: BudgetWindowName) => inFile(cfg, `budgets.${scope}.${window}_usd`);
      add(scope, { hourly: caps.hourly_usd, daily: caps.daily_usd, monthly: caps.monthly_usd }, setBy);
    }
  }
  return out;
}

function rulesOf(cfg: Config, provider: Provider, model: string | undefined): Rules {
  const buckets = bucketRefs(cfg, provider, model);
  const tokenBuckets = buckets.filter((b) => b.kind === 'tokens');
  return {
    provider,
    model,
    buckets,
    bucketKeys: buckets.map((b) => b.key),
    tokenBuckets,
    tokenKeys: tokenBuckets.map((b) => b.key),
    pageBuckets: buckets.filter((b) => b.kind === 'pages'),
    budgets: undefined,
  };
}

function budgetSetOf(rules: Rules, refs: BudgetRef[]): BudgetSet {
  let from = Number.NEGATIVE_INFINITY;
  let to = Number.POSITIVE_INFINITY;
  const expiry = new Map<string, number>();
  for (const b of refs) {
    from = Math.max(from, b.win.start);
    to = Math.min(to, b.win.end);
    expiry.set(b.holdKey, b.expiresAt);
  }
  const holdKeys = refs.map((b) => b.holdKey);
  return {
    refs,
    from,
    to,
    keys: [...rules.bucketKeys, ...holdKeys],
    spentKeys: refs.map((b) => b.spentKey),
    holdKeys,
    releaseKeys: [...rules.tokenKeys, ...holdKeys],
    expiresAt: (key, t) => expiry.get(key) ?? t + BUCKET_TTL_MS,
  };
}

/** The rules of one config object, cached; a new config object (or time zone) starts afresh. */
export class RuleBook {
  #clock: WindowClock;
  /** The config object the caches below were built from. */
  #cfg: Config | undefined;
  readonly #rules = new Map<string, Rules>();
  /** Per provider: the models with rules of their own (per-model limits or a `provider:model` budget). */
  readonly #special = new Map<Provider, Set<string>>();

  constructor(timeZone: string) {
    this.#clock = new WindowClock(timeZone);
  }

  /** The rules for a call, rebuilt when config() hands out a new object. */
  rulesFor(cfg: Config, provider: Provider, model: string | undefined): Rules {
    this.#follow(cfg);
    const special = this.#specialModels(cfg, provider);
    const own = model !== undefined && special.has(model) ? model : undefined;
    const key = own === undefined ? provider : `${provider}:${own}`;
    let rules = this.#rules.get(key);
    if (rules === undefined) {
      rules = rulesOf(cfg, provider, own);
      if (this.#rules.size >= MAX_RULES) this.#rules.clear();
      this.#rules.set(key, rules);
    }
    return rules;
  }

  /** The budgets of `rules` at `now`, recomputed when a window rolls. */
  budgetsAt(cfg: Config, rules: Rules, now: number): BudgetSet {
    const cached = rules.budgets;
    if (cached !== undefined && now >= cached.from && now < cached.to) return cached;
    const set = budgetSetOf(rules, budgetRefs(cfg, this.#clock, rules.provider, rules.model, now));
    // A row booked a moment before a window rolled asks for the old windows: answer, keep the current.
    if (cached === undefined || now >= cached.to) rules.budgets = set;
    return set;
  }

  /** Every budget of `provider` (and `model`) at `now`, uncached (for the admin snapshot). */
  budgetRefs(cfg: Config, provider: Provider, model: string | undefined, now: number): BudgetRef[] {
    this.#follow(cfg);
    return budgetRefs(cfg, this.#clock, provider, model, now);
  }

  #follow(cfg: Config): void {
    if (cfg === this.#cfg) return;
    this.#cfg = cfg;
    this.#rules.clear();
    this.#special.clear();
    if (this.#clock.timeZone !== cfg.budgets.timezone) this.#clock = new WindowClock(cfg.budgets.timezone);
  }

  #specialModels(cfg: Config, provider: Provider): Set<string> {
    let special = this.#special.get(provider);
    if (special === undefined) {
      special = new Set(Object.keys(cfg.limits.models?.[provider]?.models ?? {}));
      for (const scope of Object.keys(cfg.budgets.extra ?? {})) {
        if (scope.startsWith(`${provider}:`)) special.add(scope.slice(provider.length + 1));
      }
      this.#special.set(provider, special);
    }
    return special;
  }
}
