import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { MODES, PROVIDERS } from '../config/index.js';
import type { CallRecord } from '../proxy/call.js';
import {
  createMetrics,
  type MetricSources,
  type Metrics,
  MODEL_LABEL_CAP,
  OTHER_LABEL,
  PROMETHEUS_CONTENT_TYPE,
} from './metrics.js';
import { DURATION_BUCKETS, TOKEN_BUCKETS } from './names.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Exposition {
  samples: Sample[];
  types: Map<string, string>;
}

/** Reads the Prometheus text format (0.0.4) the way a scraper does: HELP/TYPE comments and samples. */
function parseExposition(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      types.set(type[1] ?? '', type[2] ?? '');
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1] ?? ''] = (l[2] ?? '').replace(/\\(.)/g, (_s, ch: string) => (ch === 'n' ? '\n' : ch));
    }
    const raw = m[3] ?? '';
    samples.push({ name: m[1] ?? '', labels, value: raw === '+Inf' ? Infinity : Number(raw) });
  }
  return { samples, types };
}

const matches = (s: Sample, name: string, labels: Record<string, string>) =>
  s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v);

function series(e: Exposition, name: string, labels: Record<string, string> = {}): Sample[] {
  return e.samples.filter((s) => matches(s, name, labels));
}

/** The sum over every series of `name` that carries `labels` (PromQL `sum(name{labels})`). */
function total(e: Exposition, name: string, labels: Record<string, string> = {}): number {
  return series(e, name, labels).reduce((sum, s) => sum + s.value, 0);
}

function one(e: Exposition, name: string, labels: Record<string, string>): Sample {
  const found = series(e, name, labels);
  assert.equal(found.length, 1, `${name}${JSON.stringify(labels)}: ${found.length} series`);
  return found[0] as Sample;
}

function call(overrides: Partial<CallRecord> = {}): CallRecord {
  return {
    correlationId: 'corr-1f3a9c',
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    provider: 'openai',
    operation: 'chat',
    genAiOperation: 'chat',
    route: 'POST /openai/v1/chat/completions',
    method: 'POST',
    path: '/openai/v1/chat/completions',
    mode: 'mock',
    servedBy: 'mock',
    fallbackReason: undefined,
    model: 'gpt-4o-mini',
    maxTokens: undefined,
    temperature: undefined,
    stream: false,
    metered: true,
    status: 200,
    startedAt: Date.now(),
    firstChunkMs: undefined,
    durationMs: 50,
    usage: { inputTokens: 10, cachedInputTokens: 0, outputTokens: 20, pages: 0, reported: true },
    costUsd: 0.0001,
    errorType: undefined,
    aborted: false,
    unpriced: false,
    limitedBy: undefined,
    upstream: undefined,
    ...overrides,
  };
}

type Snapshot = Awaited<ReturnType<MetricSources['snapshot']>>;

function fakeSources(state: {
  snapshot?: Snapshot | Error;
  modes?: Partial<Record<'openai' | 'llamaparse' | 'anthropic', 'mock' | 'real' | 'hybrid'>>;
  down?: ('openai' | 'llamaparse' | 'anthropic')[];
  open?: ('openai' | 'llamaparse' | 'anthropic')[];
}): MetricSources {
  return {
    async snapshot() {
      if (state.snapshot instanceof Error) throw state.snapshot;
      return state.snapshot ?? { buckets: [], budgets: [] };
    },
    providerUp: (p) => !(state.down ?? []).includes(p),
    circuitOpen: (p) => (state.open ?? []).includes(p),
    mode: (p) => state.modes?.[p] ?? 'mock',
  };
}

