import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { cli } from './support/cli.js';
import { type Standin, startStandin } from './support/standin.js';
import { startTestTollgate, type TestTollgate } from './support/tollgate.js';

const KEY = 'sk-test-cache-key-0123456789abcdef';
const ADMIN = 'admin-token-for-cache-tests-0123';

/** A Prometheus sample's value from /metrics text, summed over the series that carry every given label. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

describe('the response cache in REAL mode', () => {
  let standin: Standin;
  let tg: TestTollgate;
  let dir: string;
  let client: OpenAI;
  let env: Record<string, string>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-cache-'));
    standin = await startStandin({ expectOpenAIKey: KEY, quiet: true });
    env = {
      OPENAI_MODE: 'real',
      OPENAI_API_KEY: KEY,
      OPENAI_UPSTREAM_URL: standin.openaiBase,
      STATE_URL: `sqlite:${join(dir, 'state.db')}`,
      STATE_SPOOL_DIR: join(dir, 'spool'),
      RESPONSE_CACHE_TTL_S: '60',
      ADMIN_TOKEN: ADMIN,
    };
    tg = await startTestTollgate(env);
    client = new OpenAI({ baseURL: `${tg.url}/openai/v1`, apiKey: 'sk-worker', maxRetries: 0 });
  });
  after(async () => {
    await tg?.close();
    await standin?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers the identical second call from the cache: the provider saw one call', async () => {
    const body = { model: 'text-embedding-3-small', input: 'the same chunk' };
    const first = await client.embeddings.create(body).asResponse();
    const firstText = await first.text();
    assert.equal(first.headers.get('x-tollgate-cache'), 'miss');
    assert.equal(first.headers.get('x-tollgate-served-by'), 'real');
    const second = await client.embeddings.create({ ...body, user: 'another-worker' }).asResponse();
    assert.equal(second.headers.get('x-tollgate-cache'), 'hit');
    assert.equal(second.headers.get('x-tollgate-served-by'), 'cache');
    assert.equal(second.headers.get('x-tollgate-cost-usd'), '0');
    assert.equal(await second.text(), firstText);
    assert.equal(standin.hits('/v1/embeddings'), 1);
  });

  it('never caches a sampled answer (temperature above 0 without a seed), but does with a seed', async () => {
    const messages = [{ role: 'user' as const, content: 'write a poem' }];
    const before = standin.hits('/v1/chat/completions');
    for (let i = 0; i < 2; i++) {
      const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, temperature: 0.9 }).asResponse();
      assert.equal(r.headers.get('x-tollgate-cache'), null);
      await r.text();
    }
    const seeded = { model: 'gpt-4o-mini', messages, temperature: 0.9, seed: 7 };
    await client.chat.completions.create(seeded);
    const hit = await client.chat.completions.create(seeded).asResponse();
    assert.equal(hit.headers.get('x-tollgate-cache'), 'hit');
    await hit.text();
    assert.equal(standin.hits('/v1/chat/completions') - before, 3);
  });

  it('never stores an error answer', async () => {
    await standin.setFault({ kind: 'status', status: 400, body: { error: { message: 'bad' } } }, { times: 1 });
    const body = { model: 'text-embedding-3-small', input: 'an unlucky chunk' };
    await assert.rejects(client.embeddings.create(body), OpenAI.BadRequestError);
    const again = await client.embeddings.create(body).asResponse();
    assert.equal(again.headers.get('x-tollgate-cache'), 'miss');
    await again.text();
  });

  it('shows the same savings in the ledger, /admin/costs, tollgate costs and /metrics', async () => {
    const rows = await tg.store.rows({ from: 0, to: Date.now() + 1000 });
    const hits = rows.filter((r) => r.servedBy === 'cache');
    assert.equal(hits.length, 2);
    assert.ok(hits.every((r) => !r.billable && r.costNanoUsd > 0));
    const savedNano = hits.reduce((n, r) => n + r.costNanoUsd, 0);
    const spentNano = rows.filter((r) => r.servedBy === 'real').reduce((n, r) => n + r.costNanoUsd, 0);

    const res = await fetch(`${tg.url}/admin/costs?window=day`, { headers: { authorization: `Bearer ${ADMIN}` } });
    const report = (await res.json()) as {
      total: { cost_usd: number; saved_usd: number };
      by_served_by: Record<string, { requests: number; cost_usd: number; saved_usd: number }>;
    };
    assert.equal(report.total.saved_usd, savedNano / 1e9);
    assert.equal(report.total.cost_usd, spentNano / 1e9, 'a cache hit costs nothing');
    assert.equal(report.by_served_by.cache?.requests, 2);
    assert.equal(report.by_served_by.cache?.cost_usd, 0);

    const metrics = await (await fetch(`${tg.url}/metrics`)).text();
    assert.ok(Math.abs(sample(metrics, 'tollgate_cache_saved_usd_total') - savedNano / 1e9) < 1e-9);
    assert.equal(sample(metrics, 'tollgate_cache_requests_total', { result: 'hit' }), 2);
    assert.equal(sample(metrics, 'tollgate_cache_requests_total', { result: 'miss' }), 4);
    assert.equal(sample(metrics, 'tollgate_cost_usd_total', { served_by: 'cache' }), 0);

    const json = await cli(['costs', '--json'], env, dir);
    assert.equal(json.code, 0, json.stderr);
    assert.equal((JSON.parse(json.stdout) as typeof report).total.saved_usd, savedNano / 1e9);
    const table = await cli(['costs'], env, dir);
    assert.match(table.stdout, /cache hits 2, saved \$/);
  });
});
