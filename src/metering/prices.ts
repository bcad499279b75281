import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { Provider } from '../config/index.js';
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

const openAIPriceSchema = z.strictObject({
  input_per_1m: price,
  cached_input_per_1m: price,
  output_per_1m: price,
});

const creditsPerPageSchema = z
  .object({ fast: price, cost_effective: price, agentic: price, agentic_plus: price })
  .catchall(price);

export const priceTableSchema = z.object({
  version: z.string({ error: 'must be a string such as 2026-11-01' }).min(1, { error: 'must not be empty' }),
  currency: z.literal('USD', { error: 'must be USD' }),
  sources: z.record(z.string(), z.string({ error: 'must be a string' })).optional(),
  openai: z.record(z.string(), openAIPriceSchema, { error: 'must be an object of model → prices' }),
  llamaparse: z.strictObject(
    { usd_per_1000_credits: price, credits_per_page: creditsPerPageSchema },
    { error: 'must be an object with usd_per_1000_credits and credits_per_page' },
  ),
});

/** CONFIG_FILE `prices`: entries merged over the table; a known model may set only some fields. */
const extraSchema = z.strictObject(
  {
    openai: z.record(z.string(), openAIPriceSchema.partial()).optional(),
    llamaparse: z
      .strictObject({
        usd_per_1000_credits: price.optional(),
        credits_per_page: z.record(z.string(), price).optional(),
      })
      .optional(),
  },
  { error: 'must be an object with openai and/or llamaparse' },
);

export type PriceTable = z.infer<typeof priceTableSchema>;
/** USD per million tokens for one OpenAI model. */
export type OpenAIPrice = z.infer<typeof openAIPriceSchema>;
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
  const models = new Map(Object.entries(table.openai));
  for (const [model, entry] of Object.entries(more.data.openai ?? {})) {
    models.set(model, { ...models.get(model), ...entry } as OpenAIPrice);
  }
  const openai = Object.fromEntries(models);
  const lp = more.data.llamaparse;
  const merged = {
    ...table,
    openai,
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

/**
 * A validated price table with memoised lookups (the hot path: one Map hit per call once a
 * model has been seen).
 *
 * @example
 * const prices = new Prices(loadPriceTable());
 * prices.lookup('openai', 'gpt-4o-mini-2024-07-18'); // the gpt-4o-mini entry
 * prices.lookup('llamaparse', 'agentic'); // { tier: 'agentic', usd_per_1000_credits: 1.25, credits_per_page: 10 }
 */
export class Prices {
  readonly table: Readonly<PriceTable>;
  readonly #models: Map<string, OpenAIPrice>;
  /** Known model names, longest first, for the prefix fallback. */
  readonly #byLength: string[];
  readonly #tiers: Map<string, LlamaParseTierPrice>;
  readonly #cache = new Map<string, OpenAIPrice | null>();

  constructor(table: PriceTable) {
    this.table = deepFreeze(structuredClone(table));
    this.#models = new Map(Object.entries(this.table.openai).map(([name, entry]) => [name.toLowerCase(), entry]));
    this.#byLength = [...this.#models.keys()].sort((a, b) => b.length - a.length);
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

  /** What the table prices for `provider`: OpenAI model names, LlamaParse tiers (what warm-up loads for). */
  models(provider: Provider): string[] {
    return provider === 'openai' ? Object.keys(this.table.openai) : [...this.#tiers.keys()];
  }

  /**
   * The price entry for a model (OpenAI) or a tier (LlamaParse), or undefined when unknown.
   * OpenAI: the exact name first; else a dated snapshot prices as its base model, the longest
   * known name that the undated name starts with (up to a `-`), so `gpt-4o-mini-2024-07-18` is
   * `gpt-4o-mini`, never `gpt-4o`.
   */
  lookup(provider: 'openai', model: string): OpenAIPrice | undefined;
  lookup(provider: 'llamaparse', tier: string): LlamaParseTierPrice | undefined;
  lookup(provider: Provider, model: string): OpenAIPrice | LlamaParseTierPrice | undefined;
  lookup(provider: Provider, model: string): OpenAIPrice | LlamaParseTierPrice | undefined {
    if (provider === 'llamaparse') return this.#tiers.get(model) ?? this.#tiers.get(tierKey(model));
    const hit = this.#cache.get(model);
    if (hit !== undefined) return hit ?? undefined;
    const found = this.#resolve(model);
    if (this.#cache.size >= MAX_CACHED) {
      const oldest = this.#cache.keys().next();
      if (!oldest.done) this.#cache.delete(oldest.value);
    }
    this.#cache.set(model, found ?? null);
    return found;
  }

  #resolve(model: string): OpenAIPrice | undefined {
    const name = model.trim().toLowerCase();
    const exact = this.#models.get(name);
    if (exact) return exact;
    const base = name.replace(DATE_SUFFIX, '');
    const undated = this.#models.get(base);
    if (undated) return undated;
    for (const known of this.#byLength) {
      if (known.length < base.length && base.startsWith(known) && base.charCodeAt(known.length) === 45 /* - */) {
        return this.#models.get(known);
      }
    }
    return undefined;
  }
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
