/**
 * The official `@anthropic-ai/sdk`, unchanged but for its base URL, against the sidecar in MOCK,
 * REAL and HYBRID mode: create, stream with finalMessage(), countTokens, models.list, a forced tool
 * and a 400 for a missing max_tokens. REAL and HYBRID run against a loopback stand-in that checks
 * what arrives: the sidecar's key as x-api-key, the worker's own key gone, the version and beta headers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { type AnthropicStandin, startAnthropicStandin } from './support/anthropic-standin.js';
import { startTestTollgate, type TestTollgate } from './support/tollgate.js';

const KEY = 'sk-ant-test-sidecar-key-0123456789';
const WORKER_KEY = 'sk-ant-worker-own-key-9876543210';
const BETA = 'prompt-caching-2024-07-31';
const MODEL = 'claude-sonnet-5-5';
const ask = { model: MODEL, max_tokens: 64, messages: [{ role: 'user' as const, content: 'Say hello.' }] };
const weather = {
  name: 'get_weather',
  description: 'The weather in a city',
  input_schema: {
    type: 'object' as const,
    properties: {
      city: { type: 'string' },
      unit: { type: 'string', enum: ['c', 'f'] },
      days: { type: 'integer', minimum: 1, maximum: 7 },
    },
    required: ['city'],
  },
};

/** finalMessage() adds `parsed_output`; ids (the message's, a tool_use block's) differ per call. The rest must match. */
const comparable = (m: object) => {
  const { id: _id, parsed_output: _p, ...rest } = JSON.parse(JSON.stringify(m)) as Record<string, unknown>;
  const content = (rest.content as Record<string, unknown>[]).map(({ id: _blockId, ...block }) => block);
  return { ...rest, content };
};

