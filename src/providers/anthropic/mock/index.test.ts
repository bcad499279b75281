import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import fc from 'fast-check';
import type { MockCall, MockSettings, ProviderReply } from '../../types.js';
import { createAnthropicMock } from './index.js';

const SETTINGS: MockSettings = { latencyMs: [0, 0], streamChunkDelayMs: 0, errorRate: 0, seed: 7, parseDelayMs: 0 };
const OPERATION_OF: Record<string, string> = {
  '/v1/messages': 'messages',
  '/v1/messages/count_tokens': 'count_tokens',
  '/v1/models': 'models',
};

function call(path: string, json?: unknown, query = ''): MockCall {
  const model = path.startsWith('/v1/models/') ? path.slice('/v1/models/'.length) : undefined;
  return {
    operation: model !== undefined ? 'model' : (OPERATION_OF[path] ?? 'passthrough'),
    method: json === undefined ? 'GET' : 'POST',
    path,
    params: model !== undefined ? { model } : {},
    query: new URLSearchParams(query),
    headers: {},
    json,
    signal: new AbortController().signal,
    correlationId: 'test',
  };
}

async function text(reply: ProviderReply): Promise<string> {
  if (typeof reply.body === 'string') return reply.body;
  let out = '';
  for await (const chunk of reply.body as AsyncIterable<string>) out += chunk;
  return out;
}
// biome-ignore lint/suspicious/noExplicitAny: test helper reads arbitrary JSON bodies
const json = async (reply: ProviderReply) => JSON.parse(await text(reply)) as Record<string, any>;

const mock = (over: Partial<MockSettings> = {}) => createAnthropicMock(() => ({ ...SETTINGS, ...over }));
const ask = (extra: Record<string, unknown> = {}) => ({
  model: 'claude-haiku-4-5',
  max_tokens: 200,
  messages: [{ role: 'user', content: 'Tell me about budgets.' }],
  ...extra,
});

