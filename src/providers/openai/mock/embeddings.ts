/**
 * POST /v1/embeddings: deterministic unit vectors seeded by the input text, float or
 * base64 (little-endian float32, what the official SDKs ask for by default).
 */
import { invalidRequest } from '../../../errors.js';
import type { MockCall, ProviderReply } from '../../types.js';
import { Memo } from '../memo.js';
import { encodingFor } from '../tokens.js';
import { digest } from './prng.js';
import { type MockContext, rawJsonReply } from './reply.js';
import { missing, optionalInt, optionalString, requireBody, requireModel, wrongType } from './validate.js';

const MAX_INPUTS = 2048;
const MAX_INPUT_TOKENS = 8192;
const MAX_REQUEST_TOKENS = 300_000;

/** Native vector size; unknown models get ada-002's 1536. */
export function nativeDimensions(model: string): number {
  return model.startsWith('text-embedding-3-large') ? 3072 : 1536;
}

/** Only the third-generation models can shorten their vectors. */
function supportsDimensions(model: string): boolean {
  return model.startsWith('text-embedding-3');
}

function invalidInput(): Error {
  return invalidRequest(
    "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
    'input',
  );
}

function isTokenArray(v: unknown): v is number[] {
  return Array.isArray(v) && v.length > 0 && v.every((t) => typeof t === 'number' && Number.isInteger(t) && t >= 0);
}

/** One input as text (token ids are decoded, so ids and their text embed alike) and its token count. */
interface Item {
  text: string;
  tokens: number;
}

function readInputs(model: string, input: unknown): Item[] {
  const enc = encodingFor(model);
  const fromText = (text: string): Item => {
    if (text === '') throw invalidInput();
    return { text, tokens: enc.count(text) };
  };
  const fromTokens = (ids: number[]): Item => {
    let text: string;
    try {
      text = enc.decode(ids);
    } catch {
      // Ids outside the vocabulary: still a stable key, as the real API would still embed them.
      text = `\u0000tokens:${ids.join(',')}`;
    }
    return { text, tokens: ids.length };
  };

  if (input === undefined || input === null) throw missing('input');
  if (typeof input === 'string') return [fromText(input)];
  if (!Array.isArray(input)) throw wrongType('input', 'a string or array', input);
  if (input.length === 0) throw invalidInput();
  if (input.length > MAX_INPUTS) {
    throw invalidRequest(
      `Invalid 'input': array too long. Expected an array with maximum length ${MAX_INPUTS}, but got an array with length ${input.length} instead.`,
      'input',
    );
  }
  if (input.every((v) => typeof v === 'string')) return input.map((v: string) => fromText(v));
  if (isTokenArray(input)) return [fromTokens(input)];
  if (input.every(isTokenArray)) return input.map((ids: number[]) => fromTokens(ids));
  throw invalidInput();
}

// One vector's draws and its float32 values, reused by every call (3072 is the largest native
// size): a vector is serialised as soon as it is made, and a fresh 6-12 KB buffer per call would
// churn the allocator outside V8's heap, which grows resident memory.
const draws = new Float64Array(3072);
const vectorOut = new Float32Array(3072);
const vectorBytes = Buffer.from(vectorOut.buffer, vectorOut.byteOffset, vectorOut.byteLength);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * A unit vector in `dims` dimensions; a shortened vector is the renormalised prefix of the full
 * one, as with OpenAI. The same draws as `rngFrom(...).gaussian()` per dimension, with the
 * generator inlined: this loop is most of an embeddings call. The result is a view of
 * `vectorOut`, valid until the next call.
 */
