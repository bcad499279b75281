/**
 * Anthropic beside the other two: HYBRID falls back on its 529 overloaded_error (upstream_5xx) and its
 * 429 (upstream_429); the sidecar's own errors on /anthropic speak Anthropic's shape with the headers
 * the SDK reads; FORWARD_CLIENT_AUTH passes the worker's own x-api-key; the health probe sends the
 * version header and names invalid_api_key, never the key.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { type AnthropicStandin, startAnthropicStandin } from './support/anthropic-standin.js';
import { startTestTollgate, type TestTollgate, until } from './support/tollgate.js';

const KEY = 'sk-ant-test-modes-key-0123456789';
const WRONG = 'sk-ant-WRONG-secret-key-000000000';
const ask = { model: 'claude-haiku-4-5', max_tokens: 50, messages: [{ role: 'user' as const, content: 'Hello.' }] };
const sdk = (tg: TestTollgate, apiKey = 'placeholder', maxRetries = 0) =>
  new Anthropic({ baseURL: `${tg.url}/anthropic`, apiKey, maxRetries });

interface AnthropicErrorBody {
  type: string;
  error: { type: string; message: string; code: string };
}

describe('Anthropic in HYBRID mode', () => {
  let standin: AnthropicStandin;
  let tg: TestTollgate;
  before(async () => {
    standin = await startAnthropicStandin({ expectKey: KEY });
    tg = await startTestTollgate({
      SERVICE_MODE: 'mock',
      ANTHROPIC_MODE: 'hybrid',
      ANTHROPIC_API_KEY: KEY,
      ANTHROPIC_UPSTREAM_URL: standin.url,
      CIRCUIT_FAILURE_THRESHOLD: '100',
    });
  });
  after(async () => {
    await tg.close();
    await standin.close();
  });
  beforeEach(() => standin.reset());

  for (const [name, fault, reason] of [
    ['a 529 overloaded_error', { kind: 'status', status: 529, type: 'overloaded_error' }, 'upstream_5xx'],
    ['a 500 api_error', { kind: 'status', status: 500, type: 'api_error' }, 'upstream_5xx'],
    [
      'a 429 rate_limit_error',
      { kind: 'status', status: 429, type: 'rate_limit_error', headers: { 'retry-after': '1' } },
      'upstream_429',
    ],
  ] as const) {
    it(`answers from the mock on ${name}, with reason ${reason}`, async () => {
      standin.fault(fault);
      const { data, response } = await sdk(tg).messages.create(ask).withResponse();
      assert.equal(data.type, 'message');
      assert.equal(response.headers.get('x-tollgate-served-by'), 'mock');
      assert.equal(response.headers.get('x-tollgate-fallback'), reason);
      assert.equal(standin.requests.length, 1, 'the provider was asked once');
      assert.equal(tg.calls.at(-1)?.fallbackReason, reason);
    });
  }

  it('answers from the mock with no_api_key without a key, and upstream_unreachable once the provider is gone', async () => {
    const gone = await startAnthropicStandin({ expectKey: KEY });
    const noKey = await startTestTollgate({ SERVICE_MODE: 'mock', ANTHROPIC_MODE: 'hybrid' });
    // The start-up probe passes; the provider goes away before the call (the next probe is 30 s off).
    const dead = await startTestTollgate({
      SERVICE_MODE: 'mock',
      ANTHROPIC_MODE: 'hybrid',
      ANTHROPIC_API_KEY: KEY,
      ANTHROPIC_UPSTREAM_URL: gone.url,
    });
    await gone.close();
    try {
      for (const [tg, reason] of [
        [noKey, 'no_api_key'],
        [dead, 'upstream_unreachable'],
      ] as const) {
        const { response } = await sdk(tg).messages.create(ask).withResponse();
        assert.equal(response.headers.get('x-tollgate-served-by'), 'mock');
        assert.equal(response.headers.get('x-tollgate-fallback'), reason);
      }
    } finally {
      await noKey.close();
      await dead.close();
    }
  });

  it('streams from the mock when the provider is overloaded before the first byte', async () => {
    standin.fault({ kind: 'status', status: 529, type: 'overloaded_error' });
    const final = await sdk(tg).messages.stream(ask).finalMessage();
    assert.equal(final.stop_reason, 'end_turn');
    assert.equal(tg.calls.at(-1)?.fallbackReason, 'upstream_5xx');
  });
});

describe("the sidecar's own errors on /anthropic", () => {
  let tg: TestTollgate;
  before(async () => {
    tg = await startTestTollgate({
      SERVICE_MODE: 'mock',
      ANTHROPIC_REQUESTS_PER_HOUR: '2',
      ANTHROPIC_REQUESTS_BURST: '2',
      ANTHROPIC_BUDGET_DAILY_USD: '0.0001',
      BUDGET_INCLUDE_MOCK: 'true',
    });
  });
  after(() => tg.close());

  const post = (path: string, body: string) =>
    fetch(`${tg.url}/anthropic${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body,
    });

  it('refuses a budget overrun in Anthropic shape, with x-should-retry: false so the SDK does not retry', async () => {
    const before = tg.calls.length;
    // A worst case of 4,000 output tokens at $5/1M is $0.02, over the $0.0001 daily budget.
    await assert.rejects(sdk(tg, 'placeholder', 2).messages.create({ ...ask, max_tokens: 4000 }), (e: unknown) => {
      assert.ok(e instanceof Anthropic.RateLimitError);
      const body = e.error as AnthropicErrorBody;
      assert.equal(body.type, 'error');
      assert.equal(body.error.type, 'rate_limit_error');
      assert.equal(body.error.code, 'budget_exceeded');
      assert.match(body.error.message, /ANTHROPIC_BUDGET_DAILY_USD/);
      assert.equal(e.headers.get('x-should-retry'), 'false');
      return true;
    });
    assert.equal(tg.calls.length, before + 1, 'maxRetries: 2, yet one call: the SDK did not retry');
  });

  it('refuses an empty request bucket in Anthropic shape, with retry-after', async () => {
    // count_tokens is free (no budget) but takes a request from the bucket, like any call.
    const counts = [];
    for (let i = 0; i < 3; i++)
      counts.push(
        await post('/v1/messages/count_tokens', JSON.stringify({ model: ask.model, messages: ask.messages })),
      );
    assert.equal(counts[0]?.status, 200);
    const limited = counts.find((r) => r.status === 429);
    assert.ok(limited, 'the bucket of 2 ran out');
    const body = (await limited.json()) as AnthropicErrorBody;
    assert.equal(body.error.type, 'rate_limit_error');
    assert.equal(body.error.code, 'rate_limit_exceeded');
    assert.match(body.error.message, /ANTHROPIC_REQUESTS_PER_HOUR/);
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    assert.ok(Number(limited.headers.get('retry-after-ms')) > 0);
  });

  it('answers bad JSON and unknown paths in Anthropic shape', async () => {
    const bad = await post('/v1/messages', '{ nope');
    assert.equal(bad.status, 400);
    const badBody = (await bad.json()) as AnthropicErrorBody;
    assert.deepEqual(
      [badBody.type, badBody.error.type, badBody.error.code],
      ['error', 'invalid_request_error', 'invalid_json'],
    );
    const missing = await fetch(`${tg.url}/anthropic/v1/files`);
    assert.equal(missing.status, 404);
    const missingBody = (await missing.json()) as AnthropicErrorBody;
    assert.deepEqual([missingBody.type, missingBody.error.type], ['error', 'not_found_error']);
  });
});

describe('Anthropic keys: FORWARD_CLIENT_AUTH and the health probe', () => {
  let standin: AnthropicStandin;
  before(async () => {
    standin = await startAnthropicStandin({ expectKey: KEY });
  });
  after(() => standin.close());

  it("passes the worker's own x-api-key upstream with FORWARD_CLIENT_AUTH=true", async () => {
    const tg = await startTestTollgate({
      SERVICE_MODE: 'mock',
      ANTHROPIC_MODE: 'real',
      FORWARD_CLIENT_AUTH: 'true',
      ANTHROPIC_UPSTREAM_URL: standin.url,
    });
    try {
      standin.reset();
      // The SDK (1.17) sends its key as `Authorization: Bearer`; older clients and curl send x-api-key.
      const m = await sdk(tg, KEY).messages.create(ask);
      assert.equal(m.type, 'message');
      assert.equal(standin.requests.at(-1)?.headers.authorization, `Bearer ${KEY}`);
      const raw = await fetch(`${tg.url}/anthropic/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'x-api-key': KEY },
        body: JSON.stringify(ask),
      });
      assert.equal(raw.status, 200);
      assert.equal(standin.requests.at(-1)?.headers['x-api-key'], KEY);
    } finally {
      await tg.close();
    }
  });

  it('probes GET /v1/models with the version header, and names invalid_api_key, never the key', async () => {
    const vars = {
      SERVICE_MODE: 'mock',
      ANTHROPIC_MODE: 'real',
      ANTHROPIC_UPSTREAM_URL: standin.url,
      HEALTH_CHECK_INTERVAL_MS: '200',
      HEALTH_CHECK_TIMEOUT_MS: '150',
    };
    const check = async (tg: TestTollgate) => {
      const h = (await (await fetch(`${tg.url}/health`)).json()) as {
        checks: Record<string, { status: string; output: string }[]>;
      };
      return h.checks['anthropic:upstream']?.[0];
    };
    const good = await startTestTollgate({ ...vars, ANTHROPIC_API_KEY: KEY });
    try {
      await until(async () => (await check(good))?.status === 'pass', 3000, 20);
      const probe = standin.requests.find((r) => r.path === '/v1/models');
      assert.equal(probe?.headers['anthropic-version'], '2023-06-01');
    } finally {
      await good.close();
    }
    const bad = await startTestTollgate({ ...vars, ANTHROPIC_API_KEY: WRONG });
    try {
      await until(async () => (await check(bad))?.status === 'fail', 3000, 20);
      const result = await check(bad);
      assert.match(result?.output ?? '', /invalid_api_key/);
      assert.match(result?.output ?? '', /ANTHROPIC_API_KEY/);
      const shown = JSON.stringify(await (await fetch(`${bad.url}/health`)).json()) + bad.logText();
      assert.ok(!shown.includes(WRONG) && !shown.includes('WRONG-secret'), 'the key leaked');
    } finally {
      await bad.close();
    }
  });
});
