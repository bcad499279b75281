/**
 * The mock as the official `openai` SDK sees it: a bare node:http server turns requests into
 * MockCalls and writes the replies, the SDK parses them (including its own base64 decoding
 * of embeddings and its Responses stream accumulator).
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { isTollgateError } from '../../../errors.js';
import type { MockCall, MockSettings, ProviderMock } from '../../types.js';
import { createOpenAIMock } from './index.js';

function route(method: string, path: string): { operation: string; params: Record<string, string> } {
  if (method === 'POST' && path === '/v1/chat/completions') return { operation: 'chat', params: {} };
  if (method === 'POST' && path === '/v1/embeddings') return { operation: 'embeddings', params: {} };
  if (method === 'POST' && path === '/v1/responses') return { operation: 'responses', params: {} };
  if (method === 'GET' && path === '/v1/models') return { operation: 'models', params: {} };
  const model = /^\/v1\/models\/([^/]+)$/.exec(path);
  if (method === 'GET' && model) return { operation: 'model', params: { model: decodeURIComponent(model[1] ?? '') } };
  return { operation: 'unknown', params: {} };
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  if (chunks.length === 0) return undefined;
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
}

function serve(mock: ProviderMock): Server {
  return createServer(async function mockServer(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const controller = new AbortController();
    res.on('close', () => controller.abort());
    const { operation, params } = route(req.method ?? 'GET', url.pathname);
    const call: MockCall = {
      operation,
      method: req.method ?? 'GET',
      path: url.pathname,
      params,
      query: url.searchParams,
      headers: req.headers,
      json: await readJson(req),
      signal: controller.signal,
      correlationId: 'sdk-test',
    };
    try {
      const reply = await mock.handle(call);
      res.writeHead(reply.status, reply.headers);
      if (typeof reply.body === 'string' || reply.body instanceof Uint8Array) res.end(reply.body);
      else if (reply.body !== null && Symbol.asyncIterator in reply.body) {
        for await (const frame of reply.body as AsyncIterable<string | Uint8Array>) res.write(frame);
        res.end();
      } else res.end();
    } catch (err) {
      if (!isTollgateError(err)) throw err;
      res.writeHead(err.status, { 'content-type': 'application/json', ...err.headers });
      res.end(JSON.stringify(err.body('openai')));
    }
  });
}

async function start(settings: Partial<MockSettings> = {}): Promise<{ server: Server; client: OpenAI }> {
  const all: MockSettings = {
    latencyMs: [0, 0],
    streamChunkDelayMs: 0,
    errorRate: 0,
    seed: 11,
    parseDelayMs: 0,
    ...settings,
  };
  const server = serve(createOpenAIMock(() => all));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'sk-test', maxRetries: 0 });
  return { server, client };
}

describe('openai mock through the official SDK', () => {
  let server: Server;
  let client: OpenAI;
  const servers: Server[] = [];

  before(async () => {
    ({ server, client } = await start());
    servers.push(server);
  });

  after(async () => {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  });

  const messages = [{ role: 'user' as const, content: 'Write one sentence.' }];

  it('chat.completions.create returns a parsed completion', async () => {
    const completion = await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
    assert.equal(completion.object, 'chat.completion');
    assert.ok((completion.choices[0]?.message.content ?? '').length > 20);
    assert.equal(completion.choices[0]?.finish_reason, 'stop');
    assert.ok((completion.usage?.prompt_tokens ?? 0) > 0);
    assert.match(completion._request_id ?? '', /^req_/);
  });

  it('streams chat without usage, and with usage when stream_options asks', async () => {
    const plain = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, max_tokens: 12 });

    let text = '';
    let sawUsage = false;
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages,
      max_tokens: 12,
      stream: true,
    });
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) sawUsage = true;
    }
    assert.equal(text, plain.choices[0]?.message.content);
    assert.equal(sawUsage, false);

    let usage: OpenAI.CompletionUsage | null | undefined;
    let finish: string | null | undefined;
    const withUsage = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages,
      max_tokens: 12,
      stream: true,
      stream_options: { include_usage: true },
    });
    for await (const chunk of withUsage) {
      if (chunk.usage) usage = chunk.usage;
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(finish, 'length');
    assert.deepEqual(usage, plain.usage);
    assert.equal(usage?.completion_tokens, 12);
  });

  it('works with the chat stream helper and its final message', async () => {
    const runner = client.chat.completions.stream({ model: 'gpt-4o', messages, n: 2 });
    const final = await runner.finalChatCompletion();
    assert.equal(final.choices.length, 2);
    assert.ok((final.choices[1]?.message.content ?? '').length > 0);
  });

  it('embeddings: the SDK default (base64) decodes to unit vectors of the right size', async () => {
    const res = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['alpha', 'beta'] });
    assert.equal(res.data.length, 2);
    const floats = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: ['alpha', 'beta'],
      encoding_format: 'float',
    });
    for (const [i, item] of res.data.entries()) {
      assert.ok(Array.isArray(item.embedding));
      assert.equal(item.embedding.length, 1536);
      const norm = Math.sqrt(item.embedding.reduce((s, x) => s + x * x, 0));
      assert.ok(Math.abs(norm - 1) < 1e-5);
      assert.deepEqual(item.embedding, floats.data[i]?.embedding);
    }
    const large = await client.embeddings.create({ model: 'text-embedding-3-large', input: 'x', dimensions: 512 });
    assert.equal(large.data[0]?.embedding.length, 512);
    assert.ok(res.usage.prompt_tokens > 0);
  });

  it('responses.create gives output_text, and both stream styles deliver the same text', async () => {
    const response = await client.responses.create({
      model: 'gpt-4.1-mini',
      input: 'Say something',
      instructions: 'Short.',
    });
    assert.equal(response.status, 'completed');
    assert.ok(response.output_text.length > 20);
    assert.ok((response.usage?.output_tokens ?? 0) > 0);

    const events: string[] = [];
    let streamed = '';
    const stream = await client.responses.create({
      model: 'gpt-4.1-mini',
      input: 'Say something',
      instructions: 'Short.',
      stream: true,
    });
    for await (const event of stream) {
      events.push(event.type);
      if (event.type === 'response.output_text.delta') streamed += event.delta;
    }
    assert.equal(streamed, response.output_text);
    assert.equal(events[0], 'response.created');
    assert.equal(events.at(-1), 'response.completed');

    const helper = client.responses.stream({ model: 'gpt-4.1-mini', input: 'Say something', instructions: 'Short.' });
    const final = await helper.finalResponse();
    assert.equal(final.output_text, response.output_text);
    assert.deepEqual(final.usage, response.usage);
  });

  it('models.list pages through the model list; retrieve finds one or 404s', async () => {
    const ids: string[] = [];
    for await (const model of client.models.list()) ids.push(model.id);
    assert.ok(ids.includes('gpt-4o-mini'));
    assert.ok(ids.includes('text-embedding-3-large'));
    const one = await client.models.retrieve('gpt-5');
    assert.equal(one.id, 'gpt-5');
    await assert.rejects(client.models.retrieve('gpt-nonexistent'), (err: unknown) => {
      assert.ok(err instanceof OpenAI.NotFoundError);
      assert.equal(err.code, 'model_not_found');
      return true;
    });
  });

  it('validation errors reach the SDK as BadRequestError with param', async () => {
    await assert.rejects(client.chat.completions.create({ model: 'gpt-4o-mini', messages, n: 0 }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.BadRequestError);
      assert.equal(err.param, 'n');
      assert.equal(err.code, 'invalid_request');
      return true;
    });
  });

  it('injected faults reach the SDK as InternalServerError', async () => {
    const faulty = await start({ errorRate: 1 });
    servers.push(faulty.server);
    await assert.rejects(
      faulty.client.chat.completions.create({ model: 'gpt-4o-mini', messages }),
      (err: unknown) => err instanceof OpenAI.InternalServerError && err.type === 'server_error',
    );
  });
});
