import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emptyUsage, type Usage } from '../providers/adapter.js';
import { costOf, loadPriceTable, Prices, worstCaseCost } from './index.js';

const prices = new Prices(loadPriceTable());
const usage = (u: Partial<Usage>): Usage => ({ ...emptyUsage(), ...u });
// A table with a round credit price, so LlamaParse figures do not depend on the shipped rate.
const lp = new Prices(loadPriceTable({ extra: { llamaparse: { usd_per_1000_credits: 1 } } }));

describe('costOf: OpenAI tokens', () => {
  it('prices gpt-4o-mini with cached input', () => {
    // gpt-4o-mini: $0.15 input, $0.075 cached, $0.60 output per 1M tokens.
    // (1000 − 400) × 0.15 + 400 × 0.075 + 500 × 0.60 = 90 + 30 + 300 = 420 µUSD = $0.00042
    const cost = costOf(
      prices,
      'openai',
      usage({ inputTokens: 1000, cachedInputTokens: 400, outputTokens: 500, model: 'gpt-4o-mini' }),
    );
    assert.deepEqual(cost, { usd: 0.00042, priced: true, model: 'gpt-4o-mini' });
  });

  it('prices an embedding by its input alone', () => {
    // text-embedding-3-small: $0.02 per 1M tokens; 12,345 × 0.02 = 246.9 µUSD = $0.0002469
    const cost = costOf(prices, 'openai', usage({ inputTokens: 12_345, model: 'text-embedding-3-small' }));
    assert.deepEqual(cost, { usd: 0.0002469, priced: true, model: 'text-embedding-3-small' });
    // text-embedding-3-large: $0.13 per 1M; 1,000,000 × 0.13 = $0.13
    assert.equal(costOf(prices, 'openai', usage({ inputTokens: 1_000_000 }), 'text-embedding-3-large').usd, 0.13);
  });

  it('prices a dated snapshot as its base model', () => {
    // gpt-4.1: $2 input, $0.50 cached, $8 output per 1M.
    // (3000 − 1000) × 2 + 1000 × 0.5 + 250 × 8 = 4000 + 500 + 2000 = 6500 µUSD = $0.0065
    const cost = costOf(
      prices,
      'openai',
      usage({ inputTokens: 3000, cachedInputTokens: 1000, outputTokens: 250, model: 'gpt-4.1-2025-04-14' }),
    );
    assert.deepEqual(cost, { usd: 0.0065, priced: true, model: 'gpt-4.1-2025-04-14' });
  });

  it('books an unknown model at 0, unpriced', () => {
    const cost = costOf(prices, 'openai', usage({ inputTokens: 1000, outputTokens: 1000, model: 'llama-3-70b' }));
    assert.deepEqual(cost, { usd: 0, priced: false, model: 'llama-3-70b' });
    assert.deepEqual(costOf(prices, 'openai', usage({ inputTokens: 5 })), { usd: 0, priced: false, model: undefined });
  });

  it('uses the model the response names, else the request model', () => {
    // Response says gpt-4o: 1000 × 2.5 + 100 × 10 = 3500 µUSD. Request said gpt-4o-mini.
    const named = costOf(
      prices,
      'openai',
      usage({ inputTokens: 1000, outputTokens: 100, model: 'gpt-4o' }),
      'gpt-4o-mini',
    );
    assert.deepEqual(named, { usd: 0.0035, priced: true, model: 'gpt-4o' });
    // No model in the response: the request's, gpt-4o-mini: 1000 × 0.15 + 100 × 0.6 = 210 µUSD.
    const fromRequest = costOf(prices, 'openai', usage({ inputTokens: 1000, outputTokens: 100 }), 'gpt-4o-mini');
    assert.deepEqual(fromRequest, { usd: 0.00021, priced: true, model: 'gpt-4o-mini' });
    // A response model the table does not know falls back to the request's.
    const unknown = costOf(
      prices,
      'openai',
      usage({ inputTokens: 1000, outputTokens: 100, model: 'weird' }),
      'gpt-4o-mini',
    );
    assert.deepEqual(unknown, { usd: 0.00021, priced: true, model: 'gpt-4o-mini' });
  });

  it('sums without float noise', () => {
    // gpt-5-nano: $0.05 / $0.005 / $0.40. (7 − 3) × 0.05 + 3 × 0.005 + 9 × 0.4 = 0.2 + 0.015 + 3.6
    // = 3.815 µUSD = $0.000003815 (naive float sums give 0.0000038150000000000004 and the like).
    const cost = costOf(
      prices,
      'openai',
      usage({ inputTokens: 7, cachedInputTokens: 3, outputTokens: 9, model: 'gpt-5-nano' }),
    );
    assert.equal(cost.usd, 0.000003815);
    // o4-mini: 1 × 1.1 + 1 × 4.4 = 5.5 µUSD.
    assert.equal(costOf(prices, 'openai', usage({ inputTokens: 1, outputTokens: 1, model: 'o4-mini' })).usd, 0.0000055);
  });

  it('treats more cached than input, negative and non-finite counts as bounded', () => {
    // gpt-4o-mini: cached capped at input 100: 100 × 0.075 = 7.5 µUSD; output −5 → 0.
    const cost = costOf(
      prices,
      'openai',
      usage({ inputTokens: 100, cachedInputTokens: 500, outputTokens: -5, model: 'gpt-4o-mini' }),
    );
    assert.equal(cost.usd, 0.0000075);
    assert.equal(costOf(prices, 'openai', usage({ inputTokens: Number.NaN, model: 'gpt-4o-mini' })).usd, 0);
  });
});

