/**
 * POST /v1/embeddings: deterministic unit vectors seeded by the input text, float or
 * base64 (little-endian float32, what the official SDKs ask for by default).
 */
import { invalidRequest } from '../../../errors.js';
import type { MockCall, ProviderReply } from '../../types.js';
import { encodingFor } from '../tokens.js';
import { rngFrom } from './prng.js';
import { jsonReply, type MockContext } from './reply.js';
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

/** A unit vector in `dims` dimensions; a shortened vector is the renormalised prefix of the full one, as with OpenAI. */
function embed(seed: number, model: string, text: string, dims: number): Float32Array {
  const rng = rngFrom(seed, 'embedding', model, text);
  const values = new Float64Array(dims);
  let sumSquares = 0;
  for (let i = 0; i < dims; i++) {
    const v = rng.gaussian();
    values[i] = v;
    sumSquares += v * v;
  }
  const scale = 1 / Math.sqrt(sumSquares);
  const out = new Float32Array(dims);
  for (let i = 0; i < dims; i++) out[i] = (values[i] ?? 0) * scale;
  return out;
}

/** Little-endian float32 bytes, whatever the host's byte order. */
function toBase64(vector: Float32Array): string {
  const bytes = Buffer.allocUnsafe(vector.length * 4);
  for (let i = 0; i < vector.length; i++) bytes.writeFloatLE(vector[i] ?? 0, i * 4);
  return bytes.toString('base64');
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

  const data = items.map((item, index) => {
    const vector = embed(ctx.seed, model, item.text, dims);
    return {
      object: 'embedding',
      index,
      embedding: format === 'base64' ? toBase64(vector) : Array.from(vector),
    };
  });
  return jsonReply(
    200,
    { object: 'list', data, model, usage: { prompt_tokens: total, total_tokens: total } },
    ctx.startedAt,
    ctx.now,
  );
}
