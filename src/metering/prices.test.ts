import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadPriceTable, PriceSource, Prices, type PriceTable, PriceTableError } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-prices-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
const writeJson = (value: unknown): string => {
  const file = join(dir, `prices-${n++}.json`);
  writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
  return file;
};

const table = (openai: Record<string, unknown>): Record<string, unknown> => ({
  version: 'test-1',
  currency: 'USD',
  openai,
  llamaparse: {
    usd_per_1000_credits: 2,
    credits_per_page: { fast: 1, cost_effective: 3, agentic: 10, agentic_plus: 45 },
  },
});

const issuesOf = (fn: () => unknown): string[] => {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof PriceTableError, `expected PriceTableError, got ${e}`);
    assert.equal(e.code, 'invalid_price_table');
    return e.issues;
  }
  assert.fail('expected a PriceTableError');
};

describe('the shipped price table', () => {
  const shipped = loadPriceTable();

  it('is valid, versioned, in USD and names its sources', () => {
    assert.equal(shipped.version, '2026-11-01');
    assert.equal(shipped.currency, 'USD');
    assert.ok(shipped.sources?.openai?.includes('openai.com'));
    assert.ok(shipped.sources?.llamaparse?.includes('llamaindex.ai'));
  });

  it('prices every current chat, reasoning and embedding model', () => {
    for (const model of [
      'gpt-4o',
      'gpt-4o-mini',
      'gpt-4.1',
      'gpt-4.1-mini',
      'gpt-4.1-nano',
      'gpt-5',
      'gpt-5-mini',
      'gpt-5-nano',
      'o1',
      'o3',
      'o3-mini',
      'o4-mini',
      'gpt-3.5-turbo',
      'gpt-4-turbo',
      'gpt-4',
      'text-embedding-3-small',
      'text-embedding-3-large',
      'text-embedding-ada-002',
    ]) {
      assert.ok(shipped.openai[model], `${model} is missing`);
    }
  });

  it('gives embeddings no output price and no cache discount', () => {
    for (const model of ['text-embedding-3-small', 'text-embedding-3-large', 'text-embedding-ada-002']) {
      const entry = shipped.openai[model]!;
      assert.equal(entry.output_per_1m, 0);
      assert.equal(entry.cached_input_per_1m, entry.input_per_1m);
    }
  });

  it('never prices cached input above input', () => {
    for (const [model, entry] of Object.entries(shipped.openai)) {
      assert.ok(entry.cached_input_per_1m <= entry.input_per_1m, model);
    }
  });

  it('holds LlamaCloud credits per page by tier', () => {
    assert.deepEqual(shipped.llamaparse.credits_per_page, {
      fast: 1,
      cost_effective: 3,
      agentic: 10,
      agentic_plus: 45,
    });
    assert.ok(shipped.llamaparse.usd_per_1000_credits > 0);
  });
});

describe('price table validation', () => {
  it('rejects a negative, a missing and a string price, naming all three', () => {
    const file = writeJson(
      table({
        'gpt-4o': { input_per_1m: 2.5, cached_input_per_1m: 1.25, output_per_1m: -10 },
        'gpt-4o-mini': { input_per_1m: 0.15, output_per_1m: 0.6 },
        'gpt-4.1': { input_per_1m: '2', cached_input_per_1m: 0.5, output_per_1m: 8 },
      }),
    );
    const issues = issuesOf(() => loadPriceTable({ file }));
    assert.deepEqual(issues.toSorted(), [
      'openai.gpt-4.1.input_per_1m: must be a number',
      'openai.gpt-4o-mini.cached_input_per_1m: is required',
      'openai.gpt-4o.output_per_1m: must not be negative',
    ]);
  });

  it('rejects a misspelt field and a missing LlamaParse tier', () => {
    const bad = table({ 'gpt-4o': { input_per_1m: 1, cached_input_per_1m: 1, output_per_1m: 1, ouput_per_1m: 1 } });
    bad.llamaparse = { usd_per_1000_credits: 1, credits_per_page: { fast: 1, agentic: 10, agentic_plus: 45 } };
    const issues = issuesOf(() => loadPriceTable({ file: writeJson(bad) }));
    assert.deepEqual(issues.toSorted(), [
      'llamaparse.credits_per_page.cost_effective: is required',
      'openai.gpt-4o.ouput_per_1m: is not a known field',
    ]);
  });

  it('reports a PRICES_FILE that cannot be read or is not JSON', () => {
    assert.match(
      issuesOf(() => loadPriceTable({ file: join(dir, 'nope.json') }))[0]!,
      /^PRICES_FILE: cannot read .*ENOENT/,
    );
    assert.match(
      issuesOf(() => loadPriceTable({ file: writeJson('{ nope') }))[0]!,
      /^PRICES_FILE: .* is not valid JSON/,
    );
  });
});

