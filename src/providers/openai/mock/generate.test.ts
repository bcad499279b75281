import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodingFor } from '../tokens.js';
import { answer, answerFor, cutAnswer } from './generate.js';
import { mulberry32, rngFrom } from './prng.js';
import { paragraph } from './text.js';

const TEXT = { format: { kind: 'text' as const }, tools: [], forced: undefined };

describe('openai mock: answers', () => {
  it('encodes a paragraph sentence by sentence to exactly the tokens of its whole text', () => {
    for (const model of ['gpt-4o-mini', 'gpt-4']) {
      const enc = encodingFor(model);
      for (let seed = 0; seed < 300; seed++) {
        const { text, tokens } = paragraph(mulberry32(seed), 20 + (seed % 60), enc.encode);
        assert.deepEqual(tokens, enc.encode(text), `${model} seed ${seed}: ${text}`);
      }
    }
  });

  it('cuts an answer on token boundaries, and its pieces join to its text', () => {
    const whole = answer('gpt-4o-mini', rngFrom(1, 'cut'), TEXT);
    const enc = encodingFor('gpt-4o-mini');
    for (const max of [undefined, 1, 5, whole.tokens.length - 1, whole.tokens.length, 10_000]) {
      const c = cutAnswer('gpt-4o-mini', whole, max);
      assert.equal(c.tokens, Math.min(whole.tokens.length, max ?? Number.POSITIVE_INFINITY));
      assert.equal(c.truncated, max !== undefined && max < whole.tokens.length);
      assert.equal(c.pieces.length, c.tokens);
      assert.equal(c.pieces.join(''), c.text);
      assert.equal(enc.count(c.text), c.tokens);
      assert.ok(whole.text.startsWith(c.text));
    }
  });

  it('remembers the answer to an input that comes back, and draws it no more', () => {
    let draws = 0;
    const make = () => {
      draws += 1;
      return rngFrom(7, 'memo-test');
    };
    const answers = Array.from({ length: 5 }, () => answerFor('memo-test\0a', 'gpt-4o-mini', make, TEXT));
    assert.equal(draws, 2, 'drawn the first time, drawn and kept the second, then remembered');
    for (const a of answers) assert.deepEqual(a, answers[0]);
    assert.deepEqual(answer('gpt-4o-mini', rngFrom(7, 'memo-test'), TEXT), answers[0]);
  });
});
