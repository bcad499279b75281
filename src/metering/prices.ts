import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { CATALOG, type Provider, TOKEN_PRICED, type TokenPricedProvider } from '../config/index.js';
import shipped from './prices.json' with { type: 'json' };

/**
 * The price table: what a token or a LlamaParse credit costs. The shipped `prices.json` is the
 * default; `PRICES_FILE` replaces it whole, and CONFIG_FILE `prices` entries are merged over
 * whichever of the two is in force. Everything is validated the same way and every problem is
 * reported at once, named by its path (`openai.gpt-4o.output_per_1m: must not be negative`).
 */

const price = z
  .number({
    error: (issue) =>
      issue.input === undefined
        ? 'is required'
        : typeof issue.input === 'number'
          ? 'must be a finite number'
          : 'must be a number',
  })
  .min(0, { error: 'must not be negative' });

/**
 * USD per 1M tokens for one model of a provider priced by tokens. `cached_input_per_1m` is a cache
 * read; `cache_write_per_1m` a prompt-cache write (Anthropic's 5-minute writes) and
 * `cache_write_1h_per_1m` a one-hour write, each defaulting to the rate below it (1h → 5m → input).
 */
const tokenPriceSchema = z.strictObject({
  input_per_1m: price,
  cached_input_per_1m: price,
  output_per_1m: price,
  cache_write_per_1m: price.optional(),
  cache_write_1h_per_1m: price.optional(),
});

type TokenSection = z.ZodDefault<z.ZodRecord<z.ZodString, typeof tokenPriceSchema>>;
type ExtraSection = z.ZodOptional<z.ZodRecord<z.ZodString, ReturnType<typeof tokenPriceSchema.partial>>>;

/** One section per provider priced by tokens (`openai`, `anthropic`, …), from the provider catalog. */
const tokenSections = Object.fromEntries(
  TOKEN_PRICED.map((p) => [
    p,
    z.record(z.string(), tokenPriceSchema, { error: 'must be an object of model → prices' }).default({}),
  ]),
) as Record<TokenPricedProvider, TokenSection>;
const extraTokenSections = Object.fromEntries(
  TOKEN_PRICED.map((p) => [p, z.record(z.string(), tokenPriceSchema.partial()).optional()]),
) as Record<TokenPricedProvider, ExtraSection>;
const pricedByPages = (provider: Provider) => CATALOG.find((p) => p.name === provider)?.priceKind === 'pages';

const creditsPerPageSchema = z
  .object({ fast: price, cost_effective: price, agentic: price, agentic_plus: price })
  .catchall(price);

export const priceTableSchema = z.object({
  version: z.string({ error: 'must be a string such as 2026-11-01' }).min(1, { error: 'must not be empty' }),
  currency: z.literal('USD', { error: 'must be USD' }),
  sources: z.record(z.string(), z.string({ error: 'must be a string' })).optional(),
  ...tokenSections,
  llamaparse: z.strictObject(
    { usd_per_1000_credits: price, credits_per_page: creditsPerPageSchema },
    { error: 'must be an object with usd_per_1000_credits and credits_per_page' },
  ),
});

/** CONFIG_FILE `prices`: entries merged over the table; a known model may set only some fields. */
const extraSchema = z.strictObject(
  {
    ...extraTokenSections,
    llamaparse: z
      .strictObject({
        usd_per_1000_credits: price.optional(),
        credits_per_page: z.record(z.string(), price).optional(),
      })
      .optional(),
  },
  { error: `must be an object with any of ${[...TOKEN_PRICED, 'llamaparse'].join(', ')}` },
);

export type PriceTable = z.infer<typeof priceTableSchema>;
/** USD per million tokens for one model of a provider priced by tokens. */
export type TokenPrice = z.infer<typeof tokenPriceSchema>;
/** The name it had while OpenAI was the only provider priced by tokens. */
export type OpenAIPrice = TokenPrice;
export type LlamaParsePrices = PriceTable['llamaparse'];
/** What one LlamaParse tier costs. */
export interface LlamaParseTierPrice {
  tier: string;
  usd_per_1000_credits: number;
  credits_per_page: number;
}

