import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import OpenAI from 'openai';
import { type Standin, startStandin } from './support/standin.js';
import { startTestTollgate, type TestTollgate, until } from './support/tollgate.js';

const KEY = 'sk-test-hybrid-key-0123456789';
const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hello there' }] };

describe('HYBRID mode falls back to the mock within the same request', () => {
  let standin: Standin;
  let tg: TestTollgate;
  let client: OpenAI;

  before(async () => {
    standin = await startStandin({ expectOpenAIKey: KEY, quiet: true });
    tg = await startTestTollgate({
      SERVICE_MODE: 'hybrid',
      OPENAI_API_KEY: KEY,
      OPENAI_UPSTREAM_URL: standin.openaiBase,
      LLAMAPARSE_UPSTREAM_URL: standin.llamaparseBase,
      LLAMA_CLOUD_API_KEY: 'llx-test-hybrid-0123456789',
      UPSTREAM_TIMEOUT_MS: '300',
      CIRCUIT_FAILURE_THRESHOLD: '2',
      CIRCUIT_RESET_MS: '400',
    });
    client = new OpenAI({ baseURL: `${tg.url}/openai/v1`, apiKey: 'placeholder', maxRetries: 0 });
  });
  after(async () => {
    await tg.close();
    await standin.close();
  });
  beforeEach(async () => {
    await standin.setFault(null);
    standin.reset();
    tg.circuits.openai.reset();
    tg.circuits.llamaparse.reset();
    tg.calls.length = 0;
  });

  const served = async () => {
    const { data, response } = await client.chat.completions.create(chat).withResponse();
    assert.equal(data.object, 'chat.completion');
    return {
      by: response.headers.get('x-tollgate-served-by'),
      reason: response.headers.get('x-tollgate-fallback'),
      mode: response.headers.get('x-tollgate-mode'),
    };
  };

  it('uses the provider while it answers', async () => {
    assert.deepEqual(await served(), { by: 'real', reason: null, mode: 'hybrid' });
    assert.equal(standin.hits('/v1/chat/completions'), 1);
  });

  for (const [name, fault, reason] of [
    ['connection refused', { kind: 'refuse' }, 'upstream_unreachable'],
    ['reset before any byte', { kind: 'reset' }, 'upstream_unreachable'],
    ['a hang past UPSTREAM_TIMEOUT_MS', { kind: 'hang' }, 'upstream_timeout'],
    ['a 500', { kind: 'status', status: 500 }, 'upstream_5xx'],
    ['a 503', { kind: 'status', status: 503, headers: { 'retry-after': '2' } }, 'upstream_5xx'],
    ['a 429', { kind: 'status', status: 429, headers: { 'retry-after': '1' } }, 'upstream_429'],
  ] as const) {
    it(`falls back on ${name} with reason ${reason}`, async () => {
      await standin.setFault(fault, { times: 1 });
      assert.deepEqual(await served(), { by: 'mock', reason, mode: 'hybrid' });
      const call = tg.calls.at(-1)!;
      assert.equal(call.fallbackReason, reason);
      assert.equal(call.servedBy, 'mock');
    });
  }

  it('falls back a stream before its first byte', async () => {
    await standin.setFault({ kind: 'status', status: 502 }, { times: 1 });
    const { data: stream, response } = await client.chat.completions.create({ ...chat, stream: true }).withResponse();
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    assert.ok(text.length > 0);
    assert.equal(response.headers.get('x-tollgate-fallback'), 'upstream_5xx');
  });

  it('serves from the mock without touching the upstream while the circuit is open, then recovers', async (t) => {
    await standin.setFault({ kind: 'status', status: 500 });
    await served();
    await served();
    assert.equal(tg.circuits.openai.state, 'open');
    const hits = standin.hits();
    const r = await served();
    assert.deepEqual(r, { by: 'mock', reason: 'circuit_open', mode: 'hybrid' });
    assert.equal(standin.hits(), hits, 'no upstream call while open');

    await standin.setFault(null);
    const recovered = performance.now();
    const waited = await until(async () => (await served()).by === 'real', 3000, 25);
    const recoveryMs = performance.now() - recovered;
    assert.ok(recoveryMs <= 400 + 300, `recovered ${recoveryMs.toFixed(0)} ms after the upstream returned`);
    assert.ok(waited > 0);
    t.diagnostic(
      `recovery: first real answer ${recoveryMs.toFixed(0)} ms after the upstream came back (CIRCUIT_RESET_MS=400)`,
    );
    assert.equal(tg.circuits.openai.state, 'closed');
  });

  const circuitMetric = async () => {
    const text = await (await fetch(`${tg.url}/metrics`)).text();
    const line = text.split('\n').find((l) => /^tollgate_circuit_open\{[^}]*provider="openai"/.test(l));
    assert.ok(line, text);
    return Number(line.split(' ').at(-1));
  };
  const upstreamOutput = async () => {
    const body = (await (await fetch(`${tg.url}/health`)).json()) as {
      checks: Record<string, { output?: string }[]>;
    };
    return body.checks['openai:upstream']![0]!.output ?? '';
  };

  it('opens the circuit when the health probe fails: circuit_open, the metric and /health agree', async () => {
    assert.equal(await circuitMetric(), 0);
    await standin.setFault({ kind: 'status', status: 503 }, { paths: '/v1/models' });
    await tg.probes.probeNow('openai');
    // The probe failed: before any call, the metric and /health already say open.
    assert.equal(tg.circuits.openai.state, 'open');
    assert.equal(await circuitMetric(), 1);
    assert.match(await upstreamOutput(), /circuit open: the health probe failed/);

    assert.deepEqual(await served(), { by: 'mock', reason: 'circuit_open', mode: 'hybrid' });
    assert.equal(await circuitMetric(), 1, 'the metric agrees at the moment of the fallback');
    assert.match(await upstreamOutput(), /circuit open/);
    assert.equal(standin.hits('/v1/chat/completions'), 0);

    // The probe passes again: the circuit it opened closes, and the provider answers.
    await standin.setFault(null);
    await tg.probes.probeNow('openai');
    assert.equal(tg.circuits.openai.state, 'closed');
    assert.equal(await circuitMetric(), 0);
    assert.equal((await served()).by, 'real');
  });

  it('serves the mock with no_api_key when the provider has no key', async () => {
    const t2 = await startTestTollgate({ SERVICE_MODE: 'hybrid', OPENAI_UPSTREAM_URL: standin.openaiBase });
    try {
      const c2 = new OpenAI({ baseURL: `${t2.url}/openai/v1`, apiKey: 'placeholder', maxRetries: 0 });
      const { response } = await c2.chat.completions.create(chat).withResponse();
      assert.equal(response.headers.get('x-tollgate-fallback'), 'no_api_key');
      assert.equal(standin.hits(), 0);
    } finally {
      await t2.close();
    }
  });

  it('falls back a LlamaParse upload to the mock, re-reading the spooled file', async () => {
    await standin.setFault({ kind: 'refuse' });
    const form = new FormData();
    form.append('file', new Blob(['# Title\n\nSome text to parse.\n'], { type: 'text/markdown' }), 'note.md');
    const up = await fetch(`${tg.url}/llamaparse/api/v1/parsing/upload`, { method: 'POST', body: form });
    assert.equal(up.status, 200);
    assert.equal(up.headers.get('x-tollgate-fallback'), 'upstream_unreachable');
    const job = (await up.json()) as { id: string };
    await standin.setFault(null);
    const hits = standin.hits();
    // The job lives in the mock: its status and result calls are answered there, not by the provider.
    await until(async () => {
      const r = await fetch(`${tg.url}/llamaparse/api/v1/parsing/job/${job.id}`);
      assert.equal(r.headers.get('x-tollgate-served-by'), 'mock');
      return ((await r.json()) as { status: string }).status === 'SUCCESS';
    }, 3000);
    const md = (await (await fetch(`${tg.url}/llamaparse/api/v1/parsing/job/${job.id}/result/markdown`)).json()) as {
      markdown: string;
    };
    assert.match(md.markdown, /Some text to parse/);
    assert.equal(standin.hits(), hits, 'follow-up calls for a mock job never reach the provider');
  });
});
