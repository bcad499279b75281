/**
 * What the mock "model" says: text, JSON or a tool call, cut to a token budget. Shared by
 * chat completions and the Responses API, so both answer the same thing for the same input.
 */
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
  text: string;
  /** `text` split at token boundaries, for streaming deltas; joined they are `text`. */
  pieces: string[];
  /** Output tokens billed: exactly the tokens of `pieces`. */
  tokens: number;
  truncated: boolean;
  /** Set when the answer is a tool call. */
  tool?: { name: string };
}

// Answers between 20 and 80 tokens: long enough to stream visibly, short enough to stay cheap.
const MIN_TOKENS = 20;
const MAX_TOKENS = 80;

function cut(model: string, text: string, maxTokens: number | undefined): Omit<Completion, 'tool'> {
  const enc = encodingFor(model);
  const all = enc.encode(text);
  const truncated = maxTokens !== undefined && all.length > maxTokens;
  const kept = truncated ? all.slice(0, maxTokens) : all;
  const pieces = enc.pieces(kept);
  return { text: pieces.join(''), pieces, tokens: kept.length, truncated };
}

/** A text or JSON answer. */
export function completeText(model: string, rng: Rng, format: OutputFormat, maxTokens: number | undefined): Completion {
  let text: string;
  if (format.kind === 'json_schema') text = JSON.stringify(generateFromSchema(format.schema, rng));
  else if (format.kind === 'json_object') text = JSON.stringify(generateJsonObject(rng));
  else {
    const enc = encodingFor(model);
    text = paragraph(rng, rng.int(MIN_TOKENS, MAX_TOKENS), enc.count);
  }
  return cut(model, text, maxTokens);
}

/** A call to one of `tools`: the named one, else one picked by the generator. */
export function completeToolCall(
  model: string,
  rng: Rng,
  tools: readonly ToolSpec[],
  forced: string | undefined,
  maxTokens: number | undefined,
): Completion {
  const tool = tools.find((t) => t.name === forced) ?? rng.pick(tools);
  const args = JSON.stringify(generateFromSchema(tool.parameters ?? { type: 'object', properties: {} }, rng));
  return { ...cut(model, args, maxTokens), tool: { name: tool.name } };
}
