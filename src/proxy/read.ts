import { MODE_LIST, type Mode, needsKey } from '../config/index.js';
import { invalidJson, invalidRequest } from '../errors.js';
import { isObject } from '../json.js';
import type { PreparedJson, WorstCase } from '../providers/index.js';
import { isMode } from '../routing/index.js';
import { readBody, type Spooled, spool } from './body.js';
import type { Exchange } from './exchange.js';
import { headerValue, isJsonType } from './media.js';

/** What the request says, once read: the mode it runs in and its body. */
export interface Request {
  mode: Mode;
  /** The parsed body, for routes whose body is JSON. */
  json: Record<string, unknown> | undefined;
  /** The body's bytes as received, for routes whose body is JSON. */
  raw: Buffer | undefined;
  /** The body to send upstream when the adapter rewrites it (e.g. to ask for stream usage). */
  prepared: PreparedJson | undefined;
  /** A streamed body (an upload) follows: it is read by whoever answers. */
  streamed: boolean;
  /** The size cap of a streamed body. */
  uploadCap: number;
  /** A metered upload, spooled to a temporary file before admission (removed when the call ends). */
  spooled?: Spooled;
  /** What that upload holds (its pages counted), when the adapter reads uploads. */
  uploadWorst?: WorstCase;
}

/** The mode a call runs in: the provider's, or the worker's `x-tollgate-mode` where the config allows it. */
export function modeOf(x: Exchange): Mode {
  const given = headerValue(x.incoming.headers['x-tollgate-mode']);
  if (given === undefined || !x.cfg.allowModeHeader) return x.call.mode;
  const mode = given.toLowerCase();
  if (!isMode(mode)) throw invalidRequest(`x-tollgate-mode must be one of ${MODE_LIST}`, 'x-tollgate-mode');
  if (needsKey(x.cfg, x.adapter.name, mode)) {
    throw invalidRequest(
      `${x.adapter.name} has no API key configured; it cannot run in ${mode} mode`,
      'x-tollgate-mode',
    );
  }
  return mode;
}

/** Reads a JSON body (capped at MAX_BODY_BYTES) and checks it is an object. */
async function readJson(x: Exchange): Promise<{ json: Record<string, unknown>; raw: Buffer }> {
  const ct = headerValue(x.incoming.headers['content-type']);
  if (ct !== undefined && !isJsonType(ct)) {
    throw invalidRequest(`Content-Type must be application/json for ${x.call.route}, got ${ct}`, 'content-type');
  }
  const raw = await readBody(x.incoming, x.cfg.maxBodyBytes);
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch (e) {
    throw invalidJson((e as Error).message);
  }
  if (!isObject(json)) throw invalidRequest('The request body must be a JSON object');
  return { json, raw };
}

/** Stage 1: the body (JSON read whole; uploads left streaming), the model and whether it streams. */
export async function readRequest(x: Exchange, mode: Mode): Promise<Request> {
  const { adapter, route, cfg, incoming } = x;
  const method = incoming.method;
  const streamed = route.body === 'stream' && method !== 'GET' && method !== 'HEAD';
  const uploadCap = adapter.uploads ? cfg.maxUploadBytes : cfg.maxBodyBytes;
  if (route.body !== 'json') {
    const req: Request = { mode, json: undefined, raw: undefined, prepared: undefined, streamed, uploadCap };
    return streamed && route.metered && adapter.worstCaseOfUpload ? readUpload(x, req) : req;
  }
  const { json, raw } = await readJson(x);
  // Streams are metered from the usage the answer carries: ask for it, strip it if the worker did not.
  const prepared = adapter.prepareJson?.(route.operation, json);
  return { mode, json, raw, prepared, streamed, uploadCap };
}

/**
 * A metered upload is spooled to a temporary file as it streams (never whole in memory) and its worst
 * case read from it, so admission can hold its pages before the provider sees a byte.
 */
async function readUpload(x: Exchange, req: Request): Promise<Request> {
  const spooled = await spool(x.incoming, req.uploadCap);
  x.cleanups.push(() => void spooled.cleanup());
  const upload = { headers: x.incoming.headers, open: spooled.open };
  const worst = await x.adapter.worstCaseOfUpload?.(x.route.operation, upload, x.cfg.parseJobs.defaultPages);
  return { ...req, spooled, uploadWorst: worst };
}