describe('createMetrics', () => {
  const made: Metrics[] = [];
  const metricsWith = (sources: MetricSources = fakeSources({})) => {
    const m = createMetrics({ serviceName: 'tollgate-test', sources });
    made.push(m);
    return m;
  };
  const scrape = async (m: Metrics) => parseExposition((await m.render()).body);
  after(() => Promise.all(made.map((m) => m.shutdown())));

  it('renders the Prometheus text format with the exposition content type', async () => {
    const m = metricsWith();
    const r = await m.render();
    assert.equal(r.contentType, PROMETHEUS_CONTENT_TYPE);
    assert.match(r.body, /^# HELP target_info /m);
    assert.match(r.body, /^target_info\{service_name="tollgate-test"\} 1$/m);
    assert.doesNotMatch(r.body, /otel_scope_name/, 'no scope labels on the series');
  });

  it('counts requests per provider, operation, served_by and status code, with _total counters', async () => {
    const m = metricsWith();
    m.recordCall(call());
    m.recordCall(call());
    m.recordCall(call({ servedBy: 'real', status: 429, errorType: 'rate_limit_exceeded', usage: undefined }));
    m.recordCall(call({ provider: 'llamaparse', operation: 'parse.upload', genAiOperation: 'parse', status: 200 }));
    const e = await scrape(m);
    assert.equal(e.types.get('tollgate_requests_total'), 'counter');
    const ok = one(e, 'tollgate_requests_total', { provider: 'openai', served_by: 'mock', status_code: '200' });
    assert.deepEqual(ok.labels, { provider: 'openai', operation: 'chat', served_by: 'mock', status_code: '200' });
    assert.equal(ok.value, 2);
    assert.equal(one(e, 'tollgate_requests_total', { served_by: 'real', status_code: '429' }).value, 1);
    assert.equal(one(e, 'tollgate_requests_total', { provider: 'llamaparse', operation: 'parse.upload' }).value, 1);
    assert.equal(total(e, 'tollgate_requests_total'), 4);
  });

  it('sums cost in USD, mock shadow cost included under served_by="mock"', async () => {
    const m = metricsWith();
    m.recordCall(call({ costUsd: 0.000125 }));
    m.recordCall(call({ costUsd: 0.000375 }));
    m.recordCall(call({ servedBy: 'real', costUsd: 0.002 }));
    m.recordCall(call({ model: 'text-embedding-3-small', operation: 'embeddings', costUsd: 0.00000002 }));
    m.recordCall(call({ costUsd: undefined, usage: undefined, status: 500, errorType: 'internal_error' }));
    const e = await scrape(m);
    assert.equal(e.types.get('tollgate_cost_usd_total'), 'counter');
    const mock = one(e, 'tollgate_cost_usd_total', { model: 'gpt-4o-mini', served_by: 'mock' });
    assert.deepEqual(mock.labels, { provider: 'openai', model: 'gpt-4o-mini', operation: 'chat', served_by: 'mock' });
    assert.ok(Math.abs(mock.value - 0.0005) < 1e-12);
    assert.equal(one(e, 'tollgate_cost_usd_total', { served_by: 'real' }).value, 0.002);
    assert.ok(Math.abs(total(e, 'tollgate_cost_usd_total') - 0.00250002) < 1e-12);
  });

  it('books cost and tokens under the model the ledger books: the response model first', async () => {
    const m = metricsWith();
    m.recordCall(
      call({
        model: 'gpt-4o',
        usage: { inputTokens: 3, cachedInputTokens: 0, outputTokens: 4, pages: 0, model: 'gpt-4o-2024-08-06' },
      }),
    );
    const e = await scrape(m);
    assert.equal(one(e, 'tollgate_cost_usd_total', {}).labels.model, 'gpt-4o-2024-08-06');
    const d = one(e, 'gen_ai_client_operation_duration_count', {});
    assert.equal(d.labels.gen_ai_request_model, 'gpt-4o');
    assert.equal(d.labels.gen_ai_response_model, 'gpt-4o-2024-08-06');
  });

  it('counts input, cached_input and output tokens, and pages per tier', async () => {
    const m = metricsWith();
    m.recordCall(call({ usage: { inputTokens: 100, cachedInputTokens: 40, outputTokens: 7, pages: 0 } }));
    m.recordCall(call({ usage: { inputTokens: 1, cachedInputTokens: 0, outputTokens: 2, pages: 0 } }));
    m.recordCall(
      call({
        provider: 'llamaparse',
        operation: 'parse.result',
        genAiOperation: 'parse',
        model: 'agentic',
        usage: { inputTokens: 0, cachedInputTokens: 0, outputTokens: 0, pages: 3, tier: 'agentic' },
      }),
    );
    m.recordCall(
      call({
        provider: 'llamaparse',
        operation: 'parse.result',
        genAiOperation: 'parse',
        model: undefined,
        usage: { inputTokens: 0, cachedInputTokens: 0, outputTokens: 0, pages: 2, tier: 'agentic' },
      }),
    );
    const e = await scrape(m);
    const tokens = (type: string) => one(e, 'tollgate_tokens_total', { model: 'gpt-4o-mini', token_type: type });
    assert.equal(tokens('input').value, 101);
    assert.equal(tokens('cached_input').value, 40);
    assert.equal(tokens('output').value, 9);
    assert.deepEqual(tokens('input').labels, { provider: 'openai', model: 'gpt-4o-mini', token_type: 'input' });
    assert.equal(series(e, 'tollgate_tokens_total', { provider: 'llamaparse' }).length, 0, 'no zero-token series');
    const pages = one(e, 'tollgate_pages_total', {});
    assert.deepEqual(pages.labels, { provider: 'llamaparse', tier: 'agentic' });
    assert.equal(pages.value, 5);
  });

  it('counts fallbacks by reason, refusals by limit (from limitedBy) and unpriced calls by model', async () => {
    const m = metricsWith();
    m.recordCall(call({ fallbackReason: 'no_api_key' }));
    m.recordCall(call({ fallbackReason: 'no_api_key' }));
    m.recordCall(call({ fallbackReason: 'circuit_open', provider: 'llamaparse' }));
    m.recordCall(call({ status: 429, errorType: 'rate_limit_exceeded', limitedBy: 'tokens', usage: undefined }));
    m.recordCall(call({ status: 402, errorType: 'budget_exceeded', limitedBy: 'budget', usage: undefined }));
    m.recordCall(call({ fallbackReason: 'budget_exceeded', limitedBy: 'budget' }));
    m.recordCall(call({ model: 'ft:gpt-4o:acme', unpriced: true, costUsd: 0 }));
    const e = await scrape(m);
    assert.equal(one(e, 'tollgate_fallbacks_total', { provider: 'openai', reason: 'no_api_key' }).value, 2);
    assert.equal(one(e, 'tollgate_fallbacks_total', { provider: 'llamaparse', reason: 'circuit_open' }).value, 1);
    assert.equal(e.types.get('tollgate_rate_limited_total'), 'counter');
    assert.equal(one(e, 'tollgate_rate_limited_total', { provider: 'openai', limit: 'tokens' }).value, 1);
    assert.equal(one(e, 'tollgate_rate_limited_total', { provider: 'openai', limit: 'budget' }).value, 2);
    assert.equal(one(e, 'tollgate_rate_limited_total', { provider: 'openai', limit: 'requests' }).value, 0);
    assert.deepEqual(
      series(e, 'tollgate_rate_limited_total', { provider: 'llamaparse' }).map((s) => [s.labels.limit, s.value]),
      [
        ['requests', 0],
        ['pages', 0],
        ['budget', 0],
      ],
      'the limits a provider can hit start at 0',
    );
    const u = one(e, 'tollgate_unpriced_requests_total', {});
    assert.deepEqual(u.labels, { provider: 'openai', model: 'ft:gpt-4o:acme' });
    assert.equal(u.value, 1);
  });

  it('places GenAI durations (seconds) and token counts in the semantic-convention buckets', async () => {
    const m = metricsWith();
    m.recordCall(
      call({ durationMs: 50, usage: { inputTokens: 100, cachedInputTokens: 0, outputTokens: 5, pages: 0 } }),
    );
    m.recordCall(
      call({ durationMs: 3000, usage: { inputTokens: 100, cachedInputTokens: 0, outputTokens: 5, pages: 0 } }),
    );
    const e = await scrape(m);
    assert.equal(e.types.get('gen_ai_client_operation_duration'), 'histogram');
    assert.equal(e.types.get('gen_ai_client_token_usage'), 'histogram');
    const base = { gen_ai_operation_name: 'chat', gen_ai_provider_name: 'openai' };
    const durationBuckets = series(e, 'gen_ai_client_operation_duration_bucket', base);
    assert.deepEqual(
      durationBuckets.map((s) => s.labels.le),
      [...DURATION_BUCKETS.map(String), '+Inf'],
    );
    const at = (le: string) => durationBuckets.find((s) => s.labels.le === le)?.value;
    assert.equal(at('0.04'), 0);
    assert.equal(at('0.08'), 1, '50 ms lands in (0.04, 0.08]');
    assert.equal(at('2.56'), 1);
    assert.equal(at('5.12'), 2, '3 s lands in (2.56, 5.12]');
    assert.equal(at('+Inf'), 2);
    assert.equal(one(e, 'gen_ai_client_operation_duration_sum', base).value, 3.05);
    assert.equal(one(e, 'gen_ai_client_operation_duration_count', base).value, 2);

    const input = series(e, 'gen_ai_client_token_usage_bucket', { ...base, gen_ai_token_type: 'input' });
    assert.deepEqual(
      input.map((s) => s.labels.le),
      [...TOKEN_BUCKETS.map(String), '+Inf'],
    );
    assert.equal(input.find((s) => s.labels.le === '64')?.value, 0);
    assert.equal(input.find((s) => s.labels.le === '256')?.value, 2, '100 tokens land in (64, 256]');
    const output = series(e, 'gen_ai_client_token_usage_bucket', { ...base, gen_ai_token_type: 'output' });
    assert.equal(output.find((s) => s.labels.le === '4')?.value, 0);
    assert.equal(output.find((s) => s.labels.le === '16')?.value, 2, '5 tokens land in (4, 16]');
    const labels = one(e, 'gen_ai_client_operation_duration_count', base).labels;
    assert.deepEqual(Object.keys(labels).sort(), [
      'gen_ai_operation_name',
      'gen_ai_provider_name',
      'gen_ai_request_model',
      'gen_ai_response_model',
    ]);
  });

  it('adds error.type to the duration of a failed call only', async () => {
    const m = metricsWith();
    m.recordCall(call());
    m.recordCall(call({ status: 503, errorType: '503', usage: undefined, costUsd: undefined }));
    m.recordCall(call({ status: 429, errorType: 'rate_limit_exceeded', usage: undefined, costUsd: undefined }));
    const e = await scrape(m);
    const counts = series(e, 'gen_ai_client_operation_duration_count');
    assert.equal(counts.length, 3);
    assert.deepEqual(
      counts.map((s) => s.labels.error_type ?? null).sort(),
      ['503', 'rate_limit_exceeded', null].sort(),
    );
  });

  it('records time to first chunk for streams only, and nothing GenAI for pass-through calls', async () => {
    const m = metricsWith();
    m.recordCall(call({ stream: true, firstChunkMs: 30, durationMs: 400 }));
    m.recordCall(call({ stream: false, firstChunkMs: 10 }));
    m.recordCall(call({ operation: 'passthrough', genAiOperation: 'passthrough', metered: false, model: undefined }));
    const e = await scrape(m);
    assert.equal(e.types.get('gen_ai_client_operation_time_to_first_chunk'), 'histogram');
    assert.equal(one(e, 'gen_ai_client_operation_time_to_first_chunk_count', {}).value, 1);
    assert.equal(one(e, 'gen_ai_client_operation_time_to_first_chunk_sum', {}).value, 0.03);
    assert.equal(
      series(e, 'gen_ai_client_operation_time_to_first_chunk_bucket', { le: '0.02' })[0]?.value,
      0,
      '30 ms is above 0.02 s',
    );
    assert.equal(series(e, 'gen_ai_client_operation_time_to_first_chunk_bucket', { le: '0.04' })[0]?.value, 1);
    assert.equal(total(e, 'gen_ai_client_operation_duration_count'), 2);
    assert.equal(one(e, 'tollgate_requests_total', { operation: 'passthrough' }).value, 1);
  });

  it('reports 1 for the mode in force and 0 for the others, and follows a switch', async () => {
    const state: Parameters<typeof fakeSources>[0] = { modes: { openai: 'hybrid', llamaparse: 'mock' } };
    const m = metricsWith(fakeSources(state));
    let e = await scrape(m);
    assert.equal(e.types.get('tollgate_mode'), 'gauge');
    assert.equal(series(e, 'tollgate_mode').length, PROVIDERS.length * MODES.length);
    assert.equal(one(e, 'tollgate_mode', { provider: 'openai', mode: 'hybrid' }).value, 1);
    assert.equal(one(e, 'tollgate_mode', { provider: 'openai', mode: 'mock' }).value, 0);
    assert.equal(one(e, 'tollgate_mode', { provider: 'openai', mode: 'real' }).value, 0);
    assert.equal(one(e, 'tollgate_mode', { provider: 'llamaparse', mode: 'mock' }).value, 1);
    assert.equal(total(e, 'tollgate_mode', { provider: 'llamaparse' }), 1);
    state.modes = { openai: 'real', llamaparse: 'mock' };
    e = await scrape(m);
    assert.equal(one(e, 'tollgate_mode', { provider: 'openai', mode: 'real' }).value, 1);
    assert.equal(one(e, 'tollgate_mode', { provider: 'openai', mode: 'hybrid' }).value, 0);
  });

  it('reports provider_up and circuit_open per provider', async () => {
    const m = metricsWith(fakeSources({ down: ['openai'], open: ['openai'] }));
    const e = await scrape(m);
    assert.equal(one(e, 'tollgate_provider_up', { provider: 'openai' }).value, 0);
    assert.equal(one(e, 'tollgate_provider_up', { provider: 'llamaparse' }).value, 1);
    assert.equal(one(e, 'tollgate_circuit_open', { provider: 'openai' }).value, 1);
    assert.equal(one(e, 'tollgate_circuit_open', { provider: 'llamaparse' }).value, 0);
  });

  it('exposes budget and bucket gauges from the snapshot taken at scrape time', async () => {
    const state: Parameters<typeof fakeSources>[0] = {
      snapshot: {
        buckets: [
          { kind: 'requests', scope: 'openai', remaining: 58 },
          { kind: 'tokens', scope: 'openai:gpt-4o-mini', remaining: 9000 },
          { kind: 'pages', scope: 'llamaparse', remaining: 12 },
        ],
        budgets: [
          { scope: 'total', window: 'daily', limitUsd: 5, spentUsd: 1.25, remainingUsd: 3.75 },
          { scope: 'openai', window: 'monthly', limitUsd: 100, spentUsd: 0, remainingUsd: 100 },
        ],
      },
    };
    const m = metricsWith(fakeSources(state));
    let e = await scrape(m);
    for (const n of ['tollgate_budget_limit_usd', 'tollgate_budget_spent_usd', 'tollgate_budget_remaining_usd']) {
      assert.equal(e.types.get(n), 'gauge');
    }
    const limit = one(e, 'tollgate_budget_limit_usd', { scope: 'total' });
    assert.deepEqual(limit.labels, { scope: 'total', window: 'daily' });
    assert.equal(limit.value, 5);
    assert.equal(one(e, 'tollgate_budget_spent_usd', { scope: 'total', window: 'daily' }).value, 1.25);
    assert.equal(one(e, 'tollgate_budget_remaining_usd', { scope: 'total', window: 'daily' }).value, 3.75);
    assert.equal(one(e, 'tollgate_budget_limit_usd', { scope: 'openai', window: 'monthly' }).value, 100);
    const available = series(e, 'tollgate_ratelimit_available');
    assert.deepEqual(
      available.map((s) => [s.labels, s.value]),
      [
        [{ provider: 'openai', model: '*', kind: 'requests' }, 58],
        [{ provider: 'openai', model: 'gpt-4o-mini', kind: 'tokens' }, 9000],
        [{ provider: 'llamaparse', model: '*', kind: 'pages' }, 12],
      ],
    );

    state.snapshot = new Error('store down');
    e = await scrape(m);
    // The SDK keeps a cumulative async series at its last observation when a callback skips it.
    assert.equal(one(e, 'tollgate_budget_spent_usd', { scope: 'total' }).value, 1.25, 'last known value stays');
    assert.equal(
      series(e, 'tollgate_mode').length,
      PROVIDERS.length * MODES.length,
      'and the rest of the scrape still answers',
    );
  });

  it(`caps the model label at the first ${MODEL_LABEL_CAP} distinct models, then "${OTHER_LABEL}"`, async () => {
    const m = metricsWith();
    for (let i = 0; i < MODEL_LABEL_CAP + 50; i++) {
      const model = `model-${i}`;
      m.recordCall(call({ model, usage: { inputTokens: 1, cachedInputTokens: 0, outputTokens: 1, pages: 0, model } }));
    }
    // A model seen before the cap keeps its own label afterwards.
    m.recordCall(call({ model: 'model-0', usage: undefined, costUsd: 1 }));
    const e = await scrape(m);
    const costs = series(e, 'tollgate_cost_usd_total');
    assert.equal(costs.length, MODEL_LABEL_CAP + 1);
    assert.equal(one(e, 'tollgate_cost_usd_total', { model: OTHER_LABEL }).value, 50 * 0.0001);
    assert.equal(one(e, 'tollgate_cost_usd_total', { model: 'model-0' }).value, 1.0001);
    assert.equal(series(e, 'tollgate_cost_usd_total', { model: `model-${MODEL_LABEL_CAP}` }).length, 0);
    const requestModels = new Set(
      series(e, 'gen_ai_client_operation_duration_count').map((s) => s.labels.gen_ai_request_model),
    );
    assert.equal(requestModels.size, MODEL_LABEL_CAP + 1);
    assert.ok(requestModels.has(OTHER_LABEL));
  });

  it('never puts ids, paths or trace context in a label', async () => {
    const m = metricsWith();
    const c = call({ fallbackReason: 'no_api_key', limitedBy: 'requests', unpriced: true });
    m.recordCall(c);
    const { body } = await m.render();
    for (const secret of [c.correlationId, c.traceId, c.spanId, c.path]) assert.ok(!body.includes(secret), secret);
  });

  it('keeps each instance private: two sidecars in one process do not share series', async () => {
    const a = metricsWith();
    const b = metricsWith();
    a.recordCall(call());
    a.recordCall(call());
    b.recordCall(call());
    assert.equal(total(await scrape(a), 'tollgate_requests_total'), 2);
    assert.equal(total(await scrape(b), 'tollgate_requests_total'), 1);
  });
});