describe('PRICES_FILE and CONFIG_FILE prices', () => {
  it('uses PRICES_FILE instead of the shipped table, whole', () => {
    const file = writeJson(table({ 'my-model': { input_per_1m: 1, cached_input_per_1m: 0.5, output_per_1m: 2 } }));
    const loaded = loadPriceTable({ file });
    assert.equal(loaded.version, 'test-1');
    assert.deepEqual(Object.keys(loaded.openai), ['my-model']);
    assert.equal(new Prices(loaded).lookup('openai', 'gpt-4o'), undefined);
  });

  it('merges CONFIG_FILE entries over the table: new models, single fields, LlamaParse rates', () => {
    const loaded = loadPriceTable({
      extra: {
        openai: {
          'ft-house-model': { input_per_1m: 3, cached_input_per_1m: 1.5, output_per_1m: 12 },
          'gpt-4o': { output_per_1m: 9 },
        },
        llamaparse: { usd_per_1000_credits: 1, credits_per_page: { agentic: 12 } },
      },
    });
    assert.deepEqual(loaded.openai['ft-house-model'], { input_per_1m: 3, cached_input_per_1m: 1.5, output_per_1m: 12 });
    assert.deepEqual(loaded.openai['gpt-4o'], { input_per_1m: 2.5, cached_input_per_1m: 1.25, output_per_1m: 9 });
    assert.equal(loaded.openai['gpt-4o-mini']?.input_per_1m, 0.15);
    assert.equal(loaded.llamaparse.usd_per_1000_credits, 1);
    assert.deepEqual(loaded.llamaparse.credits_per_page, { fast: 1, cost_effective: 3, agentic: 12, agentic_plus: 45 });
  });

  it('merges CONFIG_FILE entries over PRICES_FILE', () => {
    const file = writeJson(table({ a: { input_per_1m: 1, cached_input_per_1m: 1, output_per_1m: 1 } }));
    const loaded = loadPriceTable({
      file,
      extra: { openai: { b: { input_per_1m: 2, cached_input_per_1m: 2, output_per_1m: 2 } } },
    });
    assert.deepEqual(Object.keys(loaded.openai).toSorted(), ['a', 'b']);
  });

  it('validates CONFIG_FILE entries the same way, under prices.', () => {
    const issues = issuesOf(() =>
      loadPriceTable({
        extra: {
          openai: {
            'new-model': { input_per_1m: 1 },
            'gpt-4o': { output_per_1m: -1 },
          },
          llamaparse: { usd_per_1000_credits: 'cheap' },
        },
      }),
    );
    assert.deepEqual(issues.toSorted(), [
      'prices.llamaparse.usd_per_1000_credits: must be a number',
      'prices.openai.gpt-4o.output_per_1m: must not be negative',
    ]);
    // Field-level problems are reported first; a new model's completeness once those are fixed.
    const incomplete = issuesOf(() => loadPriceTable({ extra: { openai: { 'new-model': { input_per_1m: 1 } } } }));
    assert.deepEqual(incomplete.toSorted(), [
      'prices.openai.new-model.cached_input_per_1m: is required',
      'prices.openai.new-model.output_per_1m: is required',
    ]);
  });

  it('rejects unknown top-level CONFIG_FILE price keys', () => {
    const issues = issuesOf(() => loadPriceTable({ extra: { 'gpt-4o': { input_per_1m: 1 } } }));
    assert.deepEqual(issues, ['prices.gpt-4o: is not a known field']);
  });
});

