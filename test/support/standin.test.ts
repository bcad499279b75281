import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { type Standin, startStandin } from './standin.js';
import { llamaParseReader } from './tollgate.js';

const OPENAI_KEY = 'sk-standin-test-key';
const LLAMA_KEY = 'llx-standin-test-key';

function client(standin: Standin, apiKey = OPENAI_KEY): OpenAI {
  return new OpenAI({ apiKey, baseURL: standin.openaiBase, maxRetries: 0, timeout: 5000 });
}

function postJson(standin: Standin, path: string, body: unknown, signal?: AbortSignal): Promise<Response> {
  return fetch(`${standin.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${OPENAI_KEY}` },
    body: JSON.stringify(body),
    signal: signal ?? AbortSignal.timeout(5000),
  });
}

const CHAT = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'Say something short.' }] };

/** One raw request with node:http, reporting how it ended (fetch hides the socket-level error codes). */
function rawPost(
  standin: Standin,
  path: string,
  body: unknown,
): Promise<{ status?: number; body: string; error?: NodeJS.ErrnoException }> {
  return new Promise(function sendRaw(resolve) {
    const payload = JSON.stringify(body);
    const req = httpRequest(`${standin.url}${path}`, {
      method: 'POST',
      agent: false,
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(payload),
        authorization: `Bearer ${OPENAI_KEY}`,
      },
      timeout: 5000,
    });
    req.on('timeout', () => req.destroy(new Error('test timeout')));
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ body: '', error }));
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode, body: text }));
      res.on('error', (error: NodeJS.ErrnoException) => resolve({ status: res.statusCode, body: text, error }));
      res.on('aborted', () => resolve({ status: res.statusCode, body: text, error: new Error('aborted') }));
    });
    req.end(payload);
  });
}

/** Reads an SSE body, noting when each frame arrived. */
async function readFrames(res: Response): Promise<{ frames: string[]; times: number[] }> {
  const frames: string[] = [];
  const times: number[] = [];
  const decoder = new TextDecoder();
  let buffered = '';
  assert.ok(res.body);
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buffered += decoder.decode(value, { stream: true });
    let end = buffered.indexOf('\n\n');
    while (end !== -1) {
      frames.push(buffered.slice(0, end));
      times.push(performance.now());
      buffered = buffered.slice(end + 2);
      end = buffered.indexOf('\n\n');
    }
  }
  return { frames, times };
}

function dataOf(frame: string): unknown {
  const line = frame.split('\n').find((l) => l.startsWith('data: '));
  assert.ok(line, `no data line in ${frame}`);
  return JSON.parse(line.slice(6));
}

