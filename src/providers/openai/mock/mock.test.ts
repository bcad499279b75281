import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TollgateError } from '../../../errors.js';
import type { MockCall, MockSettings, ProviderReply } from '../../types.js';
import { countChatTokens, countTextTokens } from '../tokens.js';
import { createOpenAIMock } from './index.js';

const SETTINGS: MockSettings = { latencyMs: [0, 0], streamChunkDelayMs: 0, errorRate: 0, seed: 42, parseDelayMs: 0 };

function mockWith(overrides: Partial<MockSettings> = {}) {
  const settings = { ...SETTINGS, ...overrides };
  return createOpenAIMock(() => settings);
}

const PATHS: Record<string, [string, string]> = {
  chat: ['POST', '/v1/chat/completions'],
  embeddings: ['POST', '/v1/embeddings'],
  responses: ['POST', '/v1/responses'],
  models: ['GET', '/v1/models'],
  model: ['GET', '/v1/models/x'],
};

function call(operation: string, json?: unknown, extra: Partial<MockCall> = {}): MockCall {
  const [method, path] = PATHS[operation] ?? ['GET', `/v1/${operation}`];
  return {
    operation,
    method,
    path,
    params: {},
    query: new URLSearchParams(),
    headers: {},
    json,
    signal: new AbortController().signal,
    correlationId: 'test',
    ...extra,
  };
}

async function json(reply: ProviderReply): Promise<Record<string, unknown>> {
  assert.equal(typeof reply.body, 'string', 'expected a JSON body');
  return JSON.parse(reply.body as string) as Record<string, unknown>;
}

async function frames(reply: ProviderReply): Promise<string[]> {
  assert.ok(reply.body !== null && typeof reply.body === 'object' && Symbol.asyncIterator in reply.body);
  const out: string[] = [];
  for await (const frame of reply.body as AsyncIterable<string>) out.push(frame);
  return out;
}

/** The JSON payloads of `data:` frames, [DONE] excluded. */
function dataOf(all: string[]): Record<string, unknown>[] {
  return all
    .filter((f) => f.startsWith('data: {'))
    .map((f) => JSON.parse(f.slice('data: '.length)) as Record<string, unknown>);
}

// Loose views for reading answers in assertions.
type Obj = Record<string, unknown>;
const o = (v: unknown) => v as Obj;
const arr = (v: unknown) => v as Obj[];

async function rejectsWith(promise: Promise<unknown>, status: number, code: string, param: string | null) {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof TollgateError, `expected TollgateError, got ${String(err)}`);
    assert.equal(err.status, status);
    assert.equal(err.code, code);
    assert.equal(err.param, param);
    return true;
  });
}

const HELLO = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }] };

