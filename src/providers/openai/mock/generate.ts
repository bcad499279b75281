/**
 * What the mock "model" says: text, JSON or a tool call, cut to a token budget. Shared by
 * chat completions and the Responses API, so both answer the same thing for the same input.
 */

import { Memo } from '../memo.js';
import { encodingFor } from '../tokens.js';
import type { Rng } from './prng.js';
import { generateFromSchema, generateJsonObject } from './schema.js';
import { paragraph } from './text.js';

export type OutputFormat = { kind: 'text' } | { kind: 'json_object' } | { kind: 'json_schema'; schema: unknown };

export interface ToolSpec {
  name: string;
  parameters: unknown;
}

/** One answer (a chat choice, or a Responses output item), already cut to the token budget. */
export interface Completion {
  /** The text said, or the tool call's arguments. */
  readonly text: string;
  /** `text` split at token boundaries, for streaming deltas; joined they are `text`. Built on first read. */
  readonly pieces: string[];
  /** Output tokens billed: exactly the tokens of `pieces`. */
  readonly tokens: number;
  readonly truncated: boolean;
  /** Set when the answer is a tool call. */
  readonly tool?: { name: string };
}

/** What to answer with: text or JSON in `format`, or (when `forced` is set) a tool call. */
export interface AnswerPlan {
  format: OutputFormat;
  tools: readonly ToolSpec[];
  /** undefined: answer with text; '': call any tool; a name: call that one. */
  forced: string | undefined;
}

/** A whole answer, before any token budget: what the model says when given all the room it wants. */
export interface Answer {
  readonly text: string;
  readonly tokens: readonly number[];
  readonly tool?: { name: string };
}

// Answers between 20 and 80 tokens: long enough to stream visibly, short enough to stay cheap.
const MIN_TOKENS = 20;
const MAX_TOKENS = 80;

/** The whole answer the generator `rng` draws for `plan`. */
export function answer(model: string, rng: Rng, plan: AnswerPlan): Answer {
  const enc = encodingFor(model);
  if (plan.forced !== undefined) {
    const tool = plan.tools.find((t) => t.name === plan.forced) ?? rng.pick(plan.tools);
    const args = JSON.stringify(generateFromSchema(tool.parameters ?? { type: 'object', properties: {} }, rng));
    return { text: args, tokens: enc.encode(args), tool: { name: tool.name } };
  }
  const { format } = plan;
  if (format.kind === 'text') return paragraph(rng, rng.int(MIN_TOKENS, MAX_TOKENS), enc.encode);
  const text = JSON.stringify(
    format.kind === 'json_schema' ? generateFromSchema(format.schema, rng) : generateJsonObject(rng),
  );
  return { text, tokens: enc.encode(text) };
}

// The answer is a pure function of (seed, model, input): a prompt that comes back (fixed
// prompts, retries, load tests) is answered from here, about 2 MiB of them.
const answers = new Memo<Answer>({ maxBytes: 2 << 20 });

/**
 * `answer` for the input `key` names (seed, model, operation and the canonical input: whatever
 * `makeRng` hashes), remembered once the same input comes back.
 */
export function answerFor(key: string, model: string, makeRng: () => Rng, plan: AnswerPlan): Answer {
  const cached = answers.get(key);
  if (cached !== undefined) return cached;
  const made = answer(model, makeRng(), plan);
  return answers.put(key, made, 2 * (key.length + made.text.length) + 8 * made.tokens.length + 64);
}

/** `whole` cut to `maxTokens` (on token boundaries, as the model stops); pieces are decoded when first read. */
export function cutAnswer(model: string, whole: Answer, maxTokens: number | undefined): Completion {
  const enc = encodingFor(model);
  const all = whole.tokens;
  const truncated = maxTokens !== undefined && all.length > maxTokens;
  const kept = truncated ? all.slice(0, maxTokens) : all;
  let pieces = truncated ? enc.pieces(kept) : undefined;
  return {
    // Whole, the text is what was generated; cut, it is what its kept tokens spell.
    text: pieces === undefined ? whole.text : pieces.join(''),
    get pieces() {
      pieces ??= enc.pieces(kept);
      return pieces;
    },
    tokens: kept.length,
    truncated,
    ...(whole.tool === undefined ? {} : { tool: whole.tool }),
  };
}