describe('standin: OpenAI routes through the official SDK', () => {
  let standin: Standin;
  before(async () => {
    standin = await startStandin({ expectOpenAIKey: OPENAI_KEY, quiet: true });
  });
  after(() => standin.close());

  it('answers a chat completion with realistic fields and usage', async () => {
    const completion = await client(standin).chat.completions.create(CHAT);
    assert.match(completion.id, /^chatcmpl-/);
    assert.equal(completion.object, 'chat.completion');
    assert.equal(completion.model, 'gpt-4o-mini');
    assert.equal(typeof completion.created, 'number');
    assert.equal(completion.choices[0]?.finish_reason, 'stop');
    assert.equal(completion.choices[0]?.message.role, 'assistant');
    assert.ok((completion.choices[0]?.message.content ?? '').length > 0);
    const usage = completion.usage;
    assert.ok(usage);
    assert.equal(usage.completion_tokens, 8);
    assert.ok(usage.prompt_tokens > 4);
    assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
    assert.equal(usage.prompt_tokens_details?.cached_tokens, 0);
  });

  it('counts prompt tokens deterministically and grows with the prompt', async () => {
    const short = await client(standin).chat.completions.create(CHAT);
    const again = await client(standin).chat.completions.create(CHAT);
    const long = await client(standin).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'word '.repeat(400) }],
    });
    assert.equal(short.usage?.prompt_tokens, again.usage?.prompt_tokens);
    assert.ok((long.usage?.prompt_tokens ?? 0) > (short.usage?.prompt_tokens ?? 0) + 400);
  });

  it('stops with finish_reason length at max_tokens and honours n', async () => {
    const completion = await client(standin).chat.completions.create({ ...CHAT, max_tokens: 3, n: 2 });
    assert.equal(completion.choices.length, 2);
    assert.equal(completion.choices[1]?.finish_reason, 'length');
    assert.equal(completion.usage?.completion_tokens, 6);
  });

  it('streams chunks, then the usage chunk only when include_usage is set', async () => {
    const stream = await client(standin).chat.completions.create({
      ...CHAT,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const content = chunks.filter((c) => (c.choices[0]?.delta.content ?? '') !== '');
    assert.equal(content.length, 8);
    assert.equal(chunks.at(-2)?.choices[0]?.finish_reason, 'stop');
    const last = chunks.at(-1);
    assert.deepEqual(last?.choices, []);
    assert.equal(last?.usage?.completion_tokens, 8);
    assert.equal(last?.object, 'chat.completion.chunk');

    const plain = await postJson(standin, '/v1/chat/completions', { ...CHAT, stream: true });
    assert.match(plain.headers.get('content-type') ?? '', /^text\/event-stream/);
    const { frames } = await readFrames(plain);
    assert.equal(frames.at(-1), 'data: [DONE]');
    assert.ok(!frames.some((f) => f.includes('"usage"')), 'no usage without include_usage');
    assert.equal(frames.length, 1 + 8 + 1 + 1);
  });

  it('embeds as floats and as base64 little-endian float32, honouring dimensions', async () => {
    const openai = client(standin);
    const floats = await openai.embeddings.create({
      model: 'text-embedding-3-small',
      input: ['hello', 'world'],
      encoding_format: 'float',
    });
    assert.equal(floats.data.length, 2);
    const first = floats.data[0]?.embedding ?? [];
    assert.equal(first.length, 1536);
    const norm = Math.sqrt(first.reduce((sum, v) => sum + v * v, 0));
    assert.ok(Math.abs(norm - 1) < 1e-4);
    assert.ok(floats.usage.prompt_tokens > 0);
    assert.equal(floats.usage.total_tokens, floats.usage.prompt_tokens);

    // The SDK asks for base64 by default and decodes it itself.
    const decoded = await openai.embeddings.create({ model: 'text-embedding-3-small', input: 'hello' });
    const again = decoded.data[0]?.embedding ?? [];
    assert.equal(again.length, 1536);
    assert.ok(
      again.every((v, i) => Math.abs(v - (first[i] ?? 0)) < 1e-6),
      'same input, same vector',
    );

    const raw = await postJson(standin, '/v1/embeddings', {
      model: 'text-embedding-3-large',
      input: 'hello',
      encoding_format: 'base64',
      dimensions: 256,
    });
    const body = (await raw.json()) as { data: Array<{ embedding: string }> };
    const bytes = Buffer.from(body.data[0]?.embedding ?? '', 'base64');
    assert.equal(bytes.length, 256 * 4);
    assert.ok(Number.isFinite(bytes.readFloatLE(0)));
    const large = await openai.embeddings.create({
      model: 'text-embedding-3-large',
      input: 'x',
      encoding_format: 'float',
    });
    assert.equal(large.data[0]?.embedding.length, 3072);
  });

  it('answers the Responses API as JSON and as the SSE event sequence the SDK accumulates', async () => {
    const openai = client(standin);
    const response = await openai.responses.create({ model: 'gpt-4o-mini', input: 'Hello there' });
    assert.equal(response.object, 'response');
    assert.equal(response.status, 'completed');
    assert.equal(response.model, 'gpt-4o-mini');
    assert.ok(response.output_text.length > 0);
    assert.equal(response.usage?.output_tokens, 8);

    const stream = openai.responses.stream({ model: 'gpt-4o-mini', input: 'Hello there' });
    const types: string[] = [];
    const sequence: number[] = [];
    for await (const event of stream) {
      types.push(event.type);
      sequence.push(event.sequence_number);
    }
    const final = await stream.finalResponse();
    assert.equal(types[0], 'response.created');
    assert.equal(types.at(-1), 'response.completed');
    assert.equal(types.filter((t) => t === 'response.output_text.delta').length, 8);
    assert.deepEqual(
      sequence,
      sequence.map((_, i) => i),
    );
    assert.equal(final.output_text, response.output_text);
    assert.equal(final.usage?.total_tokens, (final.usage?.input_tokens ?? 0) + 8);
  });

  it('lists and retrieves models, and answers unknown ones and paths with OpenAI-shaped 404s', async () => {
    const openai = client(standin);
    const models = [];
    for await (const model of openai.models.list()) models.push(model.id);
    assert.ok(models.includes('gpt-4o-mini'));
    const one = await openai.models.retrieve('text-embedding-3-small');
    assert.equal(one.object, 'model');
    await assert.rejects(openai.models.retrieve('no-such-model'), (err: unknown) => {
      assert.ok(err instanceof OpenAI.NotFoundError);
      assert.equal(err.code, 'model_not_found');
      return true;
    });
    const res = await postJson(standin, '/v1/not/a/route', {});
    assert.equal(res.status, 404);
    const body = (await res.json()) as { error: { message: string; type: string; code: null } };
    assert.equal(body.error.message, 'Invalid URL (POST /v1/not/a/route)');
    assert.equal(body.error.type, 'invalid_request_error');
  });

  it("answers a wrong or missing key with OpenAI's 401 bodies", async () => {
    await assert.rejects(client(standin, 'sk-xxwrong').chat.completions.create(CHAT), (err: unknown) => {
      assert.ok(err instanceof OpenAI.AuthenticationError);
      assert.equal(err.code, 'invalid_api_key');
      assert.equal(
        err.message,
        '401 Incorrect API key provided: sk-xx***. You can find your API key at https://platform.openai.com/account/api-keys.',
      );
      return true;
    });
    const res = await fetch(`${standin.openaiBase}/models`);
    assert.equal(res.status, 401);
    const body = (await res.json()) as { error: { message: string; type: string; param: null; code: null } };
    assert.match(body.error.message, /^You didn't provide an API key/);
    assert.equal(body.error.code, null);
  });

  it('answers invalid JSON with a 400 in OpenAI shape', async () => {
    const res = await fetch(`${standin.openaiBase}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${OPENAI_KEY}`, 'content-type': 'application/json' },
      body: '{not json',
    });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { error: { message: string } };
    assert.match(body.error.message, /could not parse the JSON body/);
  });
});