describe('openai mock: chat completions', () => {
  it('answers in the ChatCompletion shape with tokenizer usage', async () => {
    const reply = await mockWith().handle(call('chat', HELLO));
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['content-type'], 'application/json');
    assert.match(reply.headers['x-request-id'] ?? '', /^req_[0-9a-f]{32}$/);
    assert.match(reply.headers['openai-processing-ms'] ?? '', /^\d+$/);
    const body = await json(reply);
    assert.match(String(body.id), /^chatcmpl-[A-Za-z0-9]{29}$/);
    assert.equal(body.object, 'chat.completion');
    assert.equal(body.model, 'gpt-4o-mini');
    assert.equal(typeof body.created, 'number');
    assert.equal(body.service_tier, 'default');
    assert.match(String(body.system_fingerprint), /^fp_/);
    const [choice] = arr(body.choices);
    assert.equal(choice?.index, 0);
    assert.equal(choice?.finish_reason, 'stop');
    assert.equal(choice?.logprobs, null);
    const message = o(choice?.message);
    assert.equal(message.role, 'assistant');
    assert.equal(message.refusal, null);
    const content = String(message.content);
    assert.match(content, /^[A-Z].*\.$/);
    const usage = o(body.usage);
    const completionTokens = countTextTokens('gpt-4o-mini', content);
    assert.ok(completionTokens >= 20, `only ${completionTokens} tokens`);
    assert.equal(usage.prompt_tokens, countChatTokens('gpt-4o-mini', HELLO.messages));
    assert.equal(usage.completion_tokens, completionTokens);
    assert.equal(usage.total_tokens, Number(usage.prompt_tokens) + completionTokens);
    assert.deepEqual(usage.prompt_tokens_details, { cached_tokens: 0, audio_tokens: 0 });
    assert.deepEqual(usage.completion_tokens_details, {
      reasoning_tokens: 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    });
  });

  it('gives every call its own id (chat, responses), its content still seeded', async () => {
    const chats = await Promise.all(
      Array.from({ length: 50 }, async () => json(await mockWith().handle(call('chat', HELLO)))),
    );
    assert.equal(new Set(chats.map((c) => c.id)).size, 50);
    const responses = await Promise.all(
      Array.from({ length: 20 }, async () =>
        json(await mockWith().handle(call('responses', { model: 'gpt-4o-mini', input: 'hi' }))),
      ),
    );
    assert.equal(new Set(responses.map((r) => r.id)).size, 20);
    for (const r of responses) assert.match(String(r.id), /^resp_[0-9a-f]{50}$/);
    assert.equal(new Set(responses.map((r) => arr(r.output)[0]?.id)).size, 20);
    assert.equal(new Set(responses.map((r) => JSON.stringify(r.output).replace(/"id":"[^"]*"/g, ''))).size, 1);
  });

  it('gives the same answer for the same seed and input, and another for another seed', async () => {
    const a = await json(await mockWith().handle(call('chat', HELLO)));
    const b = await json(await mockWith().handle(call('chat', HELLO)));
    const c = await json(await mockWith({ seed: 7 }).handle(call('chat', HELLO)));
    const d = await json(
      await mockWith().handle(call('chat', { ...HELLO, messages: [{ role: 'user', content: 'Other' }] })),
    );
    assert.deepEqual(a.choices, b.choices);
    // Ids are per call, as OpenAI's: same shape, never the same twice.
    assert.match(String(a.id), /^chatcmpl-[A-Za-z0-9]{29}$/);
    assert.match(String(b.id), /^chatcmpl-[A-Za-z0-9]{29}$/);
    assert.notEqual(a.id, b.id);
    assert.notDeepEqual(a.choices, c.choices);
    assert.notDeepEqual(a.choices, d.choices);
  });

  it('returns n different choices and bills all of them', async () => {
    const body = await json(await mockWith().handle(call('chat', { ...HELLO, n: 3 })));
    const choices = arr(body.choices);
    assert.equal(choices.length, 3);
    assert.deepEqual(
      choices.map((c) => c.index),
      [0, 1, 2],
    );
    const contents = choices.map((c) => String(o(c.message).content));
    assert.equal(new Set(contents).size, 3);
    const sum = contents.reduce((s, t) => s + countTextTokens('gpt-4o-mini', t), 0);
    assert.equal(o(body.usage).completion_tokens, sum);
  });

  it('truncates to exactly max_tokens with finish_reason "length"', async () => {
    const full = await json(await mockWith().handle(call('chat', HELLO)));
    const fullText = String(o(arr(full.choices)[0]?.message).content);
    for (const [param, max] of [
      ['max_tokens', 7],
      ['max_completion_tokens', 11],
      ['max_tokens', 1],
    ] as const) {
      const body = await json(await mockWith().handle(call('chat', { ...HELLO, [param]: max })));
      const choice = arr(body.choices)[0];
      const text = String(o(choice?.message).content);
      assert.equal(choice?.finish_reason, 'length');
      assert.equal(o(body.usage).completion_tokens, max);
      assert.equal(countTextTokens('gpt-4o-mini', text), max);
      assert.ok(fullText.startsWith(text), 'a truncated answer is a prefix of the full one');
    }
    const roomy = await json(await mockWith().handle(call('chat', { ...HELLO, max_tokens: 4096 })));
    assert.equal(arr(roomy.choices)[0]?.finish_reason, 'stop');
    assert.equal(String(o(arr(roomy.choices)[0]?.message).content), fullText);
  });

  it('answers JSON mode with a JSON object, and refuses it when the prompt never says json', async () => {
    const asked = { model: 'gpt-4o', messages: [{ role: 'user', content: 'Reply in JSON' }] };
    const body = await json(
      await mockWith().handle(call('chat', { ...asked, response_format: { type: 'json_object' } })),
    );
    const parsed: unknown = JSON.parse(String(o(arr(body.choices)[0]?.message).content));
    assert.ok(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed));
    await rejectsWith(
      mockWith().handle(call('chat', { ...HELLO, response_format: { type: 'json_object' } })),
      400,
      'invalid_request',
      'messages',
    );
  });

  it('answers json_schema with JSON that satisfies the schema', async () => {
    const schema = {
      type: 'object',
      properties: {
        name: { type: 'string' },
        age: { type: 'integer', minimum: 18, maximum: 99 },
        score: { type: 'number', minimum: 0, maximum: 1 },
        active: { type: 'boolean' },
        tier: { type: 'string', enum: ['free', 'pro', 'team'] },
        tags: { type: 'array', items: { type: 'string' }, minItems: 2, maxItems: 3 },
        address: {
          type: 'object',
          properties: { city: { type: 'string' }, zip: { type: ['string', 'null'] } },
          required: ['city', 'zip'],
          additionalProperties: false,
        },
        pet: { anyOf: [{ $ref: '#/$defs/pet' }, { type: 'null' }] },
      },
      required: ['name', 'age', 'score', 'active', 'tier', 'tags', 'address', 'pet'],
      additionalProperties: false,
      $defs: { pet: { type: 'object', properties: { kind: { const: 'cat' } }, required: ['kind'] } },
    };
    for (let seed = 0; seed < 10; seed++) {
      const reply = await mockWith({ seed }).handle(
        call('chat', {
          ...HELLO,
          response_format: { type: 'json_schema', json_schema: { name: 'person', schema, strict: true } },
        }),
      );
      const v = JSON.parse(String(o(arr((await json(reply)).choices)[0]?.message).content)) as Obj;
      assert.deepEqual(Object.keys(v).sort(), [...schema.required].sort());
      assert.equal(typeof v.name, 'string');
      assert.ok(Number.isInteger(v.age) && Number(v.age) >= 18 && Number(v.age) <= 99);
      assert.ok(typeof v.score === 'number' && v.score >= 0 && v.score <= 1);
      assert.equal(typeof v.active, 'boolean');
      assert.ok(['free', 'pro', 'team'].includes(String(v.tier)));
      assert.ok(Array.isArray(v.tags) && v.tags.length >= 2 && v.tags.length <= 3);
      assert.ok(v.tags.every((t: unknown) => typeof t === 'string'));
      assert.equal(typeof o(v.address).city, 'string');
      assert.ok(v.pet === null || o(v.pet).kind === 'cat');
    }
    await rejectsWith(
      mockWith().handle(call('chat', { ...HELLO, response_format: { type: 'json_schema', json_schema: { schema } } })),
      400,
      'invalid_request',
      'response_format.json_schema.name',
    );
  });

  it('terminates recursive schemas', async () => {
    const schema = {
      type: 'object',
      properties: { label: { type: 'string' }, children: { type: 'array', items: { $ref: '#' } } },
      required: ['label', 'children'],
    };
    const reply = await mockWith().handle(
      call('chat', { ...HELLO, response_format: { type: 'json_schema', json_schema: { name: 'tree', schema } } }),
    );
    let depth = 0;
    let node = JSON.parse(String(o(arr((await json(reply)).choices)[0]?.message).content)) as Obj;
    while (Array.isArray(node.children) && node.children.length > 0) {
      node = node.children[0] as Obj;
      depth++;
    }
    assert.ok(depth > 0 && depth < 10, `depth ${depth}`);
  });

  const TOOLS = [
    {
      type: 'function',
      function: {
        name: 'get_weather',
        parameters: {
          type: 'object',
          properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['c', 'f'] } },
          required: ['city', 'unit'],
        },
      },
    },
    {
      type: 'function',
      function: { name: 'get_time', parameters: { type: 'object', properties: { zone: { type: 'string' } } } },
    },
  ];

  it('calls a tool when tool_choice requires one, with arguments from its schema', async () => {
    const body = await json(
      await mockWith().handle(
        call('chat', { ...HELLO, tools: TOOLS, tool_choice: { type: 'function', function: { name: 'get_weather' } } }),
      ),
    );
    const choice = arr(body.choices)[0];
    assert.equal(choice?.finish_reason, 'tool_calls');
    const message = o(choice?.message);
    assert.equal(message.content, null);
    const [toolCall] = arr(message.tool_calls);
    assert.match(String(toolCall?.id), /^call_[A-Za-z0-9]{24}$/);
    assert.equal(toolCall?.type, 'function');
    assert.equal(o(toolCall?.function).name, 'get_weather');
    const args = JSON.parse(String(o(toolCall?.function).arguments)) as Obj;
    assert.equal(typeof args.city, 'string');
    assert.ok(args.unit === 'c' || args.unit === 'f');
    assert.equal(
      o(body.usage).completion_tokens,
      countTextTokens('gpt-4o-mini', String(o(toolCall?.function).arguments)),
    );

    const required = await json(
      await mockWith().handle(call('chat', { ...HELLO, tools: TOOLS, tool_choice: 'required' })),
    );
    assert.equal(arr(required.choices)[0]?.finish_reason, 'tool_calls');
    const auto = await json(await mockWith().handle(call('chat', { ...HELLO, tools: TOOLS })));
    assert.equal(arr(auto.choices)[0]?.finish_reason, 'stop');
    await rejectsWith(
      mockWith().handle(call('chat', { ...HELLO, tool_choice: 'required' })),
      400,
      'invalid_request',
      'tool_choice',
    );
  });

  it('rejects malformed requests as OpenAI does, naming the parameter', async () => {
    const cases: [unknown, string | null][] = [
      [[1, 2], null],
      ['text', null],
      [{ messages: HELLO.messages }, 'model'],
      [{ model: 5, messages: HELLO.messages }, 'model'],
      [{ model: 'gpt-4o' }, 'messages'],
      [{ model: 'gpt-4o', messages: [] }, 'messages'],
      [{ model: 'gpt-4o', messages: 'hi' }, 'messages'],
      [{ model: 'gpt-4o', messages: [{ content: 'hi' }] }, 'messages[0].role'],
      [{ model: 'gpt-4o', messages: [{ role: 'wizard', content: 'hi' }] }, 'messages[0].role'],
      [{ model: 'gpt-4o', messages: [{ role: 'user' }] }, 'messages[0].content'],
      [{ ...HELLO, n: 0 }, 'n'],
      [{ ...HELLO, n: 129 }, 'n'],
      [{ ...HELLO, n: 1.5 }, 'n'],
      [{ ...HELLO, n: '2' }, 'n'],
      [{ ...HELLO, max_tokens: 0 }, 'max_tokens'],
      [{ ...HELLO, max_tokens: 2.5 }, 'max_tokens'],
      [{ ...HELLO, max_completion_tokens: -1 }, 'max_completion_tokens'],
      [{ ...HELLO, temperature: 2.5 }, 'temperature'],
      [{ ...HELLO, temperature: -0.1 }, 'temperature'],
      [{ ...HELLO, top_p: 1.5 }, 'top_p'],
      [{ ...HELLO, stream: 'yes' }, 'stream'],
      [{ ...HELLO, stream_options: { include_usage: true } }, 'stream_options'],
      [{ ...HELLO, response_format: { type: 'yaml' } }, 'response_format.type'],
    ];
    for (const [body, param] of cases) {
      await rejectsWith(mockWith().handle(call('chat', body)), 400, 'invalid_request', param);
    }
    // Null means absent, as with OpenAI.
    const ok = await mockWith().handle(call('chat', { ...HELLO, n: null, max_tokens: null, temperature: null }));
    assert.equal(ok.status, 200);
  });
});

