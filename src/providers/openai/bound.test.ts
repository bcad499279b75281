import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { openai } from './index.js';

// Text that stresses byte-level BPE: ASCII, accents, CJK, emoji (4-byte UTF-8), control characters,
// and the special-token spellings users may paste.
const text = fc.oneof(
  fc.string({ maxLength: 60 }),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.constantFrom('', ' ', '<|endoftext|>', '数字と文字', '🙂🙂🙂', 'é'.repeat(20), '\n\t\\"', '1e9 '.repeat(5)),
);
const part = fc.oneof(
  fc.record({ type: fc.constant('text'), text }),
  fc.record({
    type: fc.constant('image_url'),
    image_url: fc.record({ url: fc.constantFrom('http://x/a.png', 'data:,') }),
  }),
);
const message = fc.record(
  {
    role: fc.constantFrom('system', 'user', 'assistant', 'tool'),
    content: fc.oneof(text, fc.array(part, { maxLength: 3 })),
    name: text,
    tool_call_id: text,
  },
  { requiredKeys: ['role'] },
);
const chat = fc.record(
  {
    model: fc.constantFrom('gpt-4o-mini', 'gpt-4', 'gpt-3.5-turbo', 'o3-mini', 'unknown-model'),
    messages: fc.array(fc.oneof(message, fc.constant({})), { maxLength: 5 }),
    tools: fc.array(fc.record({ type: fc.constant('function'), function: fc.record({ name: text }) }), {
      maxLength: 2,
    }),
    max_tokens: fc.integer({ min: 1, max: 4096 }),
    n: fc.integer({ min: 1, max: 3 }),
  },
  { requiredKeys: ['model', 'messages'] },
);
const embeddings = fc.record({
  model: fc.constantFrom('text-embedding-3-small', 'text-embedding-ada-002'),
  input: fc.oneof(
    text,
    fc.array(text, { maxLength: 4 }),
    fc.array(fc.array(fc.nat(100_000), { maxLength: 8 }), { maxLength: 3 }),
  ),
});
const responses = fc.record(
  {
    model: fc.constant('gpt-4o-mini'),
    input: fc.oneof(text, fc.array(fc.oneof(message, fc.constant({})), { maxLength: 4 })),
    instructions: text,
  },
  { requiredKeys: ['model', 'input'] },
);

/** The body as a worker's JSON encoder may write it: compact, indented, or with non-ASCII escaped. */
const encodings = [
  (v: unknown) => JSON.stringify(v),
  (v: unknown) => JSON.stringify(v, null, 2),
  (v: unknown) =>
    JSON.stringify(v).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
];

function check(operation: string, body: Record<string, unknown>, encode: (v: unknown) => string) {
  const raw = Buffer.from(encode(body));
  const json = JSON.parse(raw.toString()) as unknown;
  const exact = openai.worstCase?.(operation, json, 1000);
  const bound = openai.worstCaseBound?.(operation, json, raw, 1000);
  assert.ok(exact && bound);
  assert.ok(bound.inputTokens >= exact.inputTokens, `bound ${bound.inputTokens} < exact ${exact.inputTokens}: ${raw}`);
  assert.equal(bound.outputTokens, exact.outputTokens);
  assert.equal(bound.model, exact.model);
}

describe('openai worst-case bound', () => {
  for (const [operation, arb] of [
    ['chat', chat],
    ['embeddings', embeddings],
    ['responses', responses],
  ] as const) {
    it(`${operation}: never below the tokenizer's count, however the body is encoded`, () => {
      fc.assert(
        fc.property(arb, fc.constantFrom(...encodings), (body, encode) =>
          check(operation, body as Record<string, unknown>, encode),
        ),
        { numRuns: 300 },
      );
    });
  }

  it('is close enough to matter only near a limit: the bench chat body', () => {
    const body = {
      model: 'gpt-4o-mini',
      max_tokens: 16,
      messages: [
        { role: 'system', content: 'You are a terse assistant.' },
        { role: 'user', content: 'Name one prime number between 10 and 20.' },
      ],
    };
    const raw = Buffer.from(JSON.stringify(body));
    const exact = openai.worstCase?.('chat', body, 1000);
    const bound = openai.worstCaseBound?.('chat', body, raw, 1000);
    assert.ok(exact && bound && bound.inputTokens < exact.inputTokens * 12);
  });

  it('gives no bound where the exact worst case has none', () => {
    assert.equal(openai.worstCaseBound?.('models', {}, Buffer.from('{}'), 1000), undefined);
    assert.equal(openai.worstCaseBound?.('chat', { messages: [] }, Buffer.from('{"messages":[]}'), 1000), undefined);
  });
});
