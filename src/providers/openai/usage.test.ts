import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Usage } from '../adapter.js';
import { usageFromJson, usageFromSse } from './usage.js';

describe('openai usage: cache writes', () => {
  it('reads responses input_tokens_details.cache_write_tokens into cacheWriteTokens', () => {
    const usage = usageFromJson('responses', {
      id: 'resp_1',
      model: 'gpt-5',
      status: 'completed',
      usage: {
        input_tokens: 1200,
        input_tokens_details: { cached_tokens: 200, cache_write_tokens: 1000 },
        output_tokens: 5,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: 1205,
      },
    });
    assert.equal(usage?.inputTokens, 1200);
    assert.equal(usage?.cachedInputTokens, 200);
    assert.equal(usage?.cacheWriteTokens, 1000);
  });

  it('reads chat prompt_tokens_details.cache_write_tokens, from JSON and from the usage chunk', () => {
    const body = {
      id: 'chatcmpl-1',
      model: 'gpt-4o',
      choices: [],
      usage: {
        prompt_tokens: 50,
        completion_tokens: 2,
        total_tokens: 52,
        prompt_tokens_details: { cached_tokens: 0, cache_write_tokens: 48 },
      },
    };
    assert.equal(usageFromJson('chat', body)?.cacheWriteTokens, 48);
    const streamed: Usage = { inputTokens: 0, cachedInputTokens: 0, outputTokens: 0, pages: 0 };
    usageFromSse('chat', { raw: '', event: undefined, data: JSON.stringify(body) }, streamed);
    assert.equal(streamed.cacheWriteTokens, 48);
  });

  it('never counts more cache writes than the uncached part of the prompt, and leaves them unset when not reported', () => {
    const over = usageFromJson('responses', {
      model: 'gpt-5',
      usage: { input_tokens: 10, input_tokens_details: { cached_tokens: 4, cache_write_tokens: 99 }, output_tokens: 1 },
    });
    assert.equal(over?.cacheWriteTokens, 6);
    const none = usageFromJson('chat', {
      model: 'gpt-4o',
      usage: { prompt_tokens: 10, completion_tokens: 1, prompt_tokens_details: { cached_tokens: 0 } },
    });
    assert.equal(none?.cacheWriteTokens, undefined);
  });
});