describe('openai mock: chat streaming', () => {
  it('streams role, content deltas, finish, [DONE], and no usage unless asked', async () => {
    const plain = await json(await mockWith().handle(call('chat', HELLO)));
    const reply = await mockWith().handle(call('chat', { ...HELLO, stream: true }));
    assert.equal(reply.status, 200);
    assert.match(reply.headers['content-type'] ?? '', /^text\/event-stream/);
    const all = await frames(reply);
    assert.equal(all.at(-1), 'data: [DONE]\n\n');
    for (const f of all) assert.match(f, /^data: .*\n\n$/s);
    const chunks = dataOf(all);
    assert.equal(chunks.length, all.length - 1);
    for (const c of chunks) {
      assert.equal(c.object, 'chat.completion.chunk');
      assert.equal(c.id, chunks[0]?.id);
      assert.ok(!('usage' in c), 'no usage key without include_usage');
    }
    assert.deepEqual(o(arr(chunks[0]?.choices)[0]?.delta), { role: 'assistant', content: '', refusal: null });
    const last = arr(chunks.at(-1)?.choices)[0];
    assert.deepEqual(last?.delta, {});
    assert.equal(last?.finish_reason, 'stop');
    const middle = chunks.slice(1, -1);
    assert.ok(middle.length >= 20, 'one delta per token');
    for (const c of middle) assert.equal(arr(c.choices)[0]?.finish_reason, null);
    const text = middle.map((c) => String(o(arr(c.choices)[0]?.delta).content)).join('');
    assert.equal(text, o(arr(plain.choices)[0]?.message).content);
  });

  it('with include_usage puts usage: null on every chunk and a final choices: [] chunk with usage', async () => {
    const plain = await json(await mockWith().handle(call('chat', { ...HELLO, max_tokens: 9 })));
    const all = await frames(
      await mockWith().handle(
        call('chat', { ...HELLO, max_tokens: 9, stream: true, stream_options: { include_usage: true } }),
      ),
    );
    const chunks = dataOf(all);
    const usageChunk = chunks.at(-1);
    assert.deepEqual(usageChunk?.choices, []);
    assert.deepEqual(usageChunk?.usage, plain.usage);
    assert.equal(o(usageChunk?.usage).completion_tokens, 9);
    for (const c of chunks.slice(0, -1)) assert.equal(c.usage, null);
    assert.equal(arr(chunks.at(-2)?.choices)[0]?.finish_reason, 'length');
    assert.equal(chunks.length, 1 + 9 + 1 + 1);
    assert.equal(all.at(-1), 'data: [DONE]\n\n');
  });

  it('interleaves n choices by index and finishes each', async () => {
    const chunks = dataOf(await frames(await mockWith().handle(call('chat', { ...HELLO, n: 2, stream: true }))));
    const indexes = chunks.map((c) => arr(c.choices)[0]?.index);
    assert.deepEqual(indexes.slice(0, 4), [0, 1, 0, 1]);
    const plain = await json(await mockWith().handle(call('chat', { ...HELLO, n: 2 })));
    for (const i of [0, 1]) {
      const mine = chunks.map((c) => arr(c.choices)[0]).filter((c) => c?.index === i);
      assert.equal(mine.at(-1)?.finish_reason, 'stop');
      const text = mine
        .slice(1)
        .map((c) => o(c?.delta).content ?? '')
        .join('');
      assert.equal(text, o(arr(plain.choices)[i]?.message).content);
    }
  });

  it('streams tool calls as argument deltas', async () => {
    const tools = [
      {
        type: 'function',
        function: {
          name: 'lookup',
          parameters: { type: 'object', properties: { q: { type: 'string' } }, required: ['q'] },
        },
      },
    ];
    const request = { ...HELLO, tools, tool_choice: 'required' };
    const plain = await json(await mockWith().handle(call('chat', request)));
    const chunks = dataOf(await frames(await mockWith().handle(call('chat', { ...request, stream: true }))));
    const first = o(arr(chunks[0]?.choices)[0]?.delta);
    const head = arr(first.tool_calls)[0];
    assert.equal(o(head?.function).name, 'lookup');
    assert.equal(o(head?.function).arguments, '');
    assert.match(String(head?.id), /^call_/);
    const args = chunks
      .slice(1, -1)
      .map((c) => String(o(arr(o(arr(c.choices)[0]?.delta).tool_calls)[0]?.function).arguments))
      .join('');
    const planned = arr(o(arr(plain.choices)[0]?.message).tool_calls)[0];
    assert.equal(args, o(planned?.function).arguments);
    assert.equal(arr(chunks.at(-1)?.choices)[0]?.finish_reason, 'tool_calls');
  });

  it('spaces frames by streamChunkDelayMs', async () => {
    const reply = await mockWith({ streamChunkDelayMs: 25 }).handle(
      call('chat', { ...HELLO, max_tokens: 4, stream: true }),
    );
    const times: number[] = [];
    for await (const _ of reply.body as AsyncIterable<string>) times.push(performance.now());
    assert.equal(times.length, 1 + 4 + 1 + 1);
    for (let i = 1; i < times.length; i++) {
      const gap = (times[i] ?? 0) - (times[i - 1] ?? 0);
      assert.ok(gap >= 20, `gap ${i} was ${gap.toFixed(1)} ms`);
    }
  });

  it('stops quietly when the call is aborted', async () => {
    const controller = new AbortController();
    const reply = await mockWith({ streamChunkDelayMs: 20 }).handle(
      call('chat', { ...HELLO, stream: true }, { signal: controller.signal }),
    );
    const got: string[] = [];
    const started = performance.now();
    for await (const frame of reply.body as AsyncIterable<string>) {
      got.push(frame);
      if (got.length === 2) controller.abort();
    }
    assert.equal(got.length, 2);
    assert.ok(performance.now() - started < 200, 'the pending delay was cut short');
  });
});

