import { CATALOG, type Provider } from '../config/index.js';
import type { Usage } from '../providers/index.js';
import type { Prices, TokenPrice } from './prices.js';

/**
 * The cost of a call.
 *
 * Rounding: prices are turned into whole pico-dollars (1e-12 USD) per token or per credit
 * (`USD per 1M tokens × 1e6`, `USD per 1,000 credits × 1e9`), the call is summed in pico-dollars
 * (integers for whole token counts, exact below 2^53, about $9,000) and rounded once to a whole
 * pico-dollar, then divided by 1e12. A division of two exact integers is correctly rounded, so the
 * result is the double nearest the true decimal figure: 420,000,000 pUSD gives exactly `0.00042`,
 * with no float noise to leak into ledgers, headers or test assertions. Prices are therefore
 * resolved to 1e-6 USD per million tokens, far below any published price step.
 */

export interface Cost {
  /** USD, rounded to the pico-dollar. 0 when not priced. */
  usd: number;
  /** False when the model (or LlamaParse tier) is not in the price table: booked at 0. */
  priced: boolean;
  /** The model (or tier) the cost was looked up by. */
  model: string | undefined;
}

const PICO = 1e12;
/** How each provider is priced (tokens or pages), from the provider catalog. */
const PRICE_KIND = new Map<Provider, 'tokens' | 'pages'>(CATALOG.map((p) => [p.name, p.priceKind]));
const pricedByPages = (provider: Provider) => PRICE_KIND.get(provider) === 'pages';
/** Default LlamaParse tier: what LlamaCloud runs when an upload names none. */
const DEFAULT_TIER = 'cost_effective';

/** The token price of a model of a provider priced by tokens. */
const tokenEntry = (prices: Prices, provider: Provider, model: string): TokenPrice | undefined =>
  prices.lookup(provider, model) as TokenPrice | undefined;

/** A count as the price arithmetic may use it: finite and not negative, else 0. */
const count = (v: number | undefined): number => (v !== undefined && Number.isFinite(v) && v > 0 ? v : 0);
/** USD per 1M tokens → pico-dollars per token. */
const picoPerToken = (usdPerMillion: number) => Math.round(usdPerMillion * 1e6);
const toUsd = (pico: number) => Math.round(pico) / PICO;
const unpriced = (model: string | undefined): Cost => ({ usd: 0, priced: false, model });

/** The rate of a 5-minute and of a 1-hour cache write: each defaults to the rate below it (1h → 5m → input). */
const writeRates = (entry: TokenPrice) => {
  const write = entry.cache_write_per_1m ?? entry.input_per_1m;
  return { write, write1h: entry.cache_write_1h_per_1m ?? write };
};

/**
 * `inputTokens` is the whole prompt, whatever the provider reports apart: cache reads and cache
 * writes are parts of it, each at its own rate, and the rest is at the input rate.
 */
function tokenCost(entry: TokenPrice, usage: Usage): number {
  const inTokens = count(usage.inputTokens);
  const cachedTokens = Math.min(count(usage.cachedInputTokens), inTokens);
  const writes = Math.min(count(usage.cacheWriteTokens), inTokens - cachedTokens);
  const writes1h = Math.min(count(usage.cacheWrite1hTokens), writes);
  const { write, write1h } = writeRates(entry);
  return toUsd(
    (inTokens - cachedTokens - writes) * picoPerToken(entry.input_per_1m) +
      cachedTokens * picoPerToken(entry.cached_input_per_1m) +
      (writes - writes1h) * picoPerToken(write) +
      writes1h * picoPerToken(write1h) +
      count(usage.outputTokens) * picoPerToken(entry.output_per_1m),
  );
}

/** The tier LlamaParse's auto mode upgrades a triggered page to (premium mode). */
const PREMIUM_TIER = 'agentic_plus';

