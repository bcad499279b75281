import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { type Standin, startStandin } from './support/standin.js';
import { startTestTollgate, type TestTollgate } from './support/tollgate.js';

const KEY = 'sk-test-stream-key-0123456789';
const GAP = 80;

describe('streams are relayed chunk by chunk', () => {
  let standin: Standin;
  let tg: TestTollgate;

  before(async () => {
    standin = await startStandin({ expectOpenAIKey: KEY, streamChunks: 6, chunkGapMs: GAP, quiet: true });
    tg = await startTestTollgate({ OPENAI_MODE: 'real', OPENAI_API_KEY: KEY, OPENAI_UPSTREAM_URL: standin.openaiBase });
  });
  after(async () => {
    await tg.close();
    await standin.close();
  });

  for (const includeUsage of [false, true]) {
    it(`keeps the upstream's spacing between chunks (include_usage ${includeUsage})`, async () => {
      const client = new OpenAI({ baseURL: `${tg.url}/openai/v1`, apiKey: 'x', maxRetries: 0 });
      const t0 = performance.now();
      const stream = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'spaced' }],
        stream: true,
        ...(includeUsage ? { stream_options: { include_usage: true } } : {}),
      });
      const arrivals: number[] = [];
      for await (const chunk of stream) {
        if (chunk.choices[0]?.delta.content) arrivals.push(performance.now() - t0);
      }
      assert.equal(arrivals.length, 6);
      const gaps = arrivals.slice(1).map((t, i) => t - arrivals[i]!);
      // Buffering would deliver everything at the end: every gap near 0 and the first chunk late.
      assert.ok(arrivals[0]! < arrivals.at(-1)! - 3 * GAP, `first chunk at ${arrivals[0]!.toFixed(0)} ms`);
      for (const g of gaps) assert.ok(g > GAP * 0.5, `gap ${g.toFixed(0)} ms kept`);
    });
  }

  it('does the same for the mock with MOCK_STREAM_CHUNK_DELAY_MS', async () => {
    const mock = await startTestTollgate({ SERVICE_MODE: 'mock', MOCK_STREAM_CHUNK_DELAY_MS: '40' });
    try {
      const client = new OpenAI({ baseURL: `${mock.url}/openai/v1`, apiKey: 'x', maxRetries: 0 });
      const stream = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'spaced' }],
        max_tokens: 6,
        stream: true,
      });
      const arrivals: number[] = [];
      for await (const _ of stream) arrivals.push(performance.now());
      const span = arrivals.at(-1)! - arrivals[0]!;
      assert.ok(span >= 40 * 4, `frames spread over ${span.toFixed(0)} ms`);
      assert.ok((mock.calls.at(-1)?.usage?.outputTokens ?? 0) === 6, 'mock stream metered from its usage chunk');
    } finally {
      await mock.close();
    }
  });
});