describe('standin: LlamaCloud routes', () => {
  let standin: Standin;
  before(async () => {
    standin = await startStandin({ expectLlamaKey: LLAMA_KEY, parseDelayMs: 150, quiet: true });
  });
  after(() => standin.close());

  function llama(path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(`${standin.llamaparseBase}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${LLAMA_KEY}`, ...(init.headers as Record<string, string>) },
      signal: AbortSignal.timeout(5000),
    });
  }

  function upload(path: string, text: string, name = 'doc.md', extra: Record<string, string> = {}): Promise<Response> {
    const form = new FormData();
    for (const [key, value] of Object.entries(extra)) form.append(key, value);
    form.append('file', new Blob([text], { type: 'text/markdown' }), name);
    return llama(path, { method: 'POST', body: form });
  }

  it('runs a v1 job: upload, PENDING until parseDelayMs, SUCCESS, results with job_metadata', async () => {
    const text = `# Title\n\n${'lorem ipsum '.repeat(400)}`;
    const res = await upload('/api/v1/parsing/upload', text);
    assert.equal(res.status, 200);
    const job = (await res.json()) as { id: string; status: string };
    assert.equal(job.status, 'PENDING');
    assert.match(job.id, /^[0-9a-f-]{36}$/);
    const recorded = standin.requests.at(-1);
    assert.ok(recorded && recorded.bytes > text.length, 'the multipart body was counted');

    const pending = (await (await llama(`/api/v1/parsing/job/${job.id}`)).json()) as { status: string };
    assert.equal(pending.status, 'PENDING');
    assert.equal((await llama(`/api/v1/parsing/job/${job.id}/result/markdown`)).status, 404);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const done = (await (await llama(`/api/parsing/job/${job.id}`)).json()) as { status: string };
    assert.equal(done.status, 'SUCCESS');

    const markdown = (await (await llama(`/api/parsing/job/${job.id}/result/markdown`)).json()) as {
      markdown: string;
      job_metadata: { credits_used: number; job_credits_usage: number; job_pages: number; job_is_cache_hit: boolean };
    };
    assert.ok(markdown.markdown.startsWith('# Title'));
    assert.equal(markdown.job_metadata.job_pages, 2);
    assert.equal(markdown.job_metadata.credits_used, 6);
    assert.equal(markdown.job_metadata.job_is_cache_hit, false);
    const textResult = (await (await llama(`/api/v1/parsing/job/${job.id}/result/text`)).json()) as { text: string };
    assert.ok(textResult.text.includes('lorem ipsum'));
    const json = (await (await llama(`/api/v1/parsing/job/${job.id}/result/json`)).json()) as {
      pages: Array<{ page: number; md: string }>;
    };
    assert.deepEqual(
      json.pages.map((p) => p.page),
      [1, 2],
    );
  });

  it('runs v2 jobs from an upload and from a file id, expanding markdown and job_metadata', async () => {
    const res = await upload('/api/v2/parse/upload', 'page one\fpage two\fpage three', 'three.txt', {
      configuration: JSON.stringify({ tier: 'agentic', version: 'latest' }),
    });
    const job = (await res.json()) as { id: string; status: string; tier: string };
    assert.equal(job.status, 'PENDING');
    assert.equal(job.tier, 'agentic');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const got = (await (
      await llama(`/api/v2/parse/${job.id}?expand=markdown,job_metadata&expand=text_full`)
    ).json()) as {
      job: { id: string; status: string };
      markdown: { pages: Array<{ page_number: number; markdown: string }> };
      text_full: string;
      job_metadata: { credits_used: number; job_pages: number };
      text?: unknown;
    };
    assert.equal(got.job.status, 'COMPLETED');
    assert.equal(got.markdown.pages.length, 3);
    assert.equal(got.markdown.pages[2]?.markdown, 'page three');
    assert.equal(got.job_metadata.job_pages, 3);
    assert.equal(got.job_metadata.credits_used, 30);
    assert.ok(got.text_full.includes('page two'));
    assert.equal(got.text, undefined, 'only expanded fields are present');

    const created = await llama('/api/v2/parse', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ file_id: 'file-123', tier: 'fast', version: 'latest' }),
    });
    const second = (await created.json()) as { id: string; status: string };
    assert.equal(second.status, 'PENDING');
    const bare = (await (await llama(`/api/v2/parse/${second.id}`)).json()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(bare), ['job']);
  });

  it('serves the official LlamaParseReader from upload to markdown and JSON', async () => {
    const reader = llamaParseReader(standin.llamaparseBase, LLAMA_KEY);
    const file = new TextEncoder().encode('# Hello\n\nfrom the reader');
    const docs = await reader.loadDataAsContent(file, 'reader.md');
    assert.deepEqual(
      docs.map((d) => d.text),
      ['# Hello\n\nfrom the reader'],
    );
    const json = await reader.loadJson(file);
    assert.equal(json[0]?.job_metadata['job_pages'], 1);
  });

  it('answers a bad key with 401 {"detail":"Invalid API Key"} and unknown jobs with 404', async () => {
    const res = await fetch(`${standin.llamaparseBase}/api/v1/parsing/job/x`, {
      headers: { authorization: 'Bearer llx-wrong' },
    });
    assert.equal(res.status, 401);
    assert.deepEqual(await res.json(), { detail: 'Invalid API Key' });
    assert.equal((await llama('/api/v1/parsing/job/nope')).status, 404);
    assert.equal((await upload('/api/parsing/upload', '')).status, 400, 'an empty file fails');
  });
});