describe('costOf: LlamaParse', () => {
  it('prices the credits the job reported', () => {
    // 135 credits × $1 / 1000 = $0.135 (the tier does not matter when credits are reported).
    const cost = costOf(lp, 'llamaparse', usage({ pages: 45, credits: 135, tier: 'agentic' }));
    assert.deepEqual(cost, { usd: 0.135, priced: true, model: 'agentic' });
    // Shipped rate $1.25 per 1000: 135 × 1.25 / 1000 = $0.16875
    assert.equal(costOf(prices, 'llamaparse', usage({ pages: 45, credits: 135 })).usd, 0.16875);
  });

  it('prices pages by tier when no credits are reported', () => {
    // 10 pages × credits per page × $1 / 1000:
    // fast 10 × 1 = 10 credits = $0.01; cost_effective 10 × 3 = 30 = $0.03;
    // agentic 10 × 10 = 100 = $0.1; agentic_plus 10 × 45 = 450 = $0.45
    const expected = { fast: 0.01, cost_effective: 0.03, agentic: 0.1, agentic_plus: 0.45 };
    for (const [tier, usd] of Object.entries(expected)) {
      assert.deepEqual(costOf(lp, 'llamaparse', usage({ pages: 10, tier })), { usd, priced: true, model: tier });
    }
  });

  it('takes the tier from the request, else cost_effective', () => {
    // agentic_plus from the request: 2 pages × 45 = 90 credits = $0.09
    assert.equal(costOf(lp, 'llamaparse', usage({ pages: 2 }), 'agentic_plus').usd, 0.09);
    // Default cost_effective: 7 pages × 3 = 21 credits = $0.021
    assert.deepEqual(costOf(lp, 'llamaparse', usage({ pages: 7 })), {
      usd: 0.021,
      priced: true,
      model: 'cost_effective',
    });
  });

  it('books an unknown tier at 0, unpriced', () => {
    assert.deepEqual(costOf(lp, 'llamaparse', usage({ pages: 3, tier: 'premium' })), {
      usd: 0,
      priced: false,
      model: 'premium',
    });
  });
});

