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

/** The worker's own credentials (`Authorization`, Anthropic's `x-api-key`), kept with FORWARD_CLIENT_AUTH. */
const CLIENT_CREDENTIALS = new Set(['authorization', 'x-api-key']);

const NONE: ReadonlySet<string> = new Set();
const listed = (connection: string | string[] | undefined): ReadonlySet<string> => {
  // `keep-alive` and `close` name no header to drop: the common case builds nothing.
  if (connection === undefined || connection === 'keep-alive' || connection === 'close') return NONE;
  const v = Array.isArray(connection) ? connection.join(',') : connection;
  return new Set(v.split(',').map((s) => s.trim().toLowerCase()));
};

const isOurs = (name: string) => name.startsWith('x-tollgate-');

/** Worker headers to send upstream: hop-by-hop, sidecar-owned and credentials dropped (kept when `keepAuthorization`). */
export function upstreamHeaders(incoming: IncomingHttpHeaders, keepAuthorization: boolean): Record<string, string> {
  const drop = listed(incoming.connection);
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || HOP_BY_HOP.has(name) || drop.has(name) || isOurs(name)) continue;
    if (REPLACED_UPSTREAM.has(name) && !(keepAuthorization && CLIENT_CREDENTIALS.has(name))) continue;
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
