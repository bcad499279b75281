/**
 * What an Anthropic call costs, booked the same everywhere: the ledger (/admin/costs), `tollgate
 * costs --json`, sum(tollgate_cost_usd_total) on /metrics and the x-tollgate-cost-usd header all
 * equal usage × price, cache reads and 5-minute and 1-hour cache writes included, for JSON and
 * streamed calls; a stream cut short is booked from what was delivered, never as zero.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import type { CostReport } from '../src/metering/report.js';
import { type AnthropicStandin, startAnthropicStandin } from './support/anthropic-standin.js';
import { cli } from './support/cli.js';
import { startTestTollgate, type TestTollgate, until } from './support/tollgate.js';

const KEY = 'sk-ant-test-costs-key-0123456789';
const ADMIN_TOKEN = 'admin-token-anthropic-costs-0123';
const MODEL = 'claude-sonnet-5-5';
/** The shipped price of claude-sonnet-5-5, USD per 1M tokens (src/metering/prices.json). */
const PRICE = { input: 2, read: 0.1, write5m: 2.5, write1h: 4, output: 10 };
/** What the stand-in reports: 25 uncached input tokens, 1,000 read from the cache, 300 written (100 of them for 1 h). */
const USAGE = {
  input_tokens: 25,
  cache_read_input_tokens: 1000,
  cache_creation_input_tokens: 300,
  ephemeral_1h_input_tokens: 100,
  output_tokens: 40,
};
const ask = { model: MODEL, max_tokens: 100, messages: [{ role: 'user' as const, content: 'Summarise the report.' }] };

/** Contract section 6's Anthropic formula, in pico-dollars so the sum is exact. */
function expectedUsd(u: typeof USAGE) {
  const pico = (usdPerM: number) => Math.round(usdPerM * 1e6);
  const writes5m = u.cache_creation_input_tokens - u.ephemeral_1h_input_tokens;
  const total =
    u.input_tokens * pico(PRICE.input) +
    u.cache_read_input_tokens * pico(PRICE.read) +
    writes5m * pico(PRICE.write5m) +
    u.ephemeral_1h_input_tokens * pico(PRICE.write1h) +
    u.output_tokens * pico(PRICE.output);
  return total / 1e12;
}

