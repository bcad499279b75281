import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { type Config, loadConfig } from '../config/index.js';
import { Limiter } from '../limits/index.js';
import { MemoryStore } from '../state/memory.js';
import type { LedgerRow } from '../state/types.js';
import { type CostReport, costReport, forecast, formatReport, type GroupKey } from './report.js';

const HOUR = 3_600_000;
const at = (iso: string) => Date.parse(iso);
/** "Now" for every report: 15:00 UTC on 28 November 2026, 15 hours into the day. */
const NOW = at('2026-11-28T15:00:00Z');

let seq = 0;
function row(iso: string, fields: Partial<LedgerRow> & Pick<LedgerRow, 'costNanoUsd'>): LedgerRow {
  seq += 1;
  const servedBy = fields.servedBy ?? 'real';
  return {
    id: `row-${seq}`,
    ts: at(iso),
    correlationId: `corr-${seq}`,
    traceId: '0'.repeat(32),
    provider: 'openai',
    operation: 'chat',
    model: 'gpt-4o-mini',
    servedBy,
    inputTokens: 0,
    cachedInputTokens: 0,
    outputTokens: 0,
    pages: 0,
    billable: servedBy === 'real',
    ...fields,
  };
}

/** Hand-made ledger: one row the day before, one a millisecond before midnight, six today. */
const rows: LedgerRow[] = [
  row('2026-11-27T20:00:00Z', {
    model: 'gpt-4o',
    inputTokens: 100_000,
    outputTokens: 100_000,
    costNanoUsd: 1_250_000_000,
  }),
  row('2026-11-27T23:59:59.999Z', { servedBy: 'mock', inputTokens: 10, outputTokens: 10, costNanoUsd: 7_500 }),
  // Today (2026-11-28 UTC):
  row('2026-11-28T00:00:00Z', { model: 'gpt-4o', inputTokens: 100, outputTokens: 100, costNanoUsd: 1_250_000 }),
  row('2026-11-28T01:00:00Z', { inputTokens: 1000, cachedInputTokens: 400, outputTokens: 500, costNanoUsd: 420_000 }),
  row('2026-11-28T02:00:00Z', { inputTokens: 2000, outputTokens: 100, costNanoUsd: 360_000 }),
  row('2026-11-28T03:00:00Z', {
    operation: 'embeddings',
    model: 'text-embedding-3-small',
    servedBy: 'mock',
    inputTokens: 500,
    costNanoUsd: 10_000,
  }),
  row('2026-11-28T14:00:00Z', {
    provider: 'llamaparse',
    operation: 'parse',
    model: 'cost_effective',
    pages: 4,
    costNanoUsd: 15_000_000,
  }),
  row('2026-11-28T14:30:00Z', { servedBy: 'mock', inputTokens: 100, outputTokens: 50, costNanoUsd: 45_000 }),
];

function configWith(env: Record<string, string>): Config {
  return loadConfig({ env: { ENV_FILE: '', STATE_URL: 'memory:', ...env } }).config;
}

async function ledger(config: Config): Promise<{ store: MemoryStore; limiter: Limiter }> {
  const store = new MemoryStore({ now: () => NOW });
  const limiter = new Limiter({ store, config: () => config, now: () => NOW });
  // `book` adds each billable row's spend to the budget windows of its own time, as the proxy does.
  for (const r of rows) assert.equal(await limiter.book(r), true);
  return { store, limiter };
}

const totalsOf = (r: CostReport) => {
  const { forecast_usd: _forecast, ...rest } = r.total;
  return rest;
};

