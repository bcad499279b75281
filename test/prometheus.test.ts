import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { type RunningPrometheus, startPrometheus, which } from './support/prometheus.js';
import { llamaParseReader, startTestTollgate, type TestTollgate, until } from './support/tollgate.js';

const ADMIN_TOKEN = 'admin-token-prometheus-0123456789';
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

const prometheusBin = process.env.PROMETHEUS_BIN ?? which('prometheus');
const promtoolBin = process.env.PROMTOOL_BIN ?? which('promtool');
// CI installs Prometheus: a missing binary there is a broken job, never a quiet skip.
const skip =
  prometheusBin && promtoolBin
    ? false
    : process.env.CI === 'true'
      ? false
      : 'prometheus/promtool not installed (apt-get install prometheus)';

interface PromVector {
  status: string;
  data: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}

interface PromTargets {
  data: { activeTargets: { health: string; lastScrape: string; lastError: string; scrapeUrl: string }[] };
}

describe('a real Prometheus scraping the sidecar', { skip }, () => {
  let tg: TestTollgate;
  let prom: RunningPrometheus | undefined;
  let promUrl: string;

  const query = async (expr: string): Promise<PromVector['data']['result']> => {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
    assert.equal(res.status, 200, `query ${expr}`);
    const body = (await res.json()) as PromVector;
    assert.equal(body.status, 'success');
    return body.data.result;
  };
  const scalar = async (expr: string): Promise<number> => {
    const result = await query(expr);
    assert.equal(result.length, 1, `${expr} returned ${result.length} samples`);
    return Number(result[0]?.value[1]);
  };

  before(async () => {
    assert.ok(prometheusBin, 'prometheus binary not found (CI=true)');
    tg = await startTestTollgate({
      SERVICE_MODE: 'mock',
      ADMIN_TOKEN,
      MOCK_SEED: '11',
      BUDGET_DAILY_USD: '5',
      OPENAI_REQUESTS_PER_HOUR: '1000',
      LLAMAPARSE_PAGES_PER_HOUR: '1000',
    });
    prom = await startPrometheus([{ target: new URL(tg.url).host }], prometheusBin);
    promUrl = prom.url;
  });

  after(async () => {
    await prom?.stop();
    await tg?.close();
  });

  it('scrapes cost equal to the ledger, request counts and GenAI histograms after mixed traffic', async () => {
    const client = new OpenAI({ baseURL: `${tg.url}/openai/v1`, apiKey: 'sk-placeholder', maxRetries: 0 });
    await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'What does a sidecar do?' }],
    });
    await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hello' }] });
    let streamed = '';
    for await (const chunk of await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Stream a short answer' }],
      stream: true,
      stream_options: { include_usage: true },
    })) {
      streamed += chunk.choices[0]?.delta.content ?? '';
    }
    assert.ok(streamed.length > 0);
    await client.embeddings.create({ model: 'text-embedding-3-small', input: ['one', 'two', 'three'] });
    const reader = llamaParseReader(`${tg.url}/llamaparse`);
    const docs = await reader.loadData(fixture('documents/sample-report.pdf'));
    assert.ok(docs.length > 0);
    assert.ok(tg.calls.some((c) => c.provider === 'llamaparse' && (c.usage?.pages ?? 0) > 0));
    const callsAfterTraffic = tg.calls.length;

    const metricsRes = await fetch(`${tg.url}/metrics`);
    assert.equal(metricsRes.status, 200, 'GET /metrics is served by the sidecar (createMetrics wired in server.ts)');
    assert.match(metricsRes.headers.get('content-type') ?? '', /^text\/plain/);

    // Wait for a scrape that started after the last call finished.
    const trafficEnd = Date.now();
    let lastTarget: PromTargets['data']['activeTargets'][number] | undefined;
    await until(
      async () => {
        const targets = (await (await fetch(`${promUrl}/api/v1/targets?state=active`)).json()) as PromTargets;
        lastTarget = targets.data.activeTargets[0];
        return lastTarget !== undefined && lastTarget.health === 'up' && Date.parse(lastTarget.lastScrape) > trafficEnd;
      },
      15_000,
      200,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; target: ${JSON.stringify(lastTarget)}`);
    });

    const costs = await fetch(`${tg.url}/admin/costs?window=day`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    assert.equal(costs.status, 200);
    const ledger = (await costs.json()) as { total: { cost_usd: number; requests: number } };
    assert.ok(ledger.total.cost_usd > 0, 'mock shadow cost is booked');

    const scrapedCost = await scalar('sum(tollgate_cost_usd_total)');
    assert.ok(
      Math.abs(scrapedCost - ledger.total.cost_usd) <= 1e-9,
      `sum(tollgate_cost_usd_total) = ${scrapedCost}, ledger total = ${ledger.total.cost_usd}`,
    );
    assert.equal(await scalar('sum(tollgate_requests_total)'), callsAfterTraffic);
    assert.equal(await scalar('sum(tollgate_cost_usd_total{served_by="real"}) or vector(0)'), 0);

    const buckets = await query('gen_ai_client_operation_duration_bucket{gen_ai_operation_name="chat"}');
    assert.ok(buckets.length > 0, 'a GenAI duration histogram series');
    assert.ok(buckets.every((s) => s.metric.gen_ai_provider_name === 'openai'));
    assert.ok((await query('gen_ai_client_operation_time_to_first_chunk_count')).length > 0);
    assert.ok((await query('gen_ai_client_token_usage_bucket{gen_ai_token_type="input"}')).length > 0);

    const names = ((await (await fetch(`${promUrl}/api/v1/label/__name__/values`)).json()) as { data: string[] }).data;
    for (const name of [
      'tollgate_requests_total',
      'tollgate_cost_usd_total',
      'tollgate_tokens_total',
      'tollgate_pages_total',
      'tollgate_rate_limited_total',
      'tollgate_budget_limit_usd',
      'tollgate_budget_spent_usd',
      'tollgate_budget_remaining_usd',
      'tollgate_ratelimit_available',
      'tollgate_provider_up',
      'tollgate_circuit_open',
      'tollgate_mode',
      'gen_ai_client_token_usage_bucket',
      'gen_ai_client_operation_duration_bucket',
      'gen_ai_client_operation_time_to_first_chunk_bucket',
    ]) {
      assert.ok(names.includes(name), `${name} scraped`);
    }
    assert.equal(await scalar('tollgate_mode{provider="openai",mode="mock"}'), 1);
    assert.equal(await scalar('sum(tollgate_mode{provider="openai"})'), 1);
  });

  it('serves /metrics that promtool check metrics accepts', async () => {
    assert.ok(promtoolBin, 'promtool binary not found (CI=true)');
    const res = await fetch(`${tg.url}/metrics`);
    assert.equal(res.status, 200);
    const body = await res.text();
    assert.match(body, /^tollgate_requests_total\{/m);
    const check = spawnSync(promtoolBin, ['check', 'metrics'], { input: body, encoding: 'utf8', timeout: 10_000 });
    assert.equal(check.status, 0, `promtool check metrics:\n${check.stdout}${check.stderr}`);
  });
});