function embed(seed: number, model: string, text: string, dims: number): Float32Array {
  let state = digest(seed, 'embedding', model, text).readUInt32LE(0);
  let sumSquares = 0;
  for (let i = 0; i < dims; i++) {
    // mulberry32, twice: u in (0, 1] so the log is finite, v in [0, 1).
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = 1 - ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    state = (state + 0x6d2b79f5) >>> 0;
    t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const v = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    const g = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    draws[i] = g;
    sumSquares += g * g;
  }
  const scale = 1 / Math.sqrt(sumSquares);
  for (let i = 0; i < dims; i++) vectorOut[i] = (draws[i] as number) * scale;
  return vectorOut.subarray(0, dims);
}

/** Little-endian float32 bytes of `embed`'s latest vector, whatever the host's byte order. */
function toBase64(vector: Float32Array): string {
  const bytes = vectorBytes.subarray(0, vector.length * 4);
  if (!LITTLE_ENDIAN) for (let i = 0; i < vector.length; i++) bytes.writeFloatLE(vector[i] ?? 0, i * 4);
  return bytes.toString('base64');
}

/**
 * Vectors are pure functions of (seed, model, dims, text), and workers embed the same texts
 * again (retries, re-indexing, shared chunks): the JSON text of those that come back is kept,
 * about 4 MiB.
 */
const vectorJson = new Memo<string>({ maxBytes: 4 << 20 });

/** The JSON text of one `embedding` value, as JSON.stringify writes it. */
function embeddingJson(seed: number, model: string, text: string, dims: number, format: 'float' | 'base64'): string {
  const key = `${format}\0${seed}\0${dims}\0${model}\0${text}`;
  const cached = vectorJson.get(key);
  if (cached !== undefined) return cached;
  const vector = embed(seed, model, text, dims);
  const json = format === 'base64' ? `"${toBase64(vector)}"` : JSON.stringify(Array.from(vector));
  return vectorJson.put(key, json, key.length + json.length);
}

export function embeddings(call: MockCall, ctx: MockContext): ProviderReply {
  const body = requireBody(call.json);
  const model = requireModel(body);
  const items = readInputs(model, body.input);

  const format = optionalString(body, 'encoding_format') ?? 'float';
  if (format !== 'float' && format !== 'base64') {
    throw invalidRequest(`Invalid value: '${format}'. Supported values are: 'float' and 'base64'.`, 'encoding_format');
  }
  const native = nativeDimensions(model);
  const requested = optionalInt(body, 'dimensions', Number.MIN_SAFE_INTEGER);
  if (requested !== undefined && !supportsDimensions(model)) {
    throw invalidRequest('This model does not support specifying dimensions.', 'dimensions');
  }
  if (requested !== undefined && (requested < 1 || requested > native)) {
    throw invalidRequest(
      `Invalid value for 'dimensions' = ${requested}. Must be between 1 and ${native}.`,
      'dimensions',
    );
  }
  const dims = requested ?? native;

  let total = 0;
  for (const item of items) {
    if (item.tokens > MAX_INPUT_TOKENS) {
      throw invalidRequest(
        `This model's maximum context length is ${MAX_INPUT_TOKENS} tokens, however you requested ${item.tokens} tokens (${item.tokens} in your prompt; 0 for the completion). Please reduce your prompt; or completion length.`,
        'input',
      );
    }
    total += item.tokens;
  }
  if (total > MAX_REQUEST_TOKENS) {
    throw invalidRequest(`Requested ${total} tokens, max ${MAX_REQUEST_TOKENS} tokens per request`, 'input');
  }

  // The body is JSON.stringify's text for { object, data, model, usage }, assembled around the
  // cached vectors so they are not serialised again.
  let json = '{"object":"list","data":[';
  for (let index = 0; index < items.length; index++) {
    const item = items[index] as Item;
    if (index > 0) json += ',';
    json += `{"object":"embedding","index":${index},"embedding":${embeddingJson(ctx.seed, model, item.text, dims, format)}}`;
  }
  json += `],"model":${JSON.stringify(model)},"usage":{"prompt_tokens":${total},"total_tokens":${total}}}`;
  return rawJsonReply(200, json, ctx.startedAt, ctx.now);
}