describe('forecast', () => {
  const start = at('2026-11-28T00:00:00Z');
  const end = start + 24 * HOUR;

  it('extrapolates linearly to the end of the window', () => {
    assert.equal(forecast(1, start, end, start + 12 * HOUR), 2);
    assert.equal(forecast(0.5, start, end, start + 6 * HOUR), 2);
    assert.equal(
      forecast(0.1, start, start + 3 * HOUR, start + HOUR),
      0.3,
      'rounded to the nano-dollar, no float noise',
    );
  });

  it('is never below what was spent (at or after the end of the window)', () => {
    assert.equal(forecast(1.5, start, end, end), 1.5);
    assert.equal(forecast(1.5, start, end, end + 5 * HOUR), 1.5);
    assert.equal(forecast(0, start, end, start + HOUR), 0);
  });

  it('counts at least one minute elapsed, so an early first call does not forecast infinity', () => {
    assert.equal(forecast(1, start, end, start), 1440);
    assert.equal(forecast(1, start, end, start + 1000), 1440);
    assert.equal(forecast(1, start, end, start - HOUR), 1440, 'a clock behind the window start as well');
    assert.ok(Number.isFinite(forecast(1e6, start, end, start)));
  });
});

describe('costReport over a MemoryStore', () => {
  let budgeted: { store: MemoryStore; limiter: Limiter };
  let unbudgeted: { store: MemoryStore; limiter: Limiter };

  before(async () => {
    budgeted = await ledger(configWith({ BUDGET_DAILY_USD: '5', OPENAI_BUDGET_MONTHLY_USD: '100' }));
    unbudgeted = await ledger(configWith({}));
  });

  it('counts only the rows of the current window, mock shadow cost included in the total', async () => {
    const r = await costReport({ ...unbudgeted, window: 'day', timeZone: 'UTC', now: NOW });
    assert.equal(r.window, 'day');
    assert.equal(r.from, '2026-11-28T00:00:00Z');
    assert.equal(r.to, '2026-11-29T00:00:00Z');
    assert.deepEqual(totalsOf(r), {
      cost_usd: 0.017085,
      requests: 6,
      input_tokens: 3700,
      cached_input_tokens: 400,
      output_tokens: 750,
      pages: 4,
    });
    assert.equal(r.total.forecast_usd, forecast(0.017085, at(r.from), at(r.to), NOW));
    assert.equal(r.total.forecast_usd, 0.027336, '0.017085 × 24 h / 15 h');
    assert.deepEqual(r.by_served_by, {
      real: { cost_usd: 0.01703, requests: 4 },
      mock: { cost_usd: 0.000055, requests: 2 },
    });
    assert.deepEqual(r.budgets, [], 'no budget configured');
  });

  it('groups by provider and model by default, most expensive first', async () => {
    const r = await costReport({ ...unbudgeted, window: 'day', timeZone: 'UTC', now: NOW });
    assert.deepEqual(r.groups, [
      {
        provider: 'llamaparse',
        model: 'cost_effective',
        cost_usd: 0.015,
        requests: 1,
        input_tokens: 0,
        cached_input_tokens: 0,
        output_tokens: 0,
        pages: 4,
      },
      {
        provider: 'openai',
        model: 'gpt-4o',
        cost_usd: 0.00125,
        requests: 1,
        input_tokens: 100,
        cached_input_tokens: 0,
        output_tokens: 100,
        pages: 0,
      },
      {
        provider: 'openai',
        model: 'gpt-4o-mini',
        cost_usd: 0.000825,
        requests: 3,
        input_tokens: 3100,
        cached_input_tokens: 400,
        output_tokens: 650,
        pages: 0,
      },
      {
        provider: 'openai',
        model: 'text-embedding-3-small',
        cost_usd: 0.00001,
        requests: 1,
        input_tokens: 500,
        cached_input_tokens: 0,
        output_tokens: 0,
        pages: 0,
      },
    ]);
    const sum = r.groups.reduce((s, g) => s + Math.round(g.cost_usd * 1e9), 0);
    assert.equal(sum, Math.round(r.total.cost_usd * 1e9), 'groups add up to the total');
  });

  it('group_by served_by / operation / provider,model,served_by / nothing', async () => {
    const report = (groupBy: GroupKey[]) =>
      costReport({ ...unbudgeted, window: 'day', groupBy, timeZone: 'UTC', now: NOW });
    assert.deepEqual(
      (await report(['served_by'])).groups.map((g) => [g.served_by, g.cost_usd, g.requests]),
      [
        ['real', 0.01703, 4],
        ['mock', 0.000055, 2],
      ],
    );
    assert.deepEqual(
      (await report(['operation'])).groups.map((g) => [g.operation, g.cost_usd, g.requests, g.pages]),
      [
        ['parse', 0.015, 1, 4],
        ['chat', 0.002075, 4, 0],
        ['embeddings', 0.00001, 1, 0],
      ],
    );
    const fine = await report(['provider', 'model', 'served_by']);
    assert.deepEqual(
      fine.groups.map((g) => `${g.provider}/${g.model}/${g.served_by}=${g.cost_usd}×${g.requests}`),
      [
        'llamaparse/cost_effective/real=0.015×1',
        'openai/gpt-4o/real=0.00125×1',
        'openai/gpt-4o-mini/real=0.00078×2',
        'openai/gpt-4o-mini/mock=0.000045×1',
        'openai/text-embedding-3-small/mock=0.00001×1',
      ],
    );
    assert.ok(
      fine.groups.every((g) => !('operation' in g)),
      'only the asked keys',
    );
    const none = await report([]);
    assert.equal(none.groups.length, 1, 'no keys: one group with everything');
    assert.equal(none.groups[0]!.cost_usd, 0.017085);
    assert.equal(none.groups[0]!.requests, 6);
    assert.deepEqual(Object.keys(none.groups[0]!).sort(), [
      'cached_input_tokens',
      'cost_usd',
      'input_tokens',
      'output_tokens',
      'pages',
      'requests',
    ]);
  });

  it('other windows: the hour so far and the month, which includes the day before', async () => {
    const hour = await costReport({ ...unbudgeted, window: 'hour', timeZone: 'UTC', now: at('2026-11-28T14:45:00Z') });
    assert.equal(hour.from, '2026-11-28T14:00:00Z');
    assert.equal(hour.to, '2026-11-28T15:00:00Z');
    assert.equal(hour.total.requests, 2);
    assert.equal(hour.total.cost_usd, 0.015045);
    const empty = await costReport({ ...unbudgeted, window: 'hour', timeZone: 'UTC', now: NOW });
    assert.equal(empty.total.requests, 0, 'nothing in the 15:00 hour yet');
    assert.equal(empty.total.cost_usd, 0);
    assert.equal(empty.total.forecast_usd, 0);
    assert.deepEqual(empty.groups, []);
    const month = await costReport({ ...unbudgeted, window: 'month', timeZone: 'UTC', now: NOW });
    assert.equal(month.from, '2026-11-01T00:00:00Z');
    assert.equal(month.to, '2026-12-01T00:00:00Z');
    assert.equal(month.total.requests, 8);
    assert.equal(month.total.cost_usd, 1.2670925);
  });

  it('windows follow the time zone: in Asia/Kolkata the day started at 18:30 UTC the day before', async () => {
    const r = await costReport({ ...unbudgeted, window: 'day', timeZone: 'Asia/Kolkata', now: NOW });
    assert.equal(r.from, '2026-11-27T18:30:00Z');
    assert.equal(r.to, '2026-11-28T18:30:00Z');
    // The 20:00Z and 23:59:59.999Z rows of the 27th are the 28th in India.
    assert.equal(r.total.requests, 8);
  });

  it('budgets come from the Limiter: real spend only, in each budget’s own window, with a forecast', async () => {
    const r = await costReport({ ...budgeted, window: 'day', timeZone: 'UTC', now: NOW });
    assert.deepEqual(
      totalsOf(r),
      totalsOf(await costReport({ ...unbudgeted, window: 'day', timeZone: 'UTC', now: NOW })),
    );
    const daily = r.budgets.find((b) => b.scope === 'total' && b.window === 'day');
    assert.ok(daily, JSON.stringify(r.budgets));
    assert.deepEqual(daily, {
      scope: 'total',
      window: 'day',
      limit_usd: 5,
      spent_usd: 0.01703, // billable (real) rows of today; the mock shadow cost does not count
      held_usd: 0,
      remaining_usd: 4.98297,
      forecast_usd: 0.027248, // 0.01703 × 24 h / 15 h
      from: '2026-11-28T00:00:00Z',
      to: '2026-11-29T00:00:00Z',
    });
    const monthly = r.budgets.find((b) => b.scope === 'openai' && b.window === 'month');
    assert.ok(monthly, JSON.stringify(r.budgets));
    // OpenAI real rows of November: yesterday's $1.25 and today's 0.00125 + 0.00042 + 0.00036.
    assert.equal(monthly.spent_usd, 1.25203);
    assert.equal(monthly.remaining_usd, 98.74797);
    assert.equal(monthly.from, '2026-11-01T00:00:00Z');
    assert.equal(monthly.to, '2026-12-01T00:00:00Z');
    assert.equal(monthly.forecast_usd, forecast(1.25203, at('2026-11-01T00:00:00Z'), at('2026-12-01T00:00:00Z'), NOW));
    assert.ok(monthly.forecast_usd > 1.3596 && monthly.forecast_usd < 1.3597, '× 720 h / 663 h');
    assert.equal(r.budgets.length, 2);
    assert.deepEqual(
      r.budgets.map((b) => b.window),
      ['day', 'month'],
      'windows named hour, day, month as in the query',
    );
  });
});