function sdkScenario(mode: 'mock' | 'real' | 'hybrid', ctx: () => { tg: TestTollgate; standin?: AnthropicStandin }) {
  const client = () =>
    new Anthropic({
      baseURL: `${ctx().tg.url}/anthropic`,
      apiKey: WORKER_KEY,
      maxRetries: 0,
      defaultHeaders: { 'anthropic-beta': BETA },
    });
  const servedBy = mode === 'mock' ? 'mock' : 'real';

  /** The stand-in saw the sidecar's key, never the worker's, and the worker's version and beta headers. */
  const checkArrived = (path: string) => {
    const standin = ctx().standin;
    if (standin === undefined) return;
    const seen = standin.requests.filter((r) => r.path === path).at(-1);
    assert.ok(seen, `${path} reached the stand-in`);
    assert.equal(seen.headers['x-api-key'], KEY);
    assert.equal(seen.headers.authorization, undefined);
    assert.ok(!JSON.stringify(seen.headers).includes(WORKER_KEY), "the worker's key never goes upstream");
    assert.match(String(seen.headers['anthropic-version']), /^\d{4}-\d{2}-\d{2}$/);
    assert.equal(seen.headers['anthropic-beta'], BETA);
  };

  it('creates a message', async () => {
    const { data, response } = await client().messages.create(ask).withResponse();
    assert.equal(data.type, 'message');
    assert.equal(data.role, 'assistant');
    assert.equal(data.model, MODEL);
    assert.equal(data.content[0]?.type, 'text');
    assert.ok(data.usage.input_tokens > 0 && data.usage.output_tokens > 0);
    assert.equal(response.headers.get('x-tollgate-served-by'), servedBy);
    assert.match(response.headers.get('x-tollgate-cost-usd') ?? '', /^\d/);
    assert.ok(response.headers.get('request-id'));
    checkArrived('/v1/messages');
  });

  it('streams a message whose finalMessage() is the JSON answer', async () => {
    const json = await client().messages.create(ask);
    const stream = client().messages.stream(ask);
    const kinds: string[] = [];
    stream.on('streamEvent', (e) => kinds.push(e.type));
    const final = await stream.finalMessage();
    assert.deepEqual(comparable(final), comparable(json));
    assert.equal(kinds[0], 'message_start');
    assert.equal(kinds.at(-1), 'message_stop');
    assert.ok(kinds.includes('content_block_delta') && kinds.includes('message_delta'));
    checkArrived('/v1/messages');
  });

  it('sends the SSE event sequence, with a ping after the first block starts', async () => {
    const res = await fetch(`${ctx().tg.url}/anthropic/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'x-api-key': WORKER_KEY },
      body: JSON.stringify({ ...ask, stream: true }),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const names = [...(await res.text()).matchAll(/^event: (\S+)$/gm)].map((m) => m[1]);
    const squeezed = names.filter((n, i) => n !== 'content_block_delta' || names[i - 1] !== 'content_block_delta');
    assert.deepEqual(squeezed, [
      'message_start',
      'content_block_start',
      'ping',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
  });

  it('counts tokens', async () => {
    const counted = await client().messages.countTokens({ model: MODEL, messages: ask.messages });
    assert.ok(counted.input_tokens > 0);
    if (mode === 'mock') assert.equal(counted.input_tokens, (await client().messages.create(ask)).usage.input_tokens);
    checkArrived('/v1/messages/count_tokens');
  });

  it('lists models', async () => {
    const ids: string[] = [];
    for await (const m of client().models.list()) ids.push(m.id);
    assert.ok(ids.length > 0);
    assert.ok(ids.every((id) => id.startsWith('claude-')));
    checkArrived('/v1/models');
  });

  it('answers a forced tool with a tool_use block whose input fits its input_schema', async () => {
    const m = await client().messages.create({
      ...ask,
      tools: [weather],
      tool_choice: { type: 'tool', name: 'get_weather' },
    });
    assert.equal(m.stop_reason, 'tool_use');
    const block = m.content.find((b) => b.type === 'tool_use');
    assert.ok(block && block.type === 'tool_use');
    assert.match(block.id, /^toolu_/);
    assert.equal(block.name, 'get_weather');
    const validate = new Ajv2020({ strict: false }).compile(weather.input_schema);
    assert.ok(validate(block.input), JSON.stringify(validate.errors));
  });

  it('streams a forced tool whose finalMessage() is the JSON answer, input parsed from input_json_delta', async () => {
    const forced = { ...ask, tools: [weather], tool_choice: { type: 'tool' as const, name: 'get_weather' } };
    const json = await client().messages.create(forced);
    const final = await client().messages.stream(forced).finalMessage();
    assert.deepEqual(comparable(final), comparable(json));
    assert.equal(final.content[0]?.type, 'tool_use');
  });

  it('never shows a key in a log line', () => {
    const logs = ctx().tg.logText();
    assert.ok(logs.length > 0);
    assert.ok(!logs.includes(KEY) && !logs.includes(WORKER_KEY));
  });

  it('refuses a request without max_tokens with a 400 in Anthropic shape', async () => {
    const { max_tokens: _, ...noMax } = ask;
    await assert.rejects(client().messages.create(noMax as unknown as typeof ask), (e: unknown) => {
      assert.ok(e instanceof Anthropic.BadRequestError);
      const body = e.error as { type: string; error: { type: string; message: string } };
      assert.equal(body.type, 'error');
      assert.equal(body.error.type, 'invalid_request_error');
      assert.match(body.error.message, /max_tokens/);
      assert.ok(e.requestID, 'a request-id header');
      return true;
    });
  });
}

describe('the Anthropic SDK in MOCK mode', () => {
  let tg: TestTollgate;
  before(async () => {
    tg = await startTestTollgate({ SERVICE_MODE: 'mock' });
  });
  after(() => tg.close());
  sdkScenario('mock', () => ({ tg }));
});

for (const mode of ['real', 'hybrid'] as const) {
  describe(`the Anthropic SDK in ${mode.toUpperCase()} mode, against a stand-in`, () => {
    let tg: TestTollgate;
    let standin: AnthropicStandin;
    before(async () => {
      standin = await startAnthropicStandin({ expectKey: KEY });
      tg = await startTestTollgate({
        SERVICE_MODE: mode,
        OPENAI_MODE: 'mock',
        LLAMAPARSE_MODE: 'mock',
        ANTHROPIC_API_KEY: KEY,
        ANTHROPIC_UPSTREAM_URL: standin.url,
      });
    });
    after(async () => {
      await tg.close();
      await standin.close();
    });
    sdkScenario(mode, () => ({ tg, standin }));
  });
}