/** A price table that failed validation; `issues` names every bad field. */
export class PriceTableError extends Error {
  override readonly name = 'PriceTableError';
  readonly code = 'invalid_price_table';
  readonly issues: string[];
  constructor(issues: string[], source = 'price table') {
    super(`Invalid ${source}:\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.issues = issues;
  }
}

function describe(issues: readonly z.core.$ZodIssue[], prefix: string[] = []): string[] {
  const out: string[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path.map(String)];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push(`${[...path, key].join('.')}: is not a known field`);
    } else {
      out.push(`${path.length > 0 ? path.join('.') : '(table)'}: ${issue.message}`);
    }
  }
  return out;
}

export interface LoadPriceTableOptions {
  /** PRICES_FILE: a whole table (JSON) used instead of the shipped one. */
  file?: string | undefined;
  /** CONFIG_FILE `prices`: entries merged over the table. */
  extra?: Record<string, unknown> | undefined;
}

/**
 * Reads and validates the price table: the shipped one (or `file` instead of it), then `extra`
 * merged over it. Throws a {@link PriceTableError} listing every problem.
 *
 * @example
 * const table = loadPriceTable({ file: config.pricesFile, extra: config.extraPrices });
 * const prices = new Prices(table);
 */
export function loadPriceTable({ file, extra }: LoadPriceTableOptions = {}): PriceTable {
  let raw: unknown = shipped;
  let source = 'shipped price table';
  if (file !== undefined) {
    source = `PRICES_FILE ${file}`;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new PriceTableError([`PRICES_FILE: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`]);
    }
    try {
      raw = JSON.parse(text);
    } catch (e) {
      throw new PriceTableError([`PRICES_FILE: ${file} is not valid JSON: ${(e as Error).message}`]);
    }
  }
  const base = priceTableSchema.safeParse(raw);
  if (!base.success) throw new PriceTableError(describe(base.error.issues), source);
  if (extra === undefined || Object.keys(extra).length === 0) return base.data;

  const more = extraSchema.safeParse(extra);
  if (!more.success) throw new PriceTableError(describe(more.error.issues, ['prices']), 'CONFIG_FILE prices');
  const table = base.data;
  // A Map and fromEntries, not assignment: a model named `__proto__` stays a plain key.
  const mergedSection = (provider: TokenPricedProvider) => {
    const models = new Map(Object.entries(table[provider]));
    for (const [model, entry] of Object.entries(more.data[provider] ?? {})) {
      models.set(model, { ...models.get(model), ...entry } as TokenPrice);
    }
    return Object.fromEntries(models);
  };
  const lp = more.data.llamaparse;
  const merged = {
    ...table,
    ...Object.fromEntries(TOKEN_PRICED.map((p) => [p, mergedSection(p)])),
    llamaparse: {
      usd_per_1000_credits: lp?.usd_per_1000_credits ?? table.llamaparse.usd_per_1000_credits,
      credits_per_page: { ...table.llamaparse.credits_per_page, ...lp?.credits_per_page },
    },
  };
  // A new model named only in CONFIG_FILE must be complete; report it under `prices.`.
  const checked = priceTableSchema.safeParse(merged);
  if (!checked.success) throw new PriceTableError(describe(checked.error.issues, ['prices']), 'CONFIG_FILE prices');
  return checked.data;
}

/** `-2024-07-18`, `-20240718`, `-0613`: a dated snapshot's suffix. */
const DATE_SUFFIX = /-(?:\d{4}-\d{2}-\d{2}|\d{8}|\d{4})$/;
/** Distinct model names the lookup cache remembers; model names come from requests, so it is bounded. */
const MAX_CACHED = 4096;

const deepFreeze = <T>(value: T): T => {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
};

/** Normalises a LlamaParse tier name: `Cost-Effective` → `cost_effective`. */
const tierKey = (tier: string) => tier.trim().toLowerCase().replaceAll('-', '_');

/** One provider's models, by lower-case name, and the same names longest first for the prefix fallback. */
interface ModelIndex {
  models: Map<string, TokenPrice>;
  byLength: string[];
  cache: Map<string, TokenPrice | null>;
}

function indexModels(section: Record<string, TokenPrice>): ModelIndex {
  const models = new Map(Object.entries(section).map(([name, entry]) => [name.toLowerCase(), entry]));
  return { models, byLength: [...models.keys()].sort((a, b) => b.length - a.length), cache: new Map() };
}

/**
 * A validated price table with memoised lookups (the hot path: one Map hit per call once a
 * model has been seen).
 *
 * @example
 * const prices = new Prices(loadPriceTable());
 * prices.lookup('openai', 'gpt-4o-mini-2024-07-18'); // the gpt-4o-mini entry
 * prices.lookup('anthropic', 'claude-haiku-4-5-20251001'); // the claude-haiku-4-5 entry
 * prices.lookup('llamaparse', 'agentic'); // { tier: 'agentic', usd_per_1000_credits: 1.25, credits_per_page: 10 }
 */
export class Prices {
  readonly table: Readonly<PriceTable>;
  readonly #byProvider: Map<Provider, ModelIndex>;
  readonly #tiers: Map<string, LlamaParseTierPrice>;

  constructor(table: PriceTable) {
    this.table = deepFreeze(structuredClone(table));
    this.#byProvider = new Map(TOKEN_PRICED.map((p) => [p, indexModels(this.table[p])]));
    const { usd_per_1000_credits, credits_per_page } = this.table.llamaparse;
    this.#tiers = new Map(
      Object.entries(credits_per_page).map(([tier, credits]) => [
        tierKey(tier),
        Object.freeze({ tier: tierKey(tier), usd_per_1000_credits, credits_per_page: credits }),
      ]),
    );
  }

  get version(): string {
    return this.table.version;
  }

  /** What the table prices for `provider`: model names, or LlamaParse tiers (what warm-up loads for). */
  models(provider: Provider): string[] {
    return pricedByPages(provider)
      ? [...this.#tiers.keys()]
      : [...(this.#byProvider.get(provider)?.models.keys() ?? [])];
  }

  /**
   * The price entry for a model (a provider priced by tokens) or a tier (LlamaParse), or undefined
   * when unknown. Models: the exact name first; else a dated snapshot prices as its base model, the
   * longest known name that the undated name starts with (up to a `-`), so `gpt-4o-mini-2024-07-18`
   * is `gpt-4o-mini`, never `gpt-4o`, and `claude-haiku-4-5-20251001` is `claude-haiku-4-5`.
   */
  lookup(provider: 'llamaparse', tier: string): LlamaParseTierPrice | undefined;
  lookup(provider: TokenPricedProvider, model: string): TokenPrice | undefined;
  lookup(provider: Provider, model: string): TokenPrice | LlamaParseTierPrice | undefined;
  lookup(provider: Provider, model: string): TokenPrice | LlamaParseTierPrice | undefined {
    if (pricedByPages(provider)) return this.#tiers.get(model) ?? this.#tiers.get(tierKey(model));
    const index = this.#byProvider.get(provider);
    if (index === undefined) return undefined;
    const hit = index.cache.get(model);
    if (hit !== undefined) return hit ?? undefined;
    const found = resolve(index, model);
    if (index.cache.size >= MAX_CACHED) {
      const oldest = index.cache.keys().next();
      if (!oldest.done) index.cache.delete(oldest.value);
    }
    index.cache.set(model, found ?? null);
    return found;
  }
}

function resolve(index: ModelIndex, model: string): TokenPrice | undefined {
  const name = model.trim().toLowerCase();
  const exact = index.models.get(name);
  if (exact) return exact;
  const base = name.replace(DATE_SUFFIX, '');
  const undated = index.models.get(base);
  if (undated) return undated;
  for (const known of index.byLength) {
    if (known.length < base.length && base.startsWith(known) && base.charCodeAt(known.length) === 45 /* - */) {
      return index.models.get(known);
    }
  }
  return undefined;
}

export type PriceReload = { ok: true; prices: Prices } | { ok: false; issues: string[] };

/**
 * Holds the prices in force and swaps them on reload. A reload whose table is invalid keeps
 * the old prices and returns why (hot reload: the old config stays in force).
 *
 * @example
 * const source = new PriceSource({ file: config.pricesFile, extra: config.extraPrices });
 * costOf(source.current, 'openai', usage);
 * const result = source.reload({ file: next.pricesFile, extra: next.extraPrices });
 * if (!result.ok) log.error({ issues: result.issues }, 'price table rejected; the previous prices stay');
 */
export class PriceSource {
  #current: Prices;
  #options: LoadPriceTableOptions;

  /** Throws a {@link PriceTableError} when the initial table is invalid. */
  constructor(options: LoadPriceTableOptions = {}) {
    this.#options = options;
    this.#current = new Prices(loadPriceTable(options));
  }

  get current(): Prices {
    return this.#current;
  }

  /** Re-reads the table (with new options, or the last ones); keeps the old prices on failure. */
  reload(options: LoadPriceTableOptions = this.#options): PriceReload {
    let table: PriceTable;
    try {
      table = loadPriceTable(options);
    } catch (e) {
      return { ok: false, issues: e instanceof PriceTableError ? e.issues : [String(e)] };
    }
    this.#options = options;
    this.#current = new Prices(table);
    return { ok: true, prices: this.#current };
  }
}
