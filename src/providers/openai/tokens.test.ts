import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import {
  countChatTokens,
  countTextTokens,
  encodingFor,
  loadedEncodings,
  loadVocabulary,
  truncateToTokens,
} from './tokens.js';

describe('openai tokens', () => {
  it('loads each vocabulary on the first count that needs it, not at import', () => {
    assert.deepEqual(loadedEncodings(), []);
    assert.equal(encodingFor('gpt-4o').name, 'o200k_base');
    assert.deepEqual(loadedEncodings(), [], 'picking an encoding loads nothing');
    assert.equal(countTextTokens('gpt-4o', 'Hello world'), 2);
    assert.deepEqual(loadedEncodings(), ['o200k_base']);
    assert.equal(countTextTokens('gpt-4', 'Hello world'), 2);
    assert.deepEqual(loadedEncodings(), ['o200k_base', 'cl100k_base']);
  });

  it("builds exactly gpt-tokenizer's own vocabularies from its data files", () => {
    const require = createRequire(import.meta.url);
    for (const name of ['o200k_base', 'cl100k_base'] as const) {
      const bundled = (require(`gpt-tokenizer/cjs/bpeRanks/${name}`) as { default: unknown[] }).default;
      assert.deepStrictEqual(loadVocabulary(name), bundled, name);
    }
  });

  it('picks o200k for current models and cl100k for older and embedding models', () => {
    for (const model of ['gpt-4o', 'gpt-4o-mini-2024-07-18', 'gpt-4.1-nano', 'gpt-5', 'o3', 'o4-mini', 'who-knows']) {
      assert.equal(encodingFor(model).name, 'o200k_base', model);
    }
    for (const model of ['gpt-4', 'gpt-4-turbo', 'gpt-3.5-turbo', 'text-embedding-3-small', 'text-embedding-ada-002']) {
      assert.equal(encodingFor(model).name, 'cl100k_base', model);
    }
    assert.equal(encodingFor('ft:gpt-4o-mini-2024-07-18:acme::abc123').name, 'o200k_base');
  });

  it('counts text tokens with the model tokenizer', () => {
    assert.equal(countTextTokens('gpt-4o', 'Hello world'), 2);
    assert.equal(countTextTokens('gpt-4', 'Hello world'), 2);
    assert.equal(countTextTokens('gpt-4o', ''), 0);
    // Same text, different vocabularies: the counts differ for non-English text.
    const text = 'Привет, как дела? Это тест токенизатора.';
    assert.notEqual(countTextTokens('gpt-4o', text), countTextTokens('gpt-4', text));
  });

  it('treats special-token strings in user text as plain text instead of throwing', () => {
    assert.ok(countTextTokens('gpt-4o', 'before <|endoftext|> after') > 3);
    assert.ok(countChatTokens('gpt-4o', [{ role: 'user', content: '<|im_start|>system' }]) > 0);
  });

  it('counts a chat as OpenAI bills it: 3 per message, 3 to prime the reply', () => {
    assert.equal(countChatTokens('gpt-4o-mini', [{ role: 'user', content: 'Hi' }]), 3 + 1 + 1 + 3);
    const withName = countChatTokens('gpt-4o-mini', [{ role: 'user', content: 'Hi', name: 'bob' }]);
    assert.equal(withName, 8 + 1 + countTextTokens('gpt-4o-mini', 'bob'));
  });

  it('tolerates content parts, tool calls, tool messages and junk', () => {
    const n = countChatTokens('gpt-4o', [
      { role: 'system', content: 'You are terse.' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is in this image?' },
          { type: 'image_url', image_url: { url: 'https://example.com/a.png' } },
        ],
      },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'look', arguments: '{"x":1}' } }],
      },
      { role: 'tool', tool_call_id: 'call_1', content: 'a cat' },
      null,
      42,
      { role: 'user', content: [{ type: 'input_text', text: 'and now?' }] },
    ]);
    assert.ok(n > 85 + 20, `got ${n}`);
  });

  it('truncates to exactly max tokens on token boundaries', () => {
    const text = 'The quick brown fox jumps over the lazy dog, again and again and again.';
    const cut = truncateToTokens('gpt-4o', text, 5);
    assert.equal(countTextTokens('gpt-4o', cut), 5);
    assert.ok(text.startsWith(cut));
    assert.equal(truncateToTokens('gpt-4o', text, 1000), text);
    assert.equal(truncateToTokens('gpt-4o', text, 0), '');
  });

  it('counts a string the same the second time (from its cache)', () => {
    const text = 'A system prompt that every call of a worker repeats, word for word.';
    const first = countTextTokens('gpt-4o-mini', text);
    assert.equal(countTextTokens('gpt-4o-mini', `${text}`), first);
    assert.equal(encodingFor('gpt-4o-mini').encode(text).length, first);
  });

  it('is fast enough for metering (cached encoders)', () => {
    const text = 'lorem ipsum dolor sit amet '.repeat(200);
    const started = performance.now();
    for (let i = 0; i < 200; i++) countTextTokens(i % 2 ? 'gpt-4o' : 'gpt-4', text);
    assert.ok(performance.now() - started < 2000);
  });
});
