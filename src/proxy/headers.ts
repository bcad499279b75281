import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

/** RFC 9110 §7.6.1 hop-by-hop headers, plus those a proxy must not relay. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'http2-settings',
]);

/** Headers the sidecar owns towards the upstream: never copied from the worker. */
const REPLACED_UPSTREAM = new Set([
  'authorization',
  'api-key',
  'x-api-key',
  'traceparent',
  'tracestate',
  'x-correlation-id',
  'content-length',
  'expect',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'cookie',
]);

const NONE: ReadonlySet<string> = new Set();
const listed = (connection: string | string[] | undefined): ReadonlySet<string> => {
  // `keep-alive` and `close` name no header to drop: the common case builds nothing.
  if (connection === undefined || connection === 'keep-alive' || connection === 'close') return NONE;
  const v = Array.isArray(connection) ? connection.join(',') : connection;
  return new Set(v.split(',').map((s) => s.trim().toLowerCase()));
};

const isOurs = (name: string) => name.startsWith('x-tollgate-');

/** Worker headers to send upstream: hop-by-hop, sidecar-owned and credentials dropped. */
export function upstreamHeaders(incoming: IncomingHttpHeaders, keepAuthorization: boolean): Record<string, string> {
  const drop = listed(incoming.connection);
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || HOP_BY_HOP.has(name) || drop.has(name) || isOurs(name)) continue;
    if (REPLACED_UPSTREAM.has(name) && !(keepAuthorization && name === 'authorization')) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** Upstream response headers to relay to the worker. */
export function downstreamHeaders(incoming: IncomingHttpHeaders, dropLength: boolean): OutgoingHttpHeaders {
  const drop = listed(incoming.connection);
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || HOP_BY_HOP.has(name) || drop.has(name)) continue;
    if (dropLength && (name === 'content-length' || name === 'content-encoding')) continue;
    out[name] = value;
  }
  return out;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

// Ids are cut from a pool of random bytes refilled 4 KiB at a time: one randomBytes call per call is
// a syscall-sized cost on the hot path.
const POOL_SIZE = 4096;
let pool = randomBytes(POOL_SIZE);
let offset = 0;
function randomHex(bytes: number): string {
  if (offset + bytes > POOL_SIZE) {
    pool = randomBytes(POOL_SIZE);
    offset = 0;
  }
  const hex = pool.toString('hex', offset, offset + bytes);
  offset += bytes;
  return hex;
}

/**
 * A W3C traceparent for the upstream call that continues the worker's trace (or starts one),
 * with a fresh span id as parent. Replaced by the OTel context when tracing is set up.
 */
export function continueTrace(incoming: string | string[] | undefined): {
  traceId: string;
  spanId: string;
  header: string;
} {
  const m = typeof incoming === 'string' ? TRACEPARENT.exec(incoming.trim()) : null;
  const traceId = m && m[1] !== '0'.repeat(32) ? m[1]! : randomHex(16);
  const spanId = randomHex(8);
  const flags = m ? m[3]! : '01';
  return { traceId, spanId, header: `00-${traceId}-${spanId}-${flags}` };
}