const metricSum = (text: string, name: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .reduce((s, l) => s + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);

describe('Anthropic costs agree everywhere with usage × price', () => {
  let standin: AnthropicStandin;
  let tg: TestTollgate;
  let dir: string;
  let stateUrl: string;
  let client: Anthropic;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-anthropic-costs-'));
    stateUrl = `sqlite:${join(dir, 'state.db')}`;
    standin = await startAnthropicStandin({ expectKey: KEY });
    standin.usage = USAGE;
    tg = await startTestTollgate({
      SERVICE_MODE: 'mock',
      ANTHROPIC_MODE: 'real',
      ANTHROPIC_API_KEY: KEY,
      ANTHROPIC_UPSTREAM_URL: standin.url,
      STATE_URL: stateUrl,
      ADMIN_TOKEN,
      BUDGET_DAILY_USD: '10',
    });
    client = new Anthropic({ baseURL: `${tg.url}/anthropic`, apiKey: 'placeholder', maxRetries: 0 });
  });
  after(async () => {
    await tg.close();
    await standin.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const report = async (): Promise<CostReport> => {
    const res = await fetch(`${tg.url}/admin/costs?window=day`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    assert.equal(res.status, 200);
    return (await res.json()) as CostReport;
  };

  it('books a JSON call at usage × price, cache reads and writes included, and says so in its header', async () => {
    const { data, response } = await client.messages.create(ask).withResponse();
    assert.equal(data.usage.cache_read_input_tokens, 1000);
    const usd = expectedUsd(USAGE);
    assert.equal(usd, 0.00145);
    assert.equal(Number(response.headers.get('x-tollgate-cost-usd')), usd);
    const call = tg.calls.at(-1);
    assert.equal(call?.costUsd, usd);
    assert.equal(call?.usage?.inputTokens, 1325, 'the whole prompt: input + cache reads + cache writes');
    assert.equal(call?.usage?.cachedInputTokens, 1000);
    assert.equal(call?.usage?.cacheWriteTokens, 300);
    assert.equal(call?.usage?.cacheWrite1hTokens, 100);
  });

  it('books a streamed call the same as the JSON one', async () => {
    const final = await client.messages.stream(ask).finalMessage();
    assert.equal(final.usage.output_tokens, 40);
    await until(() => tg.calls.length === 2);
    assert.equal(tg.calls.at(-1)?.costUsd, expectedUsd(USAGE));
  });

  it('books a stream cut short from its prompt counters and the text delivered, not zero', async () => {
    // message_start, content_block_start, ping and two text deltas ("This", " is"), then the connection drops.
    standin.fault({ kind: 'cut-stream', events: 5 });
    await assert.rejects(client.messages.stream(ask).finalMessage());
    await until(() => tg.calls.length === 3, 10_000);
    const cut = tg.calls.at(-1);
    assert.equal(cut?.usage?.reported, undefined, 'no message_delta arrived');
    assert.equal(cut?.usage?.inputTokens, 1325, 'the prompt as message_start reported it');
    assert.equal(cut?.usage?.outputTokens, 2, '"This is", counted with the tokenizer');
    assert.equal(cut?.costUsd, expectedUsd({ ...USAGE, output_tokens: 2 }));
  });

  it('agrees in the ledger, /admin/costs, `tollgate costs --json` and sum(tollgate_cost_usd_total)', async () => {
    const expected = 2 * expectedUsd(USAGE) + expectedUsd({ ...USAGE, output_tokens: 2 });
    let admin = await report();
    await until(async () => {
      admin = await report();
      return admin.total.requests === 3;
    }, 10_000);
    assert.ok(Math.abs(admin.total.cost_usd - expected) < 1e-12, `${admin.total.cost_usd} vs ${expected}`);
    assert.equal(admin.total.input_tokens, 3 * 1325);
    assert.equal(admin.total.cached_input_tokens, 3 * 1000);
    assert.equal(admin.total.output_tokens, 40 + 40 + 2);
    const group = admin.groups.find((g) => g.provider === 'anthropic' && g.model === MODEL);
    assert.equal(group?.requests, 3);
    const budget = admin.budgets.find((b) => b.scope === 'total' && b.window === 'day');
    assert.ok(budget && Math.abs(budget.spent_usd - expected) < 1e-12, 'real spend counts against the budget');

    const run = await cli(['costs', '--json', '--window', 'day'], { ENV_FILE: '', STATE_URL: stateUrl }, dir);
    assert.equal(run.code, 0, run.stderr);
    const fromCli = JSON.parse(run.stdout) as CostReport;
    const counts = ({ cost_usd, requests, input_tokens, cached_input_tokens, output_tokens }: CostReport['total']) => ({
      cost_usd,
      requests,
      input_tokens,
      cached_input_tokens,
      output_tokens,
    });
    assert.deepEqual(counts(fromCli.total), counts(admin.total));
    assert.deepEqual(fromCli.groups, admin.groups);

    const metrics = await (await fetch(`${tg.url}/metrics`)).text();
    const scraped = metricSum(metrics, 'tollgate_cost_usd_total');
    assert.ok(Math.abs(scraped - expected) < 1e-12, `sum(tollgate_cost_usd_total) = ${scraped}, expected ${expected}`);
    assert.match(metrics, /tollgate_cost_usd_total\{[^}]*provider="anthropic"/);
  });

  it('does not book count_tokens or models, though they pass the request bucket', async () => {
    await client.messages.countTokens({ model: MODEL, messages: ask.messages });
    await client.models.list();
    assert.equal((await report()).total.requests, 3);
  });
});

describe('Anthropic mock shadow cost with the prompt cache', () => {
  let tg: TestTollgate;
  before(async () => {
    tg = await startTestTollgate({ SERVICE_MODE: 'mock' });
  });
  after(() => tg.close());

  it('prices what the mock reports: a cache write first, then a cheaper read', async () => {
    const client = new Anthropic({ baseURL: `${tg.url}/anthropic`, apiKey: 'placeholder', maxRetries: 0 });
    const manual = 'Every figure in a report must be checked twice against the ledger. '.repeat(120);
    const cachedAsk = {
      ...ask,
      system: [
        { type: 'text' as const, text: manual, cache_control: { type: 'ephemeral' as const, ttl: '1h' as const } },
      ],
    };
    const costs: number[] = [];
    for (const question of ['What is checked?', 'How often?']) {
      const { data, response } = await client.messages
        .create({ ...cachedAsk, messages: [{ role: 'user', content: question }] })
        .withResponse();
      const u = data.usage;
      const writes1h = u.cache_creation?.ephemeral_1h_input_tokens ?? 0;
      const expected = expectedUsd({
        input_tokens: u.input_tokens,
        cache_read_input_tokens: u.cache_read_input_tokens ?? 0,
        cache_creation_input_tokens: u.cache_creation_input_tokens ?? 0,
        ephemeral_1h_input_tokens: writes1h,
        output_tokens: u.output_tokens,
      });
      assert.equal(Number(response.headers.get('x-tollgate-cost-usd')), expected);
      costs.push(expected);
    }
    assert.ok(
      (costs[1] ?? 1) < (costs[0] ?? 0) / 3,
      `the read (${costs[1]}) costs far less than the 1 h write (${costs[0]})`,
    );
  });
});