describe('the Anthropic mock', () => {
  it('answers the same text for the same seed and request, and other text for another seed', async () => {
    const a = await json(await mock().handle(call('/v1/messages', ask())));
    const b = await json(await mock().handle(call('/v1/messages', ask())));
    const c = await json(await mock({ seed: 8 }).handle(call('/v1/messages', ask())));
    assert.equal(a.content[0].text, b.content[0].text);
    assert.notEqual(a.content[0].text, c.content[0].text);
    assert.equal(a.stop_reason, 'end_turn');
    assert.match(a.id, /^msg_01[1-9A-HJ-NP-Za-km-z]{22}$/);
  });

  it('stops at max_tokens with stop_reason max_tokens and no more output tokens than allowed', async () => {
    const m = await json(await mock().handle(call('/v1/messages', ask({ max_tokens: 3 }))));
    assert.equal(m.stop_reason, 'max_tokens');
    assert.ok(m.usage.output_tokens <= 3);
  });

  it('stops before a stop sequence, naming it', async () => {
    const whole = await json(await mock().handle(call('/v1/messages', ask())));
    const words = String(whole.content[0].text).split(' ');
    const stop = ` ${words[2]}`;
    const m = await json(await mock().handle(call('/v1/messages', ask({ stop_sequences: ['NEVER-THERE', stop] }))));
    assert.equal(m.stop_reason, 'stop_sequence');
    assert.equal(m.stop_sequence, stop);
    assert.ok(String(whole.content[0].text).startsWith(m.content[0].text));
    assert.ok(!String(m.content[0].text).includes(stop));
  });

  it('counts a system prompt and every turn of a conversation, as count_tokens does', async () => {
    const short = ask();
    const long = ask({
      system: [{ type: 'text', text: 'You are a careful accountant who explains every number.' }],
      messages: [
        { role: 'user', content: 'Tell me about budgets.' },
        { role: 'assistant', content: [{ type: 'text', text: 'Budgets cap what you spend.' }] },
        { role: 'user', content: 'And limits?' },
      ],
    });
    const [s, l] = [
      await json(await mock().handle(call('/v1/messages', short))),
      await json(await mock().handle(call('/v1/messages', long))),
    ];
    assert.ok(l.usage.input_tokens > s.usage.input_tokens + 15);
    const counted = await json(
      await mock().handle(call('/v1/messages/count_tokens', { ...long, max_tokens: undefined })),
    );
    assert.deepEqual(counted, { input_tokens: l.usage.input_tokens });
  });

  it('answers tool_choice any with a tool_use block whose input fits the input_schema, for any schema', async () => {
    const leaf = fc.oneof(
      fc.record({ type: fc.constant('string'), minLength: fc.integer({ min: 0, max: 12 }) }),
      fc.record({
        type: fc.constant('integer'),
        minimum: fc.integer({ min: -5, max: 5 }),
        maximum: fc.integer({ min: 6, max: 50 }),
      }),
      fc.record({ type: fc.constant('number'), minimum: fc.constant(0), maximum: fc.constant(1) }),
      fc.record({ type: fc.constant('boolean') }),
      fc.record({ enum: fc.uniqueArray(fc.string({ minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 4 }) }),
      fc.record({ type: fc.constant('string'), format: fc.constantFrom('date-time', 'email', 'uri', 'uuid', 'date') }),
    );
    const node = fc.letrec((tie) => ({
      value: fc.oneof({ depthSize: 'small' }, leaf, tie('object'), tie('array')),
      object: fc
        .dictionary(fc.stringMatching(/^[a-z][a-z_]{0,8}$/), tie('value'), { maxKeys: 4 })
        .map((properties) => ({
          type: 'object',
          properties,
          required: Object.keys(properties),
          additionalProperties: false,
        })),
      array: fc.record({ type: fc.constant('array'), items: tie('value'), minItems: fc.integer({ min: 0, max: 3 }) }),
    }));
    const ajv = new Ajv2020({ strict: false, validateFormats: false });
    await fc.assert(
      fc.asyncProperty(node.object, fc.integer({ min: 0, max: 1000 }), async (schema, seed) => {
        const tools = [{ name: 'fill', description: 'fills a form', input_schema: schema }];
        const reply = await mock({ seed }).handle(call('/v1/messages', ask({ tools, tool_choice: { type: 'any' } })));
        const m = await json(reply);
        assert.equal(m.stop_reason, 'tool_use');
        assert.equal(m.content[0].type, 'tool_use');
        assert.match(m.content[0].id, /^toolu_01/);
        assert.ok(ajv.validate(schema, m.content[0].input), JSON.stringify(ajv.errors));
      }),
      { numRuns: 150 },
    );
  });

  it('refuses what the API refuses, in its error shape with a request-id', async () => {
    for (const [body, message] of [
      [{ model: 'claude-haiku-4-5', messages: [{ role: 'user', content: 'x' }] }, /^max_tokens: Field required$/],
      [{ model: 'claude-haiku-4-5', max_tokens: 5 }, /^messages: Field required$/],
      [{ max_tokens: 5, messages: [] }, /^model: Field required$/],
      [ask({ messages: [{ role: 'system', content: 'x' }] }), /^messages\.0\.role/],
      [ask({ max_tokens: 0 }), /^max_tokens: Input should be greater than or equal to 1$/],
      [
        ask({ tools: [{ name: 'a', input_schema: { type: 'object' } }], tool_choice: { type: 'tool', name: 'b' } }),
        /tool_choice\.name/,
      ],
    ] as const) {
      const reply = await mock().handle(call('/v1/messages', body));
      assert.equal(reply.status, 400);
      assert.match(reply.headers['request-id'] ?? '', /^req_01/);
      const b = await json(reply);
      assert.equal(b.type, 'error');
      assert.equal(b.error.type, 'invalid_request_error');
      assert.match(b.error.message, message);
      assert.equal(b.request_id, reply.headers['request-id']);
    }
    const unknown = await mock().handle(call('/v1/messages', ask({ model: 'gpt-4o' })));
    assert.equal(unknown.status, 404);
    assert.equal((await json(unknown)).error.type, 'not_found_error');
  });

  it('lists models newest first, pages them, and describes one or answers 404', async () => {
    const all = await json(await mock().handle(call('/v1/models')));
    assert.equal(all.has_more, false);
    assert.equal(all.first_id, all.data[0].id);
    const page = await json(await mock().handle(call('/v1/models', undefined, 'limit=2')));
    assert.equal(page.data.length, 2);
    assert.equal(page.has_more, true);
    const next = await json(await mock().handle(call('/v1/models', undefined, `limit=2&after_id=${page.last_id}`)));
    assert.equal(next.data[0].id, all.data[2].id);
    const one = await json(await mock().handle(call('/v1/models/claude-haiku-4-5-20251001')));
    assert.equal(one.type, 'model');
    assert.equal((await mock().handle(call('/v1/models/claude-nope'))).status, 404);
  });

  it('writes a cache_control prefix once, then reads it until its TTL ends, as the usage reports', async () => {
    let now = 1_000_000;
    const cached = createAnthropicMock(
      () => SETTINGS,
      () => now,
    );
    const manual = 'Every figure in a report must be checked twice against the ledger. '.repeat(120);
    const body = (question: string, ttl?: '1h') =>
      ask({
        system: [{ type: 'text', text: manual, cache_control: { type: 'ephemeral', ...(ttl ? { ttl } : {}) } }],
        messages: [{ role: 'user', content: question }],
      });
    const usageOf = async (b: unknown) => (await json(await cached.handle(call('/v1/messages', b)))).usage;
    const total = (u: Record<string, number>) =>
      u.input_tokens! + u.cache_read_input_tokens! + u.cache_creation_input_tokens!;

    const first = await usageOf(body('What is checked?'));
    assert.ok(first.cache_creation_input_tokens >= 1024, 'the manual is long enough to cache');
    assert.equal(first.cache_read_input_tokens, 0);
    assert.equal(first.cache_creation.ephemeral_5m_input_tokens, first.cache_creation_input_tokens);
    const counted = await json(await cached.handle(call('/v1/messages/count_tokens', body('What is checked?'))));
    assert.equal(total(first), counted.input_tokens, 'input + reads + writes is the whole prompt');

    now += 4 * 60_000;
    const second = await usageOf(body('And how often?'));
    assert.equal(second.cache_read_input_tokens, first.cache_creation_input_tokens);
    assert.equal(second.cache_creation_input_tokens, 0);

    now += 6 * 60_000; // 6 minutes after the read refreshed it: the 5-minute entry is gone
    const third = await usageOf(body('And how often?'));
    assert.equal(third.cache_read_input_tokens, 0);
    assert.equal(third.cache_creation_input_tokens, first.cache_creation_input_tokens);

    const hour = await usageOf(body('Once more?', '1h'));
    assert.equal(hour.cache_creation.ephemeral_1h_input_tokens, hour.cache_creation_input_tokens);
    assert.ok(hour.cache_creation_input_tokens > 0, 'another TTL is another entry');

    const short = await usageOf(
      ask({ system: [{ type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral' } }] }),
    );
    assert.equal(short.cache_creation_input_tokens, 0, 'below the minimum cacheable length nothing is cached');
  });

  it('reads the longest cached breakpoint and writes only what follows it', async () => {
    const cached = createAnthropicMock(() => SETTINGS);
    const manual = 'Budgets cap spend; limits cap rate; the ledger books every call. '.repeat(120);
    const system = [{ type: 'text', text: manual, cache_control: { type: 'ephemeral' } }];
    const history = 'The previous answer went into great detail about windows and buckets. '.repeat(60);
    const first = (await json(await cached.handle(call('/v1/messages', ask({ system }))))).usage;
    const longer = ask({
      system,
      messages: [{ role: 'user', content: [{ type: 'text', text: history, cache_control: { type: 'ephemeral' } }] }],
    });
    const second = (await json(await cached.handle(call('/v1/messages', longer)))).usage;
    assert.equal(second.cache_read_input_tokens, first.cache_creation_input_tokens);
    assert.ok(second.cache_creation_input_tokens > 0);
  });

  it('injects faults at MOCK_ERROR_RATE as Anthropic 500 api_error answers', async () => {
    const reply = await mock({ errorRate: 1 }).handle(call('/v1/messages', ask()));
    assert.equal(reply.status, 500);
    assert.equal((await json(reply)).error.type, 'api_error');
  });

  it('waits MOCK_LATENCY_MS before answering, and stops waiting when the worker hangs up', async () => {
    const started = performance.now();
    await mock({ latencyMs: [60, 60] }).handle(call('/v1/messages', ask()));
    assert.ok(performance.now() - started >= 55);
    const ac = new AbortController();
    const pending = mock({ latencyMs: [5000, 5000] }).handle({ ...call('/v1/messages', ask()), signal: ac.signal });
    ac.abort(new Error('worker gone'));
    await assert.rejects(pending, /worker gone/);
  });

  it('paces a stream by MOCK_STREAM_CHUNK_DELAY_MS', async () => {
    const started = performance.now();
    const reply = await mock({ streamChunkDelayMs: 20 }).handle(
      call('/v1/messages', ask({ stream: true, max_tokens: 4 })),
    );
    const body = await text(reply);
    const events = body.match(/^event: /gm)?.length ?? 0;
    assert.ok(events >= 7);
    assert.ok(performance.now() - started >= (events - 1) * 20 - 5, 'each event after the first waits its delay');
  });
});