const linesOf = (text: string) => text.split('\n');

describe('formatReport', () => {
  it('shows every provider and model, the totals, served-by split and budgets', async () => {
    const { store, limiter } = await ledger(configWith({ BUDGET_DAILY_USD: '5' }));
    const text = formatReport(await costReport({ store, limiter, window: 'day', timeZone: 'UTC', now: NOW }));
    for (const s of ['openai', 'llamaparse', 'gpt-4o-mini', 'gpt-4o ', 'text-embedding-3-small', 'cost_effective']) {
      assert.ok(text.includes(s), `missing ${JSON.stringify(s)} in\n${text}`);
    }
    assert.match(text, /Spend for the day 2026-11-28T00:00:00Z → 2026-11-29T00:00:00Z/);
    const totalLine = text.split('\n').find((l) => l.startsWith('total'));
    assert.ok(totalLine, text);
    assert.deepEqual(totalLine.trim().split(/\s+/), ['total', '6', '3700', '400', '750', '4', '$0.017085']);
    assert.match(text, /real \$0\.017030 \(4 calls\), mock shadow \$0\.000055 \(2 calls\)/);
    assert.match(text, /forecast \$0\.027336/);
    assert.match(
      text,
      /Budgets\n\s+total\s+day\s+limit \$5\.0000\s+spent \$0\.0170\s+held \$0\.0000\s+remaining \$4\.9830/,
    );
    // One precision per column: every amount in the cost column has the same number of decimals.
    const costs = linesOf(text)
      .filter((l) => /^(openai|llamaparse|total)\s/.test(l))
      .map((l) => l.trim().split(/\s+/).at(-1)!);
    assert.ok(costs.length >= 4, text);
    assert.deepEqual(new Set(costs.map((c) => c.split('.')[1]!.length)), new Set([6]), costs.join(' '));
    // One line per group, in the report's order.
    const lines = text.split('\n');
    const idx = (model: string) => lines.findIndex((l) => l.includes(` ${model} `) || l.includes(` ${model}  `));
    assert.ok(idx('cost_effective') < idx('gpt-4o-mini'));
    assert.ok(
      lines.some((l) => /^openai\s+gpt-4o-mini\s+3\s+3100\s+400\s+650\s+0\s+\$0\.000825$/.test(l)),
      text,
    );
  });

  it('says so when no budget is configured, and prints an empty ledger as zeros', async () => {
    const store = new MemoryStore({ now: () => NOW });
    const config = configWith({});
    const limiter = new Limiter({ store, config: () => config, now: () => NOW });
    const text = formatReport(await costReport({ store, limiter, window: 'month', timeZone: 'UTC', now: NOW }));
    assert.match(text, /No budgets configured\./);
    assert.match(text, /^total\s+0\s+0\s+0\s+0\s+0\s+\$0\.0000$/m);
    assert.ok(text.endsWith('\n'));
  });
});