describe('standin: faults', () => {
  let standin: Standin;
  before(async () => {
    standin = await startStandin({ quiet: true, streamChunks: 4 });
  });
  after(() => standin.close());

  it('refuses connections, then serves on the same port again', async () => {
    await standin.setFault({ kind: 'refuse' });
    const refused = await rawPost(standin, '/v1/chat/completions', CHAT);
    assert.equal(refused.error?.code, 'ECONNREFUSED');
    await standin.setFault(null);
    const ok = await rawPost(standin, '/v1/chat/completions', CHAT);
    assert.equal(ok.status, 200);
  });

  it('resets the connection after reading the request', async () => {
    standin.reset();
    await standin.setFault({ kind: 'reset' }, { times: 1 });
    const reset = await rawPost(standin, '/v1/chat/completions', CHAT);
    assert.equal(reset.error?.code, 'ECONNRESET');
    assert.equal(standin.hits('/v1/chat/completions'), 1, 'the request was read and recorded');
    assert.equal((await rawPost(standin, '/v1/chat/completions', CHAT)).status, 200, 'times: 1 is used up');
  });

  it('hangs without answering until the client gives up', async () => {
    await standin.setFault({ kind: 'hang' }, { times: 1 });
    const started = performance.now();
    await assert.rejects(postJson(standin, '/v1/chat/completions', CHAT, AbortSignal.timeout(200)), {
      name: 'TimeoutError',
    });
    assert.ok(performance.now() - started >= 190);
  });

  it('answers a chosen status with a provider-shaped body and headers, only on matching paths', async () => {
    await standin.setFault({ kind: 'status', status: 429, headers: { 'retry-after': '7' } }, { paths: '/v1/chat' });
    const embeddings = await postJson(standin, '/v1/embeddings', { model: 'text-embedding-3-small', input: 'x' });
    assert.equal(embeddings.status, 200, 'other paths are unaffected');
    await assert.rejects(
      new OpenAI({ apiKey: 'x', baseURL: standin.openaiBase, maxRetries: 0 }).chat.completions.create(CHAT),
      (err: unknown) => {
        assert.ok(err instanceof OpenAI.RateLimitError);
        assert.equal(err.code, 'rate_limit_exceeded');
        assert.equal(err.headers?.get('retry-after'), '7');
        return true;
      },
    );
    await standin.setFault({ kind: 'status', status: 503 }, { times: 2 });
    const llama = await fetch(`${standin.url}/api/v1/parsing/job/x`);
    assert.equal(llama.status, 503);
    assert.ok(typeof ((await llama.json()) as { detail: unknown }).detail === 'string');
    const openai = await postJson(standin, '/v1/chat/completions', CHAT);
    assert.equal(openai.status, 503);
    assert.equal(((await openai.json()) as { error: { type: string } }).error.type, 'server_error');
    assert.equal((await postJson(standin, '/v1/chat/completions', CHAT)).status, 200);

    await standin.setFault({ kind: 'status', status: 500, body: { custom: true } }, { times: 1 });
    assert.deepEqual(await (await postJson(standin, '/v1/chat/completions', CHAT)).json(), { custom: true });
  });

  it('closes the connection right after the 200 headers', async () => {
    await standin.setFault({ kind: 'close-after-headers' }, { times: 1 });
    const res = await postJson(standin, '/v1/chat/completions', CHAT);
    assert.equal(res.status, 200);
    await assert.rejects(res.text());
    await standin.setFault({ kind: 'close-after-headers' }, { times: 1 });
    const raw = await rawPost(standin, '/v1/chat/completions', { ...CHAT, stream: true });
    assert.equal(raw.status, 200);
    assert.ok(raw.error, 'the stream ends with an error, not cleanly');
  });

  it('cuts a stream and a JSON body in the middle', async () => {
    await standin.setFault({ kind: 'reset-mid-body' }, { times: 2 });
    const stream = await rawPost(standin, '/v1/chat/completions', { ...CHAT, stream: true });
    assert.equal(stream.status, 200);
    assert.ok(stream.error);
    assert.match(stream.body, /chat\.completion\.chunk/, 'part of the stream arrived');
    assert.ok(!stream.body.includes('[DONE]'));
    const json = await rawPost(standin, '/v1/chat/completions', CHAT);
    assert.ok(json.error);
    assert.ok(json.body.length > 0 && json.body.startsWith('{"id":"chatcmpl-'));
  });

  it('stalls a stream after its first chunks for the given time, then finishes it', async () => {
    await standin.setFault({ kind: 'stall-mid-stream', ms: 250 }, { times: 1 });
    const started = performance.now();
    const res = await postJson(standin, '/v1/chat/completions', { ...CHAT, stream: true });
    const { frames, times } = await readFrames(res);
    assert.equal(frames.at(-1), 'data: [DONE]');
    assert.equal(frames.length, 1 + 4 + 1 + 1);
    // Timers never fire early, so this lower bound holds however loaded the machine is.
    const thirdFrameAt = (times[2] ?? 0) - started;
    assert.ok(thirdFrameAt >= 240, `third frame after ${thirdFrameAt} ms`);
    assert.ok(frames[1]?.includes('"content"'), 'the first content chunk came before the stall');
  });

  it('sends malformed JSON and malformed SSE that the SDK rejects', async () => {
    await standin.setFault({ kind: 'malformed-json' }, { times: 1 });
    const res = await postJson(standin, '/v1/chat/completions', CHAT);
    assert.equal(res.status, 200);
    await assert.rejects(res.json(), SyntaxError);

    await standin.setFault({ kind: 'malformed-sse' }, { times: 1 });
    // The SDK logs the frame it could not parse; that noise is expected here.
    const quietClient = new OpenAI({ apiKey: 'x', baseURL: standin.openaiBase, maxRetries: 0, logLevel: 'off' });
    const stream = await quietClient.chat.completions.create({ ...CHAT, stream: true });
    await assert.rejects(async () => {
      for await (const _chunk of stream) {
        // drain until the broken frame throws
      }
    }, SyntaxError);
  });

  it('sends usage with the wrong types on chat, embeddings, responses and parse results', async () => {
    await standin.setFault({ kind: 'bad-usage' });
    const chat = (await (await postJson(standin, '/v1/chat/completions', CHAT)).json()) as {
      usage: Record<string, unknown>;
    };
    assert.equal(typeof chat.usage['prompt_tokens'], 'string');
    assert.equal(chat.usage['completion_tokens'], null);
    const stream = await postJson(standin, '/v1/chat/completions', {
      ...CHAT,
      stream: true,
      stream_options: { include_usage: true },
    });
    const { frames } = await readFrames(stream);
    const usageFrame = dataOf(frames.at(-2) ?? '') as { usage: Record<string, unknown> };
    assert.equal(typeof usageFrame.usage['prompt_tokens'], 'string');
    const embedding = (await (
      await postJson(standin, '/v1/embeddings', { model: 'text-embedding-3-small', input: 'x' })
    ).json()) as { usage: Record<string, unknown> };
    assert.equal(typeof embedding.usage['prompt_tokens'], 'string');
    const response = (await (
      await postJson(standin, '/v1/responses', { model: 'gpt-4o-mini', input: 'x' })
    ).json()) as {
      usage: Record<string, unknown>;
    };
    assert.equal(typeof response.usage['input_tokens'], 'string');
    await standin.setFault(null);
  });

  it('records requests with method, url, headers and body; hits() counts by path prefix; reset() clears', async () => {
    standin.reset();
    await postJson(standin, '/v1/chat/completions?x=1', CHAT);
    await postJson(standin, '/v1/embeddings', { model: 'text-embedding-3-small', input: 'x' });
    assert.equal(standin.requests.length, 2);
    const first = standin.requests[0];
    assert.equal(first?.method, 'POST');
    assert.equal(first?.url, '/v1/chat/completions?x=1');
    assert.equal(first?.headers['authorization'], `Bearer ${OPENAI_KEY}`);
    assert.deepEqual(JSON.parse(first?.body.toString('utf8') ?? ''), CHAT);
    assert.ok((first?.at ?? 0) <= Date.now());
    assert.equal(standin.hits('/v1/chat'), 1);
    assert.equal(standin.hits('/v1'), 2);
    assert.equal(standin.hits(), 2);
    standin.reset();
    assert.equal(standin.requests.length, 0);
    assert.equal(standin.hits(), 0);
  });
});

