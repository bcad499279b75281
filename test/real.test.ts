import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import OpenAI from 'openai';
import { type Standin, startStandin } from './support/standin.js';
import { llamaParseReader, startTestTollgate, type TestTollgate, until } from './support/tollgate.js';

const KEY = 'sk-test-sidecar-key-0123456789';
const LLX = 'llx-test-key-0123456789';

describe('REAL mode against a stand-in provider', () => {
  let standin: Standin;
  let tg: TestTollgate;
  let client: OpenAI;

  before(async () => {
    standin = await startStandin({ expectOpenAIKey: KEY, expectLlamaKey: LLX, chunkGapMs: 0, quiet: true });
    tg = await startTestTollgate({
      SERVICE_MODE: 'real',
      ANTHROPIC_MODE: 'mock',
      OPENAI_API_KEY: KEY,
      LLAMA_CLOUD_API_KEY: LLX,
      OPENAI_UPSTREAM_URL: standin.openaiBase,
      LLAMAPARSE_UPSTREAM_URL: standin.llamaparseBase,
      UPSTREAM_TIMEOUT_MS: '400',
      CIRCUIT_FAILURE_THRESHOLD: '3',
      CIRCUIT_RESET_MS: '300',
    });
    client = new OpenAI({ baseURL: `${tg.url}/openai/v1`, apiKey: 'sk-worker-placeholder', maxRetries: 0 });
  });
  after(async () => {
    await tg.close();
    await standin.close();
  });
  beforeEach(async () => {
    await standin.setFault(null);
    standin.reset();
    tg.circuits.openai.reset();
    tg.calls.length = 0;
  });

  it('forwards a chat call with the sidecar key, the correlation id and one traceparent', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const { data, response } = await client.chat.completions
      .create(
        { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] },
        { headers: { 'x-correlation-id': 'doc-42', traceparent: `00-${traceId}-00f067aa0ba902b7-01` } },
      )
      .withResponse();
    assert.equal(data.object, 'chat.completion');
    assert.equal(response.headers.get('x-correlation-id'), 'doc-42');
    assert.equal(response.headers.get('x-tollgate-served-by'), 'real');
    assert.equal(response.headers.get('x-tollgate-mode'), 'real');
    assert.equal(response.headers.get('x-tollgate-fallback'), null);
    const seen = standin.requests.at(-1)!;
    assert.equal(seen.headers.authorization, `Bearer ${KEY}`);
    assert.equal(seen.headers['x-correlation-id'], 'doc-42');
    const tp = seen.headers.traceparent;
    assert.equal(typeof tp, 'string', 'exactly one traceparent upstream');
    assert.match(tp as string, new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    assert.notEqual((tp as string).split('-')[2], '00f067aa0ba902b7', 'the sidecar is the parent');
    assert.equal(tg.calls.at(-1)?.usage?.inputTokens, data.usage?.prompt_tokens);
  });

  it('asks upstream for stream usage and strips it when the worker did not ask', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'stream please' }],
      stream: true,
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    assert.ok(chunks.length > 2);
    assert.ok(
      chunks.every((c) => c.choices.length > 0),
      'no usage-only chunk reaches the worker',
    );
    assert.ok(
      chunks.every((c) => !('usage' in c)),
      'no usage:null markers either',
    );
    const sent = JSON.parse(standin.requests.at(-1)!.body.toString()) as {
      stream_options?: { include_usage?: boolean };
    };
    assert.equal(sent.stream_options?.include_usage, true);
    const call = tg.calls.at(-1)!;
    assert.equal(call.stream, true);
    assert.ok((call.usage?.outputTokens ?? 0) > 0, 'the stripped usage was metered');
  });

  it('keeps the usage chunk when the worker asked for it', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'usage please' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
    assert.ok(usage && usage.completion_tokens > 0);
    assert.equal(tg.calls.at(-1)?.usage?.outputTokens, usage.completion_tokens);
  });

  it('relays embeddings in base64 as the SDK asks by default', async () => {
    const res = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['a', 'b'] });
    assert.equal(res.data.length, 2);
    assert.equal(res.data[0]!.embedding.length, 1536);
    assert.equal(tg.calls.at(-1)?.operation, 'embeddings');
  });

  it('passes provider errors through unchanged', async () => {
    const body = { error: { message: 'bad thing', type: 'invalid_request_error', param: 'messages', code: 'x_y' } };
    await standin.setFault({ kind: 'status', status: 400, body }, { times: 1 });
    const res = await fetch(`${tg.url}/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }),
    });
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), body);
  });

  it('answers 502 upstream_unreachable when the provider refuses connections', async () => {
    await standin.setFault({ kind: 'refuse' });
    await assert.rejects(
      client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }),
      (e: InstanceType<typeof OpenAI.APIError>) => e.status === 502 && e.code === 'upstream_unreachable',
    );
    const res = await fetch(`${tg.url}/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }),
    });
    const text = await res.text();
    const { host } = new URL(standin.openaiBase);
    assert.ok(text.includes(`at ${host} (ECONNREFUSED)`), `names the address and the cause: ${text}`);
    assert.ok(!text.includes(KEY), 'never the key');
  });

  it('answers 504 upstream_timeout when the provider hangs', async () => {
    await standin.setFault({ kind: 'hang' });
    const t0 = performance.now();
    await assert.rejects(
      client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }),
      (e: InstanceType<typeof OpenAI.APIError>) =>
        e.status === 504 && e.code === 'upstream_timeout' && /UPSTREAM_TIMEOUT_MS=400/.test(e.message),
    );
    assert.ok(performance.now() - t0 < 3000, 'bounded by UPSTREAM_TIMEOUT_MS');
  });

  it('opens the circuit after repeated failures, answers 503 without calling upstream, and recovers', async () => {
    await standin.setFault({ kind: 'status', status: 500, body: { error: { message: 'boom' } } });
    for (let i = 0; i < 3; i++) {
      const r = await fetch(`${tg.url}/openai/v1/models`);
      assert.equal(r.status, 500);
    }
    const hits = standin.hits();
    const open = await fetch(`${tg.url}/openai/v1/models`);
    assert.equal(open.status, 503);
    assert.equal(((await open.json()) as { error: { code: string } }).error.code, 'provider_unavailable');
    assert.ok(Number(open.headers.get('retry-after')) >= 1);
    assert.equal(standin.hits(), hits, 'an open circuit does not touch the upstream');
    await standin.setFault(null);
    const waited = await until(async () => (await fetch(`${tg.url}/openai/v1/models`)).status === 200, 3000, 20);
    assert.ok(waited >= 150, `a probe only after CIRCUIT_RESET_MS (waited ${waited.toFixed(0)} ms)`);
    assert.equal(tg.circuits.openai.state, 'closed');
  });

  it('aborts the upstream call when the worker disconnects mid-stream', async () => {
    await standin.setFault({ kind: 'stall-mid-stream', ms: 2000 }, { times: 1 });
    const ac = new AbortController();
    const res = await fetch(`${tg.url}/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], stream: true }),
      signal: ac.signal,
    });
    const reader = res.body!.getReader();
    await reader.read();
    ac.abort();
    await until(() => tg.calls.length > 0, 1500);
    const call = tg.calls.at(-1)!;
    assert.equal(call.aborted, true);
    assert.ok(call.durationMs < 1500, 'the sidecar stopped waiting for the stalled upstream');
  });

  it('never passes the worker key upstream, and never logs a key', async () => {
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
    assert.ok(standin.requests.every((r) => !String(r.headers.authorization).includes('placeholder')));
    assert.ok(!tg.logText().includes(KEY));
    assert.ok(!tg.logText().includes('sk-worker-placeholder'));
  });

  it('LlamaParseReader parses through the sidecar to the provider with the sidecar key', async () => {
    const { mkdtemp, writeFile } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-real-'));
    const file = join(dir, 'note.md');
    await writeFile(file, '# Heading\n\nBody text for the stand-in.\n');
    const reader = llamaParseReader(`${tg.url}/llamaparse`, 'llx-worker-placeholder');
    const docs = await reader.loadData(file);
    assert.ok(docs.length >= 1);
    const upload = standin.requests.find((r) => r.url.includes('/parsing/upload'))!;
    assert.equal(upload.headers.authorization, `Bearer ${LLX}`);
    assert.ok(upload.body.includes('Body text for the stand-in.'), 'the upload was streamed through intact');
    assert.ok(tg.calls.some((c) => c.operation === 'parse.upload' && c.servedBy === 'real' && c.status === 200));
  });

  it('raw v2 parse upload and get reach the provider', async () => {
    const form = new FormData();
    form.append('file', new Blob(['hello v2']), 'v2.txt');
    form.append('configuration', JSON.stringify({ tier: 'cost_effective', version: 'latest' }));
    const up = await fetch(`${tg.url}/llamaparse/api/v2/parse/upload`, { method: 'POST', body: form });
    assert.equal(up.status, 200);
    assert.equal(up.headers.get('x-tollgate-served-by'), 'real');
    const { id } = (await up.json()) as { id: string };
    const got = await fetch(`${tg.url}/llamaparse/api/v2/parse/${id}?expand=markdown`);
    assert.equal(got.status, 200);
    assert.ok(
      standin.requests.some((r) => r.url.startsWith(`/api/v2/parse/${id}`) && r.url.includes('expand=markdown')),
    );
  });
});