describe('Prices.lookup', () => {
  const prices = new Prices(loadPriceTable());
  const price = (model: string) => prices.table.openai[model];

  it('finds an exact model', () => {
    assert.equal(prices.lookup('openai', 'gpt-4o-mini'), price('gpt-4o-mini'));
  });

  it('prices dated snapshots as their base model', () => {
    assert.equal(prices.lookup('openai', 'gpt-4o-mini-2024-07-18'), price('gpt-4o-mini'));
    assert.equal(prices.lookup('openai', 'gpt-4.1-2025-04-14'), price('gpt-4.1'));
    assert.equal(prices.lookup('openai', 'gpt-4.1-mini-2025-04-14'), price('gpt-4.1-mini'));
    assert.equal(prices.lookup('openai', 'o3-2025-04-16'), price('o3'));
    assert.equal(prices.lookup('openai', 'o3-mini-2025-01-31'), price('o3-mini'));
    assert.equal(prices.lookup('openai', 'gpt-4o-2024-08-06'), price('gpt-4o'));
    assert.equal(prices.lookup('openai', 'gpt-5-2025-08-07'), price('gpt-5'));
    assert.equal(prices.lookup('openai', 'gpt-4-0613'), price('gpt-4'));
    assert.equal(prices.lookup('openai', 'gpt-3.5-turbo-0125'), price('gpt-3.5-turbo'));
    assert.equal(prices.lookup('openai', 'gpt-4-turbo-2024-04-09'), price('gpt-4-turbo'));
    assert.equal(prices.lookup('openai', 'gpt-4o-mini-20240718'), price('gpt-4o-mini'));
  });

  it('does not strip gpt-4o-mini down to gpt-4o', () => {
    const mini = prices.lookup('openai', 'gpt-4o-mini-2024-07-18');
    assert.notEqual(mini, price('gpt-4o'));
    assert.equal(mini?.input_per_1m, 0.15);
  });

  it('prefers an exact snapshot entry over its base model', () => {
    // gpt-4o-2024-05-13 kept its launch price ($5 / $15), unlike later gpt-4o snapshots.
    assert.equal(prices.lookup('openai', 'gpt-4o-2024-05-13')?.input_per_1m, 5);
    assert.equal(prices.lookup('openai', 'gpt-3.5-turbo-1106')?.input_per_1m, 1);
  });

  it('falls back to the longest known prefix for undated variants', () => {
    assert.equal(prices.lookup('openai', 'gpt-5-chat-latest'), price('gpt-5'));
    assert.equal(prices.lookup('openai', 'gpt-4o-mini-search-preview-2025-03-11'), price('gpt-4o-mini'));
    assert.equal(prices.lookup('openai', 'o1-mini-2024-09-12'), price('o1-mini'));
  });

  it('knows nothing of unknown models, nor of names that only share letters', () => {
    assert.equal(prices.lookup('openai', 'llama-3-70b'), undefined);
    assert.equal(prices.lookup('openai', 'gpt-4oo'), undefined);
    assert.equal(prices.lookup('openai', 'o'), undefined);
    assert.equal(prices.lookup('openai', 'constructor'), undefined);
    assert.equal(prices.lookup('openai', '__proto__'), undefined);
  });

  it('memoises: the same object each time, misses included', () => {
    const first = prices.lookup('openai', 'gpt-4.1-nano-2025-04-14');
    assert.ok(first);
    assert.equal(prices.lookup('openai', 'gpt-4.1-nano-2025-04-14'), first);
    assert.equal(prices.lookup('openai', 'gpt-4.1-nano'), first);
    assert.equal(prices.lookup('openai', 'no-such-model'), undefined);
    assert.equal(prices.lookup('openai', 'no-such-model'), undefined);
  });

  it('keeps a bounded cache under a flood of distinct model names', () => {
    const p = new Prices(loadPriceTable());
    for (let i = 0; i < 10_000; i++) p.lookup('openai', `made-up-${i}`);
    assert.equal(p.lookup('openai', 'gpt-4o-mini-2024-07-18'), p.table.openai['gpt-4o-mini']);
  });

  it('returns frozen entries that callers cannot change', () => {
    const entry = prices.lookup('openai', 'gpt-4o')!;
    assert.throws(() => {
      (entry as { input_per_1m: number }).input_per_1m = 0;
    }, TypeError);
  });

  it('looks up LlamaParse tiers, forgiving case and dashes', () => {
    assert.deepEqual(prices.lookup('llamaparse', 'agentic'), {
      tier: 'agentic',
      usd_per_1000_credits: prices.table.llamaparse.usd_per_1000_credits,
      credits_per_page: 10,
    });
    assert.equal(prices.lookup('llamaparse', 'Cost-Effective')?.credits_per_page, 3);
    assert.equal(prices.lookup('llamaparse', 'premium'), undefined);
  });
});

describe('PriceSource', () => {
  const valid = (input: number): PriceTable =>
    table({ m: { input_per_1m: input, cached_input_per_1m: input, output_per_1m: input } }) as PriceTable;

  it('swaps in a valid table on reload', () => {
    const file = writeJson(valid(1));
    const source = new PriceSource({ file });
    assert.equal(source.current.lookup('openai', 'm')?.input_per_1m, 1);
    writeFileSync(file, JSON.stringify(valid(2)));
    const result = source.reload();
    assert.equal(result.ok, true);
    assert.equal(source.current.lookup('openai', 'm')?.input_per_1m, 2);
  });

  it('keeps the old table on a bad reload and returns why', () => {
    const file = writeJson(valid(1));
    const source = new PriceSource({ file });
    const before = source.current;
    writeFileSync(file, JSON.stringify(valid(-1)));
    const result = source.reload();
    assert.equal(result.ok, false);
    assert.ok(!result.ok);
    assert.deepEqual(result.issues.toSorted(), [
      'openai.m.cached_input_per_1m: must not be negative',
      'openai.m.input_per_1m: must not be negative',
      'openai.m.output_per_1m: must not be negative',
    ]);
    assert.equal(source.current, before);
    assert.equal(source.current.lookup('openai', 'm')?.input_per_1m, 1);
  });

  it('takes new options on reload (CONFIG_FILE prices changed) and keeps them only when valid', () => {
    const source = new PriceSource();
    assert.equal(source.reload({ extra: { openai: { x: { input_per_1m: 1 } } } }).ok, false);
    assert.equal(source.current.lookup('openai', 'x'), undefined);
    const ok = source.reload({
      extra: { openai: { x: { input_per_1m: 1, cached_input_per_1m: 1, output_per_1m: 1 } } },
    });
    assert.equal(ok.ok, true);
    assert.equal(source.current.lookup('openai', 'x')?.output_per_1m, 1);
    // A plain reload re-reads with the options last in force.
    assert.equal(source.reload().ok, true);
    assert.equal(source.current.lookup('openai', 'x')?.output_per_1m, 1);
  });

  it('throws when the initial table is invalid', () => {
    assert.throws(() => new PriceSource({ file: writeJson(valid(-1)) }), PriceTableError);
  });
});