function pageCost(prices: Prices, tier: string, pages: number, credits: number | undefined, premium = 0): Cost {
  const rate = Math.round(prices.table.llamaparse.usd_per_1000_credits * 1e9); // pUSD per credit
  if (credits !== undefined && Number.isFinite(credits) && credits >= 0) {
    return { usd: toUsd(credits * rate), priced: true, model: tier };
  }
  const entry = prices.lookup('llamaparse', tier);
  if (!entry) return unpriced(tier);
  // Pages auto mode upgraded are billed at the premium rate on top of the job's pages.
  const premiumCredits = count(premium) * (prices.lookup('llamaparse', PREMIUM_TIER)?.credits_per_page ?? 0);
  return {
    usd: toUsd((count(pages) * entry.credits_per_page + premiumCredits) * rate),
    priced: true,
    model: entry.tier,
  };
}

/**
 * What a call cost, from the usage the response reported.
 *
 * - Providers priced by tokens (OpenAI, Anthropic): by the model the response names, else the
 *   request's (also when the response names a model the table does not know):
 *   `(input − cached − writes) × input + cached × cached_input + 5-minute writes × cache_write
 *   + 1-hour writes × cache_write_1h + output × output`, per 1M tokens (`input` is the whole
 *   prompt; OpenAI reports no writes, so for it this is `(input − cached) × input + …`).
 * - LlamaParse: the credits the job reported × USD per 1,000 credits; without credits,
 *   pages × the tier's credits per page (tier from the usage, else `requestModel`, else
 *   `cost_effective`).
 * - An unknown model or tier: `{ usd: 0, priced: false }`.
 *
 * @example
 * costOf(prices, 'openai', { inputTokens: 1000, cachedInputTokens: 400, outputTokens: 500, pages: 0, model: 'gpt-4o-mini' });
 * // → { usd: 0.00042, priced: true, model: 'gpt-4o-mini' }
 */
export function costOf(prices: Prices, provider: Provider, usage: Usage, requestModel?: string): Cost {
  if (pricedByPages(provider)) {
    return pageCost(prices, usage.tier ?? requestModel ?? DEFAULT_TIER, usage.pages, usage.credits, usage.premiumPages);
  }
  let model = usage.model ?? requestModel;
  if (model === undefined) return unpriced(undefined);
  let entry = tokenEntry(prices, provider, model);
  if (!entry && requestModel !== undefined && requestModel !== model) {
    const fallback = tokenEntry(prices, provider, requestModel);
    if (fallback) {
      entry = fallback;
      model = requestModel;
    }
  }
  if (!entry) return unpriced(model);
  return { usd: tokenCost(entry, usage), priced: true, model };
}

/**
 * The most a call can cost, for admission: every prompt token at the dearest prompt rate (the input
 * price, or a cache write's where the table prices writes above it; never the cache-read discount)
 * plus `maxOutputTokens` at the output price. For LlamaParse, `model` is the tier
 * (default `cost_effective`) and `promptTokens` is read as the number of pages.
 *
 * @example
 * worstCaseCost(prices, 'openai', 'gpt-4o-mini', 1000, 4096);
 * // 1000 × 0.15 + 4096 × 0.60 = 2607.6 µUSD → { usd: 0.0026076, priced: true, model: 'gpt-4o-mini' }
 */
export function worstCaseCost(
  prices: Prices,
  provider: Provider,
  model: string | undefined,
  promptTokens: number,
  maxOutputTokens: number,
): Cost {
  if (pricedByPages(provider)) return pageCost(prices, model ?? DEFAULT_TIER, promptTokens, undefined);
  if (model === undefined) return unpriced(undefined);
  const entry = tokenEntry(prices, provider, model);
  if (!entry) return unpriced(model);
  const { write, write1h } = writeRates(entry);
  const dearest = Math.max(entry.input_per_1m, write, write1h);
  return {
    usd: toUsd(
      count(promptTokens) * picoPerToken(dearest) + count(maxOutputTokens) * picoPerToken(entry.output_per_1m),
    ),
    priced: true,
    model,
  };
}
