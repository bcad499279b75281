import { isObject } from '../../json.js';
import type { ProviderAdapter, RouteSpec, Sizing, Usage } from '../adapter.js';
import { createOpenAIMock } from './mock/index.js';
import { countChatTokens, countTextTokens, warmEncodings } from './tokens.js';
import { usageFromJson, usageFromSse } from './usage.js';

export const openaiRoutes: RouteSpec[] = [
  { operation: 'chat', method: 'POST', pattern: '/chat/completions', body: 'json', metered: true },
  { operation: 'embeddings', method: 'POST', pattern: '/embeddings', body: 'json', metered: true },
  { operation: 'responses', method: 'POST', pattern: '/responses', body: 'json', metered: true },
  { operation: 'models', method: 'GET', pattern: '/models', body: 'none', metered: false },
  { operation: 'model', method: 'GET', pattern: '/models/:model', body: 'none', metered: false },
];

const GEN_AI_OPERATION: Record<string, string> = {
  chat: 'chat',
  embeddings: 'embeddings',
  responses: 'chat',
  models: 'models',
  model: 'models',
};

const positiveInt = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined;

/** Tokens of whatever an input field holds: a string, content parts, messages, or token ids. */
function inputTokens(model: string, input: unknown): number {
  if (typeof input === 'string') return countTextTokens(model, input);
  if (Array.isArray(input)) {
    if (input.every((x) => typeof x === 'number')) return input.length;
    let n = 0;
    for (const item of input) {
      if (typeof item === 'string' || Array.isArray(item)) n += inputTokens(model, item);
      else if (isObject(item)) n += countChatTokens(model, [item]);
    }
    return n;
  }
  return 0;
}

/** Tokens OpenAI bills for an image part whatever its bytes (the cheapest image; see tokens.ts). */
const IMAGE_TOKENS = 85;
/** Framing the tokenizer count adds outside the strings of a body: reply priming and per-message framing. */
const REPLY_PRIMING = 3;
const PER_OBJECT = 6;

/** Occurrences of `needle` in `raw` (memchr-fast in Buffer.indexOf). */
function occurrences(raw: Buffer, needle: string): number {
  let n = 0;
  for (let i = raw.indexOf(needle); i !== -1; i = raw.indexOf(needle, i + needle.length)) n++;
  return n;
}

/**
 * An upper bound of the prompt tokens from the raw JSON body, without running the tokenizer. Every
 * string the count reads is inside the body, and a byte-level BPE token covers at least one byte, so
 * the body's length bounds their tokens; every object may add framing (at most priming + message
 * framing, 6) and every image part its fixed cost, so those are added per `{` and per image marker.
 */
const promptBound = (raw: Buffer): number =>
  raw.length +
  REPLY_PRIMING +
  PER_OBJECT * occurrences(raw, '{') +
  IMAGE_TOKENS * (occurrences(raw, 'image_url') + occurrences(raw, 'input_image'));

/** The field that sizes a request's output, what it says (or the configured reservation) and the multiplier. */
function outputSizing(
  operation: string,
  json: Record<string, unknown>,
  reserveOutputTokens: number,
): Sizing | undefined {
  const sized = (param: string, value: number | undefined, perUnit: number): Sizing => ({
    param,
    value: value ?? reserveOutputTokens,
    perUnit,
    given: value !== undefined,
    of: 'outputTokens',
    defaultVar: 'RESERVE_OUTPUT_TOKENS',
  });
  if (operation === 'chat') {
    const n = positiveInt(json.n) ?? 1;
    const completion = positiveInt(json.max_completion_tokens);
    if (completion !== undefined) return sized('max_completion_tokens', completion, n);
    return sized('max_tokens', positiveInt(json.max_tokens), n);
  }
  if (operation === 'responses') return sized('max_output_tokens', positiveInt(json.max_output_tokens), 1);
  return undefined;
}

/** The output allowance a request asks for (max_tokens or the configured reservation), times its choices. */
function outputAllowance(operation: string, json: Record<string, unknown>, reserveOutputTokens: number) {
  const sizing = outputSizing(operation, json, reserveOutputTokens);
  return { outputTokens: sizing === undefined ? 0 : sizing.value * sizing.perUnit, sizing };
}

/**
 * OpenAI: chat completions, embeddings, responses and models are known and metered; every
 * other `/openai/v1/*` path passes through to the configured upstream.
 */
export const openai: ProviderAdapter = {
  name: 'openai',
  prefix: '/openai/v1',
  errorShape: 'openai',
  uploads: false,
  passthrough: '/*',
  routes: openaiRoutes,
  mockPath: (rest) => `/v1${rest}`,
  authHeaders: (key) => ({ authorization: `Bearer ${key}` }),
  createMock: (settings, options) => createOpenAIMock(settings, options.now),
  genAiOperation: (operation) => GEN_AI_OPERATION[operation] ?? operation,
  requestModel(_operation, json) {
    return isObject(json) && typeof json.model === 'string' ? json.model : undefined;
  },
  prepareJson(operation, json) {
    // To meter a chat stream OpenAI must send usage; ask for it, and strip it again if the worker did not.
    if (operation !== 'chat' || !isObject(json) || json.stream !== true) return undefined;
    const options = isObject(json.stream_options) ? json.stream_options : undefined;
    if (options?.include_usage === true) return undefined;
    return { body: { ...json, stream_options: { ...options, include_usage: true } }, stripUsage: true };
  },
  worstCase(operation, json, reserveOutputTokens) {
    if (!isObject(json) || typeof json.model !== 'string') return undefined;
    const model = json.model;
    const { outputTokens, sizing } = outputAllowance(operation, json, reserveOutputTokens);
    if (operation === 'chat') {
      const messages = Array.isArray(json.messages) ? json.messages : [];
      const tools = json.tools === undefined ? 0 : countTextTokens(model, JSON.stringify(json.tools));
      return { inputTokens: countChatTokens(model, messages) + tools, outputTokens, pages: 0, model, sizing };
    }
    if (operation === 'embeddings')
      return { inputTokens: inputTokens(model, json.input), outputTokens, pages: 0, model };
    if (operation === 'responses') {
      const instructions = typeof json.instructions === 'string' ? countTextTokens(model, json.instructions) : 0;
      return { inputTokens: inputTokens(model, json.input) + instructions, outputTokens, pages: 0, model, sizing };
    }
    return undefined;
  },
  worstCaseBound(operation, json, raw, reserveOutputTokens) {
    if (!isObject(json) || typeof json.model !== 'string') return undefined;
    if (operation !== 'chat' && operation !== 'embeddings' && operation !== 'responses') return undefined;
    const { outputTokens, sizing } = outputAllowance(operation, json, reserveOutputTokens);
    return { inputTokens: promptBound(raw), outputTokens, pages: 0, model: json.model, sizing };
  },
  countTokens: (model, text) => countTextTokens(model ?? 'gpt-4o', text),
  async warm(models) {
    await warmEncodings(models);
  },
  usageFromJson: (operation, body): Usage | undefined => usageFromJson(operation, body),
  usageFromSse,
};
