import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emptyUsage } from '../adapter.js';
import { SseParser } from '../sse.js';
import { anthropic } from './index.js';
import { usageFromJson, usageFromSse } from './usage.js';

const cachedUsage = {
  input_tokens: 25,
  cache_read_input_tokens: 1000,
  cache_creation_input_tokens: 300,
  cache_creation: { ephemeral_5m_input_tokens: 200, ephemeral_1h_input_tokens: 100 },
  output_tokens: 40,
};

const frame = (payload: Record<string, unknown>) => `event: ${payload.type}\ndata: ${JSON.stringify(payload)}\n\n`;
const streamOf = (usage: Record<string, unknown>) => [
  frame({
    type: 'message_start',
    message: { id: 'msg_01x', model: 'claude-sonnet-5-5', content: [], usage: { ...usage, output_tokens: 1 } },
  }),
  frame({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
  frame({ type: 'ping' }),
  frame({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hello' } }),
  frame({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: ' there.' } }),
  frame({ type: 'content_block_stop', index: 0 }),
  frame({ type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: usage.output_tokens } }),
  frame({ type: 'message_stop' }),
];

function fold(frames: string[]) {
  const usage = emptyUsage();
  const parser = new SseParser();
  for (const f of frames) for (const e of parser.push(f)) assert.equal(usageFromSse('messages', e, usage), false);
  return usage;
}

describe('Anthropic usage', () => {
  it('counts the whole prompt as input: input_tokens + cache reads + cache writes, keeping reads and writes apart', () => {
    const u = usageFromJson('messages', {
      id: 'msg_01x',
      model: 'claude-sonnet-5-5',
      stop_reason: 'end_turn',
      usage: cachedUsage,
    });
    assert.deepEqual(
      {
        input: u?.inputTokens,
        cached: u?.cachedInputTokens,
        writes: u?.cacheWriteTokens,
        writes1h: u?.cacheWrite1hTokens,
        output: u?.outputTokens,
        reported: u?.reported,
        reasons: u?.finishReasons,
        model: u?.model,
      },
      {
        input: 1325,
        cached: 1000,
        writes: 300,
        writes1h: 100,
        output: 40,
        reported: true,
        reasons: ['end_turn'],
        model: 'claude-sonnet-5-5',
      },
    );
  });

  it('reads no usage from count_tokens or models answers (they are free)', () => {
    assert.equal(usageFromJson('count_tokens', { input_tokens: 12 }), undefined);
    assert.equal(usageFromJson('models', { data: [] }), undefined);
  });

  it('folds a stream: prompt counters from message_start, output from message_delta, whatever the chunking', () => {
    const whole = streamOf(cachedUsage).join('');
    for (const size of [1, 7, 64, whole.length]) {
      const pieces: string[] = [];
      for (let i = 0; i < whole.length; i += size) pieces.push(whole.slice(i, i + size));
      const u = fold(pieces);
      assert.equal(u.inputTokens, 1325, `chunks of ${size}`);
      assert.equal(u.cachedInputTokens, 1000);
      assert.equal(u.cacheWriteTokens, 300);
      assert.equal(u.cacheWrite1hTokens, 100);
      assert.equal(u.outputTokens, 40);
      assert.equal(u.reported, true);
      assert.deepEqual(u.finishReasons, ['end_turn']);
      assert.equal(u.deliveredText, 'Hello there.');
    }
  });

  it('keeps the prompt counters and the text of a stream cut before message_delta, not reported', () => {
    const u = fold(streamOf(cachedUsage).slice(0, 4));
    assert.equal(u.reported, undefined);
    assert.equal(u.inputTokens, 1325);
    assert.equal(u.cachedInputTokens, 1000);
    assert.equal(u.deliveredText, 'Hello');
    // The sidecar then counts the delivered text with the tokenizer (an estimate).
    assert.equal(anthropic.countTokens?.('claude-sonnet-5-5', u.deliveredText ?? ''), 1);
  });

  it('takes the cumulative counters message_delta repeats over those of message_start', () => {
    const frames = streamOf({ input_tokens: 10, output_tokens: 5 });
    frames[6] = frame({
      type: 'message_delta',
      delta: { stop_reason: 'max_tokens' },
      usage: { input_tokens: 12, cache_read_input_tokens: 4, output_tokens: 5 },
    });
    const u = fold(frames);
    assert.equal(u.inputTokens, 16);
    assert.equal(u.cachedInputTokens, 4);
    assert.deepEqual(u.finishReasons, ['max_tokens']);
  });

  it('sizes the worst case from max_tokens and counts count_tokens as a request with no tokens', () => {
    const body = { model: 'claude-haiku-4-5', max_tokens: 300, messages: [{ role: 'user', content: 'Hi there' }] };
    const raw = Buffer.from(JSON.stringify(body));
    const exact = anthropic.worstCase?.('messages', body, 4096);
    const bound = anthropic.worstCaseBound?.('messages', body, raw, 4096);
    assert.equal(exact?.outputTokens, 300);
    assert.equal(exact?.sizing?.param, 'max_tokens');
    assert.equal(exact?.sizing?.given, true);
    assert.ok((exact?.inputTokens ?? 0) > 0);
    assert.ok(
      (bound?.inputTokens ?? 0) >= (exact?.inputTokens ?? Number.POSITIVE_INFINITY),
      'the bound is never below',
    );
    assert.deepEqual(anthropic.worstCase?.('count_tokens', body, 4096), {
      inputTokens: 0,
      outputTokens: 0,
      pages: 0,
      model: 'claude-haiku-4-5',
    });
  });
});
