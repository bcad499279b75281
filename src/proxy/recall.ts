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

/**
 * Where the provider's answer is kept as well: a recording (RECORD), a follow-up of a recorded job
 * (RECORD, a LlamaParse poll or result), or the response cache (a miss).
 */
export type Keep =
  | { to: 'cassette'; key: RequestKey }
  | { to: 'job'; file: string; request: string }
  | { to: 'cache'; key: RequestKey; cacheKey: string };

/** What a call found stored before anyone answers it, and where its answer is to be kept. */
export interface Recall {
  /** A recording (REPLAY) or a fresh cache entry (REAL, HYBRID). */
  found: Recording | undefined;
  keep: Keep | undefined;
  /** The file a recording of this request lives in (named in a cassette_miss). */
  file: string | undefined;
}

const NOTHING: Recall = { found: undefined, keep: undefined, file: undefined };

/** The request's key; for an upload its content hash and form fields, when the adapter can read them. */
async function keyOf(x: Exchange, req: Request): Promise<RequestKey | undefined> {
  const upload = req.spooled
    ? await x.adapter.uploadKey?.(x.route.operation, { headers: x.incoming.headers, open: req.spooled.open })
    : undefined;
  if (req.streamed && upload === undefined) return undefined;
  return requestKey({
    provider: x.adapter.name,
    method: x.call.method,
    path: x.rest,
    search: x.search,
    json: req.json,
    volatile: x.cfg.cassettes.volatileFields,
    upload,
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
  const key = (await keyOf(x, req)) as RequestKey;
  const cacheKey = x.cfg.forwardClientAuth ? `${key.hash}:${credentialTag(clientCredential(x))}` : key.hash;
  const text = await x.deps.cache?.get(cacheKey);
  let found: Recording | undefined;
  try {
    found = text === undefined ? undefined : deserialize(text);
  } catch {
    found = undefined;
  }
  x.call.cache = found === undefined ? 'miss' : 'hit';
  return { found, keep: found === undefined ? { to: 'cache', key, cacheKey } : undefined, file: undefined };
}

/** A follow-up of a job (a status poll, a result): part of the job's recording, by method, path and query. */
async function followUp(x: Exchange, jobId: string, replay: boolean): Promise<Recall> {
  const store = new CassetteStore(x.cfg.cassettes.dir);
  const file = await store.findJob(x.adapter.name, jobId);
  if (file === undefined) return NOTHING;
  const request = `${x.call.method} ${x.rest}${x.search}`;
  if (!replay) return { found: undefined, keep: { to: 'job', file, request }, file };
  const job = await store.read(file);
  const answer = job?.followUps?.[request];
  return { found: job && answer && { ...job, ...answer, followUps: undefined }, keep: undefined, file };
}

/**
 * Stage 3a, before deciding who answers: the stored answer for this request, if the mode has one —
 * the recording in REPLAY, a cache entry in REAL and HYBRID with the cache on — and where the
 * provider's answer is to be kept. Mock and REAL without the cache return at once: no key is made.
 */
export async function recall(x: Exchange, req: Request): Promise<Recall> {
  const { mode } = req;
  if (mode === 'replay' || mode === 'record') {
    const jobId = x.adapter.jobOf?.(x.route.operation, x.params);
    if (jobId !== undefined) return followUp(x, jobId, mode === 'replay');
    const key = await keyOf(x, req);
    if (key === undefined) return NOTHING;
    if (mode === 'record') return { found: undefined, keep: { to: 'cassette', key }, file: key.file };
    const store = new CassetteStore(x.cfg.cassettes.dir);
    const found = await store.read(key.file);
    if (found?.jobId !== undefined) store.noteJob(found.jobId, key.file);
    return { found, keep: undefined, file: key.file };
  }
  return cacheable(x, req) ? fromCache(x, req) : NOTHING;
}

/** REPLAY_MISS=error: the 404 for a request no recording answers. */
export const missError = (x: Exchange, r: Recall) =>
  cassetteMiss(x.call.method, x.call.path, r.file, x.cfg.cassettes.dir);
