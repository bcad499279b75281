import { cassetteMiss } from '../errors.js';
import {
  CassetteStore,
  credentialTag,
  deserialize,
  type Recording,
  type RequestKey,
  repeatable,
  requestKey,
} from '../recording/index.js';
import type { Exchange } from './exchange.js';
import { headerValue } from './media.js';
import type { Request } from './read.js';

/** Where the provider's answer is kept as well: a recording (RECORD), or the response cache (a miss). */
export interface Keep {
  to: 'cassette' | 'cache';
  key: RequestKey;
  /** The cache entry's key: the request's hash, and the worker's credential tag under FORWARD_CLIENT_AUTH. */
  cacheKey: string;
}

/** What a call found stored before anyone answers it, and where its answer is to be kept. */
export interface Recall {
  /** A recording (REPLAY) or a fresh cache entry (REAL, HYBRID). */
  found: Recording | undefined;
  keep: Keep | undefined;
  key: RequestKey | undefined;
}

const NOTHING: Recall = { found: undefined, keep: undefined, key: undefined };

/** The request's key; undefined for a streamed body (an upload), which has no JSON to key by. */
function keyOf(x: Exchange, req: Request): RequestKey | undefined {
  if (req.streamed) return undefined;
  return requestKey({
    provider: x.adapter.name,
    method: x.call.method,
    path: x.rest,
    search: x.search,
    json: req.json,
    volatile: x.cfg.cassettes.volatileFields,
  });
}

/** The worker's own credential, when it is what goes upstream (FORWARD_CLIENT_AUTH). */
const clientCredential = (x: Exchange): string =>
  headerValue(x.incoming.headers.authorization) ??
  headerValue(x.incoming.headers['x-api-key']) ??
  headerValue(x.incoming.headers['api-key']) ??
  '';

/** Whether the cache may answer this call: it is on, the call is metered JSON, and it asks for a repeatable answer. */
function cacheable(x: Exchange, req: Request): boolean {
  const { cfg } = x;
  if (cfg.responseCache.ttlMs === 0 || x.deps.cache === undefined) return false;
  if (req.mode !== 'real' && req.mode !== 'hybrid') return false;
  if (!x.route.metered || req.json === undefined) return false;
  return cfg.responseCache.cacheSampled || repeatable(req.json);
}

async function fromCache(x: Exchange, req: Request): Promise<Recall> {
  const key = keyOf(x, req) as RequestKey;
  const cacheKey = x.cfg.forwardClientAuth ? `${key.hash}:${credentialTag(clientCredential(x))}` : key.hash;
  const text = await x.deps.cache?.get(cacheKey);
  let found: Recording | undefined;
  try {
    found = text === undefined ? undefined : deserialize(text);
  } catch {
    found = undefined;
  }
  x.call.cache = found === undefined ? 'miss' : 'hit';
  return { found, keep: found === undefined ? { to: 'cache', key, cacheKey } : undefined, key };
}

/**
 * Stage 3a, before deciding who answers: the stored answer for this request, if the mode has one —
 * the recording in REPLAY, a cache entry in REAL and HYBRID with the cache on — and where the
 * provider's answer is to be kept. Mock and REAL without the cache return at once: no key is made.
 */
export async function recall(x: Exchange, req: Request): Promise<Recall> {
  const { mode } = req;
  if (mode === 'replay') {
    const key = keyOf(x, req);
    const found = key === undefined ? undefined : await new CassetteStore(x.cfg.cassettes.dir).read(key.file);
    return { found, keep: undefined, key };
  }
  if (mode === 'record') {
    const key = keyOf(x, req);
    return { found: undefined, keep: key && { to: 'cassette', key, cacheKey: key.hash }, key };
  }
  return cacheable(x, req) ? fromCache(x, req) : NOTHING;
}

/** REPLAY_MISS=error: the 404 for a request no recording answers. */
export const missError = (x: Exchange, r: Recall) =>
  cassetteMiss(x.call.method, x.call.path, r.key?.file, x.cfg.cassettes.dir);