describe('openai mock: embeddings', () => {
  const norm = (v: readonly number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  const vectorOf = (body: Obj, i = 0) => arr(body.data)[i]?.embedding as number[];

  it("returns unit vectors of each model's native size", async () => {
    for (const [model, dims] of [
      ['text-embedding-3-small', 1536],
      ['text-embedding-3-large', 3072],
      ['text-embedding-ada-002', 1536],
      ['some-other-model', 1536],
    ] as const) {
      const body = await json(await mockWith().handle(call('embeddings', { model, input: 'hello world' })));
      assert.equal(body.object, 'list');
      assert.equal(body.model, model);
      const [item] = arr(body.data);
      assert.equal(item?.object, 'embedding');
      assert.equal(item?.index, 0);
      const v = vectorOf(body);
      assert.equal(v.length, dims);
      assert.ok(Math.abs(norm(v) - 1) < 1e-5, `norm ${norm(v)}`);
      assert.deepEqual(body.usage, {
        prompt_tokens: countTextTokens(model, 'hello world'),
        total_tokens: countTextTokens(model, 'hello world'),
      });
    }
  });

  it('is deterministic per input and seed, and distinguishes inputs', async () => {
    const input = ['alpha', 'beta', 'alpha'];
    const a = await json(await mockWith().handle(call('embeddings', { model: 'text-embedding-3-small', input })));
    const b = await json(await mockWith().handle(call('embeddings', { model: 'text-embedding-3-small', input })));
    const c = await json(
      await mockWith({ seed: 1 }).handle(call('embeddings', { model: 'text-embedding-3-small', input })),
    );
    assert.deepEqual(a.data, b.data);
    assert.notDeepEqual(vectorOf(a), vectorOf(c));
    assert.deepEqual(vectorOf(a, 0), vectorOf(a, 2));
    assert.notDeepEqual(vectorOf(a, 0), vectorOf(a, 1));
    assert.deepEqual(
      arr(a.data).map((d) => d.index),
      [0, 1, 2],
    );
  });

  it('honours dimensions for -3 models and refuses it elsewhere or out of range', async () => {
    const full = await json(
      await mockWith().handle(call('embeddings', { model: 'text-embedding-3-large', input: 'x' })),
    );
    const short = await json(
      await mockWith().handle(call('embeddings', { model: 'text-embedding-3-large', input: 'x', dimensions: 256 })),
    );
    const v = vectorOf(short);
    assert.equal(v.length, 256);
    assert.ok(Math.abs(norm(v) - 1) < 1e-5);
    // As with OpenAI, a shortened vector points the same way as the full one's prefix.
    const prefix = vectorOf(full).slice(0, 256);
    const cosine = v.reduce((s, x, i) => s + x * (prefix[i] ?? 0), 0) / norm(prefix);
    assert.ok(cosine > 0.9999);
    for (const [model, dimensions] of [
      ['text-embedding-ada-002', 256],
      ['text-embedding-3-small', 0],
      ['text-embedding-3-small', 1537],
      ['text-embedding-3-large', 3073],
    ] as const) {
      await rejectsWith(
        mockWith().handle(call('embeddings', { model, input: 'x', dimensions })),
        400,
        'invalid_request',
        'dimensions',
      );
    }
  });

  it('encodes base64 as little-endian float32 equal to the float answer', async () => {
    const request = { model: 'text-embedding-3-small', input: ['one', 'two'] };
    const floats = await json(await mockWith().handle(call('embeddings', { ...request, encoding_format: 'float' })));
    const b64 = await json(await mockWith().handle(call('embeddings', { ...request, encoding_format: 'base64' })));
    for (const i of [0, 1]) {
      const encoded = arr(b64.data)[i]?.embedding;
      assert.equal(typeof encoded, 'string');
      const bytes = Buffer.from(String(encoded), 'base64');
      assert.equal(bytes.length, 1536 * 4);
      const decoded = Array.from({ length: 1536 }, (_, k) => bytes.readFloatLE(k * 4));
      assert.deepEqual(decoded, vectorOf(floats, i));
    }
  });

  it('accepts token ids and embeds them like the text they spell', async () => {
    const model = 'text-embedding-3-small';
    const text = await json(await mockWith().handle(call('embeddings', { model, input: 'hello world' })));
    const ids = await json(await mockWith().handle(call('embeddings', { model, input: [15339, 1917] })));
    const nested = await json(await mockWith().handle(call('embeddings', { model, input: [[15339, 1917], [15339]] })));
    assert.deepEqual(vectorOf(ids), vectorOf(text));
    assert.equal(arr(nested.data).length, 2);
    assert.deepEqual(nested.usage, { prompt_tokens: 3, total_tokens: 3 });
  });

  it('rejects bad input with param "input"', async () => {
    const model = 'text-embedding-3-small';
    for (const input of [undefined, '', [], [''], ['a', 3], [1.5], [[]], {}, new Array(2049).fill('a')]) {
      await rejectsWith(mockWith().handle(call('embeddings', { model, input })), 400, 'invalid_request', 'input');
    }
    await rejectsWith(mockWith().handle(call('embeddings', { input: 'x' })), 400, 'invalid_request', 'model');
    await rejectsWith(
      mockWith().handle(call('embeddings', { model, input: 'x', encoding_format: 'hex' })),
      400,
      'invalid_request',
      'encoding_format',
    );
    const max = await mockWith().handle(call('embeddings', { model, input: new Array(2048).fill('a') }));
    assert.equal(arr((await json(max)).data).length, 2048);
  });
});

describe('openai mock: responses', () => {
  const ASK = { model: 'gpt-4.1-mini', input: 'Tell me something', instructions: 'Be brief.' };

  it('answers in the Response shape', async () => {
    const body = await json(await mockWith().handle(call('responses', ASK)));
    assert.match(String(body.id), /^resp_[0-9a-f]{50}$/);
    assert.equal(body.object, 'response');
    assert.equal(body.status, 'completed');
    assert.equal(body.model, 'gpt-4.1-mini');
    assert.equal(body.instructions, 'Be brief.');
    assert.equal(body.incomplete_details, null);
    assert.equal(body.error, null);
    assert.equal(typeof body.created_at, 'number');
    assert.deepEqual(body.tools, []);
    assert.equal(body.tool_choice, 'auto');
    assert.equal(body.parallel_tool_calls, true);
    const [item] = arr(body.output);
    assert.equal(item?.type, 'message');
    assert.match(String(item?.id), /^msg_/);
    assert.equal(item?.status, 'completed');
    assert.equal(item?.role, 'assistant');
    const [part] = arr(item?.content);
    assert.equal(part?.type, 'output_text');
    assert.deepEqual(part?.annotations, []);
    const text = String(part?.text);
    const usage = o(body.usage);
    assert.equal(usage.output_tokens, countTextTokens('gpt-4.1-mini', text));
    assert.equal(
      usage.input_tokens,
      countChatTokens('gpt-4.1-mini', [
        { role: 'developer', content: 'Be brief.' },
        { role: 'user', content: 'Tell me something' },
      ]),
    );
    assert.equal(usage.total_tokens, Number(usage.input_tokens) + Number(usage.output_tokens));
    assert.deepEqual(usage.input_tokens_details, { cached_tokens: 0, cache_write_tokens: 0 });
    assert.deepEqual(usage.output_tokens_details, { reasoning_tokens: 0 });
    assert.equal(body.user, null);
  });

  it('echoes user, safety_identifier and prompt_cache_key as the request set them', async () => {
    const ids = { user: 'u-1', safety_identifier: 'hash-1', prompt_cache_key: 'cache-1' };
    const body = await json(await mockWith().handle(call('responses', { ...ASK, ...ids })));
    assert.deepEqual([body.user, body.safety_identifier, body.prompt_cache_key], ['u-1', 'hash-1', 'cache-1']);
  });

  it('accepts message items with content parts', async () => {
    const body = await json(
      await mockWith().handle(
        call('responses', {
          model: 'gpt-4o',
          input: [
            { role: 'user', content: [{ type: 'input_text', text: 'Look at this' }] },
            { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Sure' }] },
            { role: 'user', content: 'Now what?' },
          ],
        }),
      ),
    );
    assert.equal(body.status, 'completed');
  });

  it('stops at max_output_tokens with status "incomplete"', async () => {
    const body = await json(await mockWith().handle(call('responses', { ...ASK, max_output_tokens: 16 })));
    assert.equal(body.status, 'incomplete');
    assert.deepEqual(body.incomplete_details, { reason: 'max_output_tokens' });
    assert.equal(o(body.usage).output_tokens, 16);
    assert.equal(arr(body.output)[0]?.status, 'incomplete');
  });

  it('answers text.format json_schema with matching JSON', async () => {
    const body = await json(
      await mockWith().handle(
        call('responses', {
          ...ASK,
          text: {
            format: {
              type: 'json_schema',
              name: 'answer',
              strict: true,
              schema: {
                type: 'object',
                properties: {
                  verdict: { type: 'string', enum: ['yes', 'no'] },
                  reasons: { type: 'array', items: { type: 'string' } },
                },
                required: ['verdict', 'reasons'],
                additionalProperties: false,
              },
            },
          },
        }),
      ),
    );
    const text = String(arr(arr(body.output)[0]?.content)[0]?.text);
    const v = JSON.parse(text) as Obj;
    assert.ok(v.verdict === 'yes' || v.verdict === 'no');
    assert.ok(Array.isArray(v.reasons));
    assert.equal(o(o(body.text).format).type, 'json_schema');
  });

  it('calls a required function tool', async () => {
    const body = await json(
      await mockWith().handle(
        call('responses', {
          ...ASK,
          tools: [
            {
              type: 'function',
              name: 'search',
              parameters: { type: 'object', properties: { q: { type: 'string' } }, required: ['q'] },
            },
          ],
          tool_choice: 'required',
        }),
      ),
    );
    const [item] = arr(body.output);
    assert.equal(item?.type, 'function_call');
    assert.equal(item?.name, 'search');
    assert.match(String(item?.call_id), /^call_/);
    assert.equal(typeof (JSON.parse(String(item?.arguments)) as Obj).q, 'string');
  });

  it('rejects bad requests naming the parameter', async () => {
    for (const [body, param] of [
      [{ model: 'gpt-4o' }, 'input'],
      [{ input: 'x' }, 'model'],
      [{ ...ASK, input: 5 }, 'input'],
      [{ ...ASK, input: [{ role: 'robot', content: 'x' }] }, 'input[0].role'],
      [{ ...ASK, max_output_tokens: 5 }, 'max_output_tokens'],
      [{ ...ASK, temperature: 9 }, 'temperature'],
      [{ ...ASK, instructions: 3 }, 'instructions'],
    ] as const) {
      await rejectsWith(mockWith().handle(call('responses', body)), 400, 'invalid_request', param);
    }
  });

  it('streams the Responses event sequence with increasing sequence numbers and no [DONE]', async () => {
    const plain = await json(await mockWith().handle(call('responses', ASK)));
    const reply = await mockWith().handle(call('responses', { ...ASK, stream: true }));
    assert.match(reply.headers['content-type'] ?? '', /^text\/event-stream/);
    const all = await frames(reply);
    assert.ok(!all.some((f) => f.includes('[DONE]')));
    const events = all.map((f) => {
      const match = /^event: ([a-z_.]+)\ndata: (.*)\n\n$/s.exec(f);
      assert.ok(match, `bad frame ${f}`);
      const data = JSON.parse(match[2] ?? '') as Obj;
      assert.equal(data.type, match[1]);
      return data;
    });
    const types = events.map((e) => String(e.type));
    const deltas = types.filter((t) => t === 'response.output_text.delta').length;
    assert.ok(deltas >= 20);
    assert.deepEqual(types, [
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      ...new Array(deltas).fill('response.output_text.delta'),
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    assert.deepEqual(
      events.map((e) => e.sequence_number),
      events.map((_, i) => i),
    );
    assert.equal(o(events[0]?.response).status, 'in_progress');
    assert.equal(o(events[0]?.response).usage, null);
    const text = events
      .filter((e) => e.type === 'response.output_text.delta')
      .map((e) => e.delta)
      .join('');
    const plainText = arr(arr(plain.output)[0]?.content)[0]?.text;
    assert.equal(text, plainText);
    assert.equal(events.find((e) => e.type === 'response.output_text.done')?.text, plainText);
    const completed = o(events.at(-1)?.response);
    // The same output but for the item id, which is per call.
    const withoutId = (items: unknown) =>
      arr(items).map(({ id, ...rest }) => ({ ...rest, id: String(id).slice(0, 4) }));
    assert.deepEqual(withoutId(completed.output), withoutId(plain.output));
    assert.notEqual(arr(completed.output)[0]?.id, arr(plain.output)[0]?.id);
    assert.deepEqual(completed.usage, plain.usage);
  });

  it('streams a function call as argument deltas', async () => {
    const request = {
      ...ASK,
      stream: true,
      tools: [
        { type: 'function', name: 'search', parameters: { type: 'object', properties: { q: { type: 'string' } } } },
      ],
      tool_choice: { type: 'function', name: 'search' },
    };
    const events = (await frames(await mockWith().handle(call('responses', request)))).map(
      (f) => JSON.parse(f.slice(f.indexOf('data: ') + 6)) as Obj,
    );
    const added = events.find((e) => e.type === 'response.output_item.added');
    assert.equal(o(added?.item).type, 'function_call');
    assert.equal(o(added?.item).arguments, '');
    const args = events
      .filter((e) => e.type === 'response.function_call_arguments.delta')
      .map((e) => e.delta)
      .join('');
    assert.equal(events.find((e) => e.type === 'response.function_call_arguments.done')?.arguments, args);
    assert.equal(typeof (JSON.parse(args) as Obj).q, 'string');
    assert.equal(events.at(-1)?.type, 'response.completed');
  });

  it('ends a truncated stream with response.incomplete', async () => {
    const all = await frames(
      await mockWith().handle(call('responses', { ...ASK, stream: true, max_output_tokens: 16 })),
    );
    assert.match(all.at(-1) ?? '', /^event: response\.incomplete\n/);
    assert.equal(all.filter((f) => f.startsWith('event: response.output_text.delta')).length, 16);
  });
});

describe('openai mock: models and routing', () => {
  it('lists current models', async () => {
    const body = await json(await mockWith().handle(call('models')));
    assert.equal(body.object, 'list');
    const ids = arr(body.data).map((m) => m.id);
    for (const id of [
      'gpt-4o',
      'gpt-4o-mini',
      'gpt-4.1',
      'gpt-4.1-mini',
      'gpt-4.1-nano',
      'gpt-5',
      'gpt-5-mini',
      'gpt-5-nano',
      'o3',
      'o4-mini',
      'text-embedding-3-small',
      'text-embedding-3-large',
      'text-embedding-ada-002',
    ]) {
      assert.ok(ids.includes(id), id);
    }
    for (const m of arr(body.data)) {
      assert.equal(m.object, 'model');
      assert.equal(typeof m.created, 'number');
      assert.equal(typeof m.owned_by, 'string');
    }
  });

  it('retrieves one model, or answers 404 model_not_found', async () => {
    const found = await mockWith().handle(call('model', undefined, { params: { model: 'gpt-4o-mini' } }));
    assert.equal(found.status, 200);
    assert.equal((await json(found)).id, 'gpt-4o-mini');
    const missingModel = await mockWith().handle(call('model', undefined, { params: { model: 'gpt-9' } }));
    assert.equal(missingModel.status, 404);
    assert.deepEqual(await json(missingModel), {
      error: {
        message: "The model 'gpt-9' does not exist",
        type: 'invalid_request_error',
        param: 'model',
        code: 'model_not_found',
      },
    });
  });

  it("answers an unknown operation with 404 in OpenAI's shape", async () => {
    await assert.rejects(
      mockWith().handle({ ...call('nope'), method: 'POST', path: '/v1/audio/speech' }),
      (err: unknown) => {
        assert.ok(err instanceof TollgateError);
        assert.equal(err.status, 404);
        assert.deepEqual(err.body('openai'), {
          error: {
            message: 'Invalid URL (POST /v1/audio/speech)',
            type: 'invalid_request_error',
            param: null,
            code: 'not_found',
          },
        });
        return true;
      },
    );
  });
});

describe('openai mock: realism', () => {
  const SERVER_ERROR = {
    error: {
      message: 'The server had an error while processing your request. Sorry about that!',
      type: 'server_error',
      param: null,
      code: null,
    },
  };

  it('fails every call at errorRate 1 and none at 0', async () => {
    const failing = mockWith({ errorRate: 1 });
    const healthy = mockWith({ errorRate: 0 });
    for (let i = 0; i < 20; i++) {
      const bad = await failing.handle(call('chat', HELLO));
      assert.equal(bad.status, 500);
      assert.deepEqual(await json(bad), SERVER_ERROR);
      assert.equal((await healthy.handle(call('chat', HELLO))).status, 200);
    }
  });

  it('repeats the same fault sequence for the same seed', async () => {
    async function sequence(seed: number): Promise<number[]> {
      const mock = mockWith({ errorRate: 0.5, seed });
      const out: number[] = [];
      for (let i = 0; i < 40; i++) out.push((await mock.handle(call('models'))).status);
      return out;
    }
    const a = await sequence(3);
    assert.deepEqual(a, await sequence(3));
    assert.ok(a.includes(500) && a.includes(200));
    assert.notDeepEqual(a, await sequence(4));
  });

  it('waits the configured latency, reads settings on every call, and aborts the wait', async () => {
    let settings: MockSettings = { ...SETTINGS, latencyMs: [40, 60] };
    const mock = createOpenAIMock(() => settings);
    let started = performance.now();
    await mock.handle(call('models'));
    assert.ok(performance.now() - started >= 38);

    settings = { ...settings, latencyMs: [0, 0] };
    started = performance.now();
    await mock.handle(call('models'));
    assert.ok(performance.now() - started < 30);

    settings = { ...settings, latencyMs: [5000, 5000] };
    const controller = new AbortController();
    started = performance.now();
    const pending = mock.handle(call('models', undefined, { signal: controller.signal }));
    setTimeout(() => controller.abort(), 20);
    await assert.rejects(pending, { name: 'AbortError' });
    assert.ok(performance.now() - started < 1000);
  });

  it('reports openai-processing-ms from the injected clock', async () => {
    let t = 1_000_000;
    const mock = createOpenAIMock(
      () => SETTINGS,
      () => {
        t += 5;
        return t;
      },
    );
    const reply = await mock.handle(call('models'));
    assert.equal(reply.headers['openai-processing-ms'], '5');
  });
});