describe('standin: timing and lifecycle', () => {
  it('spaces streamed chunks by chunkGapMs', async () => {
    const standin = await startStandin({ streamChunks: 5, chunkGapMs: 30, quiet: true });
    try {
      const started = performance.now();
      const res = await postJson(standin, '/v1/chat/completions', { ...CHAT, stream: true });
      const { frames, times } = await readFrames(res);
      assert.equal(frames.length, 1 + 5 + 1 + 1);
      // Five gaps of 30 ms precede the last content chunk; timers never fire early.
      const lastContentAt = (times[5] ?? 0) - started;
      assert.ok(lastContentAt >= 145, `last content chunk after ${lastContentAt} ms`);
      assert.ok((times[0] ?? 0) - started < lastContentAt - 100, 'the role chunk is not held back');
    } finally {
      await standin.close();
    }
  });

  it('closes with a hung request and an open stream outstanding', async () => {
    const standin = await startStandin({ streamChunks: 50, chunkGapMs: 100, quiet: true });
    await standin.setFault({ kind: 'hang' }, { paths: '/v1/embeddings' });
    const hung = postJson(standin, '/v1/embeddings', { model: 'text-embedding-3-small', input: 'x' }).catch((e) => e);
    const streaming = await postJson(standin, '/v1/chat/completions', { ...CHAT, stream: true });
    const reading = streaming.text().catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = performance.now();
    await standin.close();
    assert.ok(performance.now() - started < 1000);
    assert.ok((await hung) instanceof Error);
    assert.ok((await reading) instanceof Error);
  });

  it('listens on the port it is given', async () => {
    const probe = await startStandin({ quiet: true });
    const port = Number(new URL(probe.url).port);
    await probe.close();
    const standin = await startStandin({ port, quiet: true });
    try {
      assert.equal(standin.url, `http://127.0.0.1:${port}`);
      assert.equal(standin.openaiBase, `http://127.0.0.1:${port}/v1`);
      assert.equal(standin.llamaparseBase, `http://127.0.0.1:${port}`);
    } finally {
      await standin.close();
    }
  });
});
