import { createHash } from 'node:crypto';

/**
 * A request as a recording (or a cached answer) is keyed: what makes two requests the same answer.
 * The JSON body has its keys sorted and its volatile fields (`user`, `metadata`, `stream_options`,
 * plus any CONFIG_FILE lists) left out, so a worker that tags calls differently still replays.
 */
export interface CanonicalRequest {
  provider: string;
  method: string;
  /** The path below the provider's prefix, e.g. `/chat/completions`. */
  path: string;
  /** Query parameters, sorted by name then value. */
  query: [string, string][];
  /** The JSON body, keys sorted, volatile fields left out; null when there is none. */
  body: unknown;
  /** A streamed body (an upload) stands in by its content hash and form fields (LlamaParse). */
  upload?: { sha256: string; fields: [string, string][] };
}

export interface RequestKey {
  request: CanonicalRequest;
  /** Hex sha256 of the canonical request: the recording's identity. */
  hash: string;
  /** The file a recording of this request lives in: provider, path and hash, e.g. `openai_chat-completions_3f2a….json`. */
  file: string;
}

/** A JSON value with object keys sorted at every depth (arrays keep their order). */
export function sortedJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedJson);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value).sort()) out[k] = sortedJson((value as Record<string, unknown>)[k]);
  return out;
}

const withoutVolatile = (json: Record<string, unknown>, volatile: readonly string[]): Record<string, unknown> => {
  const out: Record<string, unknown> = {};
  for (const k in json) if (!volatile.includes(k)) out[k] = json[k];
  return out;
};

const slug = (path: string) =>
  path
    .replace(/^\/+|\/+$/g, '')
    .replace(/[^A-Za-z0-9]+/g, '-')
    .slice(0, 60) || 'root';

export interface KeyInput {
  provider: string;
  method: string;
  path: string;
  /** The query string, '?' included, or ''. */
  search: string;
  json: Record<string, unknown> | undefined;
  volatile: readonly string[];
  upload?: CanonicalRequest['upload'];
}

/**
 * The canonical form of a request and its hash.
 * @example requestKey({ provider: 'openai', method: 'POST', path: '/embeddings', search: '', json, volatile: ['user'] }).file
 * // 'openai_embeddings_5c1d….json'
 */
export function requestKey(input: KeyInput): RequestKey {
  const query = [...new URLSearchParams(input.search)].sort((a, b) =>
    a[0] === b[0] ? (a[1] < b[1] ? -1 : 1) : a[0] < b[0] ? -1 : 1,
  );
  const request: CanonicalRequest = {
    provider: input.provider,
    method: input.method.toUpperCase(),
    path: input.path,
    query,
    body: input.json === undefined ? null : sortedJson(withoutVolatile(input.json, input.volatile)),
  };
  if (input.upload !== undefined) request.upload = input.upload;
  const hash = createHash('sha256').update(JSON.stringify(request)).digest('hex');
  return { request, hash, file: `${input.provider}_${slug(input.path)}_${hash.slice(0, 24)}.json` };
}

/**
 * Whether the same request can be answered the same way again: a sampling temperature above 0
 * without a `seed` asks for a different answer each time, so it is not served from the cache.
 */
export function repeatable(json: Record<string, unknown> | undefined): boolean {
  if (json === undefined) return true;
  const t = json.temperature;
  return !(typeof t === 'number' && t > 0 && json.seed === undefined);
}

/** A short, one-way tag of a worker's own credential, so cached answers are never shared between keys. */
export const credentialTag = (credential: string): string =>
  createHash('sha256').update(credential).digest('hex').slice(0, 16);
