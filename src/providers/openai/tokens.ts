/**
 * Token counting for OpenAI models with a real BPE tokenizer (gpt-tokenizer).
 *
 * Metering, admission and the mock all count through here, so it has to be cheap:
 * both encoders are loaded once at import (about 0.4 s together) and picking one per
 * model is a cached string test, never a dynamic import on the request path.
 *
 * @example
 * import { countTextTokens, countChatTokens } from './tokens.js';
 * countTextTokens('gpt-4o-mini', 'Hello world');                  // 2
 * countChatTokens('gpt-4o-mini', [{ role: 'user', content: 'Hi' }]); // 8
 */
import * as cl100k from 'gpt-tokenizer/encoding/cl100k_base';
import * as o200k from 'gpt-tokenizer/encoding/o200k_base';

export type EncodingName = 'o200k_base' | 'cl100k_base';

/** One tokenizer, already loaded. */
export interface TokenEncoding {
  readonly name: EncodingName;
  encode(text: string): number[];
  decode(tokens: readonly number[]): string;
  /** Pieces of text, one per token (a piece may span tokens when a character does). */
  pieces(tokens: readonly number[]): string[];
  count(text: string): number;
}

// User text may contain '<|endoftext|>' and friends; OpenAI counts those as plain text
// (tiktoken's disallowed_special=()), and a metering path must never throw on them.
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

function makeEncoding(name: EncodingName, lib: typeof o200k): TokenEncoding {
  return {
    name,
    encode: (text) => lib.encode(text, PLAIN_TEXT),
    decode: (tokens) => lib.decode(tokens),
    pieces: (tokens) => [...lib.decodeGenerator(tokens)],
    count: (text) => (text.length === 0 ? 0 : lib.countTokens(text, PLAIN_TEXT)),
  };
}

const O200K = makeEncoding('o200k_base', o200k);
const CL100K = makeEncoding('cl100k_base', cl100k as typeof o200k);

// Older families use cl100k; everything newer (gpt-4o, 4.1, 4.5, 5, o-series, gpt-oss)
// and anything unknown uses o200k, since new models have shipped on o200k since 2024.
const CL100K_PREFIXES = [
  'gpt-4-',
  'gpt-3.5',
  'gpt-35',
  'text-embedding-',
  'ada',
  'babbage',
  'curie',
  'davinci',
  'text-davinci',
];
const O200K_PREFIXES = ['gpt-4o', 'gpt-4.1', 'gpt-4.5', 'chatgpt-4o'];

const encodingCache = new Map<string, TokenEncoding>();

function pickEncoding(model: string): TokenEncoding {
  // Fine-tunes are named 'ft:gpt-4o-mini-2024-07-18:org::id'; price and tokenize as the base.
  const base = (model.startsWith('ft:') ? (model.split(':')[1] ?? '') : model).toLowerCase();
  if (O200K_PREFIXES.some((p) => base.startsWith(p))) return O200K;
  if (base === 'gpt-4' || CL100K_PREFIXES.some((p) => base.startsWith(p))) return CL100K;
  return O200K;
}

/** The tokenizer OpenAI uses for `model` (o200k_base for unknown models). */
export function encodingFor(model: string): TokenEncoding {
  let enc = encodingCache.get(model);
  if (enc === undefined) {
    enc = pickEncoding(model);
    // Model names come from requests; cap the cache so a flood of made-up names cannot grow it.
    if (encodingCache.size < 1000) encodingCache.set(model, enc);
  }
  return enc;
}

/** Tokens of a plain string. */
export function countTextTokens(model: string, text: string): number {
  return encodingFor(model).count(text);
}

/** Cut `text` to at most `max` tokens (on token boundaries, as the model would have stopped). */
export function truncateToTokens(model: string, text: string, max: number): string {
  const enc = encodingFor(model);
  const tokens = enc.encode(text);
  if (tokens.length <= max) return text;
  return enc.decode(tokens.slice(0, Math.max(0, max)));
}

// OpenAI's cookbook accounting for chat models: every message costs 3 tokens of framing,
// a name 1 more, and the reply is primed with 3 tokens.
const TOKENS_PER_MESSAGE = 3;
const TOKENS_PER_NAME = 1;
const REPLY_PRIMING = 3;
// An image's cost depends on its pixel size, which we do not fetch; 85 is the fixed
// low-detail cost, the floor of what OpenAI bills for any image.
const IMAGE_TOKENS = 85;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Tokens of a message's `content`: a string, or chat/responses content parts. */
export function countContentTokens(enc: TokenEncoding, content: unknown): number {
  if (typeof content === 'string') return enc.count(content);
  if (!Array.isArray(content)) return 0;
  let total = 0;
  for (const part of content) {
    if (typeof part === 'string') {
      total += enc.count(part);
      continue;
    }
    if (!isRecord(part)) continue;
    if (typeof part.text === 'string') total += enc.count(part.text);
    else if (typeof part.refusal === 'string') total += enc.count(part.refusal);
    else if (part.type === 'image_url' || part.type === 'input_image') total += IMAGE_TOKENS;
    // Audio and files are billed by rules we cannot see from here; they count as zero.
  }
  return total;
}

function countMessage(enc: TokenEncoding, message: unknown): number {
  if (!isRecord(message)) return 0;
  let total = TOKENS_PER_MESSAGE;
  if (typeof message.role === 'string') total += enc.count(message.role);
  total += countContentTokens(enc, message.content);
  if (typeof message.name === 'string') total += TOKENS_PER_NAME + enc.count(message.name);
  if (typeof message.tool_call_id === 'string') total += enc.count(message.tool_call_id);
  if (Array.isArray(message.tool_calls)) {
    for (const call of message.tool_calls) {
      if (!isRecord(call) || !isRecord(call.function)) continue;
      const fn = call.function;
      if (typeof fn.name === 'string') total += enc.count(fn.name);
      if (typeof fn.arguments === 'string') total += enc.count(fn.arguments);
    }
  }
  if (isRecord(message.function_call)) {
    const fn = message.function_call;
    if (typeof fn.name === 'string') total += enc.count(fn.name);
    if (typeof fn.arguments === 'string') total += enc.count(fn.arguments);
  }
  // Responses API items that are not messages (function_call, function_call_output, ...).
  if (typeof message.arguments === 'string') total += enc.count(message.arguments);
  if (typeof message.output === 'string') total += enc.count(message.output);
  return total;
}

/**
 * Prompt tokens of a chat `messages` array (or Responses input items), the way OpenAI
 * bills them. Tolerant of anything a worker may send: content-part arrays, tool
 * messages, names, assistant tool calls; what it cannot read counts as zero.
 */
export function countChatTokens(model: string, messages: unknown[]): number {
  const enc = encodingFor(model);
  let total = REPLY_PRIMING;
  for (const message of messages) total += countMessage(enc, message);
  return total;
}
