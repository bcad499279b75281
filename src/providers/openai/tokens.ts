/**
 * Token counting for OpenAI models with a real BPE tokenizer (gpt-tokenizer).
 *
 * Metering, admission and the mock all count through here, so it has to be cheap, and it must
 * not cost memory a sidecar never uses: each encoding (o200k_base about 35 MB resident,
 * cl100k_base about 15 MB) is loaded at start by `warmEncodings` for the models the price table
 * names (0.1-0.4 s each, before /readyz turns 200), not at import, and any other one synchronously
 * on its first use. Picking one per model is a cached string test, and counts of strings that come
 * back (a worker's fixed system prompt) are remembered in a small bounded memo.
 *
 * @example
 * import { countTextTokens, countChatTokens } from './tokens.js';
 * countTextTokens('gpt-4o-mini', 'Hello world');                  // 2
 * countChatTokens('gpt-4o-mini', [{ role: 'user', content: 'Hi' }]); // 8
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Memo } from './memo.js';

export type EncodingName = 'o200k_base' | 'cl100k_base';

/** One tokenizer; its vocabulary is loaded on the first call that needs it. */
export interface TokenEncoding {
  readonly name: EncodingName;
  encode(text: string): number[];
  decode(tokens: readonly number[]): string;
  /** Pieces of text, one per token (a piece may span tokens when a character does). */
  pieces(tokens: readonly number[]): string[];
  count(text: string): number;
  /** Loads the vocabulary now (and runs one count, so the first real one finds everything built). */
  load(): void;
}

/** The part of gpt-tokenizer's per-encoding API used here. */
interface EncodingApi {
  encode(text: string, options: typeof PLAIN_TEXT): number[];
  decode(tokens: Iterable<number>): string;
  decodeGenerator(tokens: Iterable<number>): Generator<string, void, void>;
  countTokens(text: string, options: typeof PLAIN_TEXT): number;
  setMergeCacheSize(size: number): void;
}

// User text may contain '<|endoftext|>' and friends; OpenAI counts those as plain text
// (tiktoken's disallowed_special=()), and a metering path must never throw on them.
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

// ESM imports are eager, so the tokenizer is loaded through require, synchronously, on first use.
const requireCjs = createRequire(import.meta.url);

type Vocabulary = (string | number[])[];

/**
 * gpt-tokenizer's vocabulary for `name`, built from the `.tiktoken` file the package ships rather
 * than by loading its generated module: compiling that 2 MB array literal leaves V8 and the
 * allocator holding about 15 MB more (o200k) than building the same array from the data.
 * Exactly the package's `bpeRanks` array: per rank, the token's text when its bytes are UTF-8
 * that encodes back to as many bytes (a leading BOM does not), else its bytes.
 */
export function loadVocabulary(name: EncodingName): Vocabulary {
  const data = readFileSync(requireCjs.resolve(`gpt-tokenizer/data/${name}.tiktoken`));
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const ranks: Vocabulary = [];
  let bytes = new Uint8Array(256);
  // Lines are `<base64 bytes> <rank>\n`, in rank order.
  for (let start = 0; start < data.length; ) {
    let end = data.indexOf(10, start);
    if (end < 0) end = data.length;
    const space = data.indexOf(32, start);
    if (space > start && space < end) {
      if (bytes.length < space - start) bytes = new Uint8Array(2 * (space - start));
      const token = bytes.subarray(0, decodeBase64(data, start, space, bytes));
      let rank = 0;
      for (let i = space + 1; i < end; i++) rank = rank * 10 + ((data[i] as number) - 48);
      let text: string | undefined;
      try {
        text = utf8.decode(token);
      } catch {
        text = undefined;
      }
      ranks[rank] = text !== undefined && Buffer.byteLength(text) === token.length ? text : Array.from(token);
    }
    start = end + 1;
  }
  return ranks;
}

const BASE64 = new Uint8Array(128);
for (let i = 0; i < 64; i++) {
  BASE64['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.charCodeAt(i)] = i;
}

/** Decodes the base64 text in `src[from, to)` into `out`; returns the byte count. */
function decodeBase64(src: Uint8Array, from: number, to: number, out: Uint8Array): number {
  let end = to;
  while (end > from && src[end - 1] === 61) end--; // '=' padding
  let n = 0;
  let bits = 0;
  let value = 0;
  for (let i = from; i < end; i++) {
    value = (value << 6) | (BASE64[src[i] as number] as number);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (value >> bits) & 0xff;
    }
  }
  return n;
}

interface GptEncodingClass {
  getEncodingApi(name: EncodingName, ranks: () => Vocabulary): EncodingApi;
}

// gpt-tokenizer remembers the merges of up to 100,000 distinct rare words per encoding, about
// 12 MB each once varied traffic fills it; 20,000 keeps the common ones for a fifth of that.
const MERGE_CACHE_SIZE = 20_000;

// Counts of strings that come back (seen three times: admission and the mock count each prompt
// once per call, so a string of a single call is never kept) are remembered, about 2 MiB per
// encoding. Strings over 16 Ki characters are always counted.
const COUNT_CACHE_MAX_CHARS = 16_384;

function makeEncoding(name: EncodingName): TokenEncoding {
  let api: EncodingApi | undefined;
  const lib = (): EncodingApi => {
    if (api === undefined) {
      const { GptEncoding } = requireCjs('gpt-tokenizer/cjs/GptEncoding') as { GptEncoding: GptEncodingClass };
      const vocabulary = loadVocabulary(name);
      api = GptEncoding.getEncodingApi(name, () => vocabulary);
      loaded.add(name);
      api.setMergeCacheSize(MERGE_CACHE_SIZE);
    }
    return api;
  };
  const counts = new Memo<number>({ maxBytes: 2 << 20, admitAfter: 3 });
  return {
    name,
    encode: (text) => lib().encode(text, PLAIN_TEXT),
    decode: (tokens) => lib().decode(tokens),
    pieces: (tokens) => [...lib().decodeGenerator(tokens)],
    count(text) {
      if (text.length === 0) return 0;
      if (text.length > COUNT_CACHE_MAX_CHARS) return lib().countTokens(text, PLAIN_TEXT);
      return counts.get(text) ?? counts.put(text, lib().countTokens(text, PLAIN_TEXT), 2 * text.length + 64);
    },
    load() {
      lib().countTokens('warm up: 1 2 3 héllo <|endoftext|>', PLAIN_TEXT);
    },
  };
}

const loaded = new Set<EncodingName>();
const O200K = makeEncoding('o200k_base');
const CL100K = makeEncoding('cl100k_base');

/** The encodings loaded so far (each is loaded by the first call that needs it). */
export function loadedEncodings(): EncodingName[] {
  return [...loaded];
}

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

/**
 * Loads the encodings `models` use, and only those (idle memory stays what the configured models
 * need), one per turn of the event loop so timers and sockets are served between two loads.
 * Resolves with the names it loaded (those already loaded are skipped).
 *
 * @example
 * await warmEncodings(['gpt-4o-mini', 'text-embedding-3-small']); // ['o200k_base', 'cl100k_base']
 */
export async function warmEncodings(models: Iterable<string>): Promise<EncodingName[]> {
  const wanted = new Set<TokenEncoding>();
  for (const model of models) wanted.add(encodingFor(model));
  const done: EncodingName[] = [];
  for (const enc of wanted) {
    if (loaded.has(enc.name)) continue;
    await nextTurn();
    enc.load();
    done.push(enc.name);
  }
  return done;
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