describe('worstCaseCost', () => {
  it('reserves prompt at the full input price plus the whole output allowance', () => {
    // gpt-4o-mini: 1000 × 0.15 + 4096 × 0.60 = 150 + 2457.6 = 2607.6 µUSD = $0.0026076
    assert.deepEqual(worstCaseCost(prices, 'openai', 'gpt-4o-mini', 1000, 4096), {
      usd: 0.0026076,
      priced: true,
      model: 'gpt-4o-mini',
    });
  });

  it('is never below the settled cost of the same call', () => {
    const worst = worstCaseCost(prices, 'openai', 'gpt-4o-mini', 1000, 500).usd;
    const actual = costOf(
      prices,
      'openai',
      usage({ inputTokens: 1000, cachedInputTokens: 400, outputTokens: 500, model: 'gpt-4o-mini' }),
    ).usd;
    // 1000 × 0.15 + 500 × 0.6 = 450 µUSD ≥ 420 µUSD
    assert.equal(worst, 0.00045);
    assert.ok(worst >= actual);
  });

  it('prices a dated snapshot and reports an unknown model unpriced', () => {
    // o3-2025-04-16 → o3: 2000 × 2 + 1000 × 8 = 12000 µUSD = $0.012
    assert.equal(worstCaseCost(prices, 'openai', 'o3-2025-04-16', 2000, 1000).usd, 0.012);
    assert.deepEqual(worstCaseCost(prices, 'openai', 'mystery', 1, 1), { usd: 0, priced: false, model: 'mystery' });
  });

  it('reads pages and tier for LlamaParse', () => {
    // 4 pages × 10 credits (agentic) × $1 / 1000 = $0.04
    assert.equal(worstCaseCost(lp, 'llamaparse', 'agentic', 4, 0).usd, 0.04);
  });
});

describe('costOf: Anthropic tokens, with prompt-cache reads and writes', () => {
  it('prices input, cache reads, 5-minute and 1-hour writes and output at their own rates', () => {
    // claude-sonnet-5-5: $2 input, $0.10 read, $2.50 5m write, $4 1h write, $10 output per 1M.
    // inputTokens is the whole prompt: 25 uncached + 1,000 read + 300 written (100 of them for 1 h).
    // 25 × 2 + 1000 × 0.1 + 200 × 2.5 + 100 × 4 + 40 × 10 = 50 + 100 + 500 + 400 + 400 = 1450 µUSD
    const u = usage({
      inputTokens: 1325,
      cachedInputTokens: 1000,
      cacheWriteTokens: 300,
      cacheWrite1hTokens: 100,
      outputTokens: 40,
      model: 'claude-sonnet-5-5',
    });
    assert.deepEqual(costOf(prices, 'anthropic', u), { usd: 0.00145, priced: true, model: 'claude-sonnet-5-5' });
  });

  it('prices a dated model id as its alias', () => {
    // claude-haiku-4-5: $1 input, $5 output per 1M: 1000 × 1 + 200 × 5 = 2000 µUSD
    const u = usage({ inputTokens: 1000, outputTokens: 200, model: 'claude-haiku-4-5-20251001' });
    assert.equal(costOf(prices, 'anthropic', u).usd, 0.002);
    assert.equal(prices.lookup('anthropic', 'claude-haiku-4-5-20251001'), prices.table.anthropic['claude-haiku-4-5']);
    assert.equal(prices.lookup('anthropic', 'claude-opus-4-1-20250805'), prices.table.anthropic['claude-opus-4-1']);
    assert.equal(prices.lookup('openai', 'claude-haiku-4-5'), undefined, 'each provider has its own table');
  });

  it('prices writes at the input rate where a table names no write rate (OpenAI)', () => {
    // gpt-4o-mini: 600 × 0.15 + 400 × 0.075 (reads) + 0 × … = 120 µUSD; the 100 writes at input: +15
    const u = usage({ inputTokens: 1100, cachedInputTokens: 400, cacheWriteTokens: 100, model: 'gpt-4o-mini' });
    assert.equal(costOf(prices, 'openai', u).usd, 0.000135);
  });

  it('reserves every prompt token at the dearest prompt rate (a 1-hour write) for admission', () => {
    // claude-sonnet-5-5: 1000 × 4 + 500 × 10 = 9000 µUSD, never below any actual bill of that size.
    assert.equal(worstCaseCost(prices, 'anthropic', 'claude-sonnet-5-5', 1000, 500).usd, 0.009);
  });

  it('takes extra Anthropic prices from CONFIG_FILE, merged over the shipped ones', () => {
    const table = loadPriceTable({
      extra: { anthropic: { 'claude-house': { input_per_1m: 1, cached_input_per_1m: 0.1, output_per_1m: 2 } } },
    });
    const p = new Prices(table);
    assert.equal(
      costOf(p, 'anthropic', usage({ inputTokens: 1000, outputTokens: 1000, model: 'claude-house' })).usd,
      0.003,
    );
    assert.ok(p.lookup('anthropic', 'claude-sonnet-5-5'), 'the shipped models stay');
  });
});
