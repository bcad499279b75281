import type { Readable } from 'node:stream';
import { invalidRequest, TollgateError } from '../errors.js';
import { type FallbackReason, failedStatus, fallbackAfter } from '../routing/index.js';
import { cappedBody, type Spooled, spool } from './body.js';
import { deliver } from './deliver.js';
import type { Exchange } from './exchange.js';
import { failureError as upstreamError } from './failure.js';
import { upstreamHeaders } from './headers.js';
import { kept } from './keep.js';
import { headerValue } from './media.js';
import type { Request } from './read.js';
import type { Keep } from './recall.js';
import { upstreamReply } from './reply.js';
import { UpstreamFailure, type UpstreamResponse } from './upstream.js';

/** The provider failed and the mock answers instead (HYBRID), with the upload to hand it. */
export interface Fallback {
  reason: FallbackReason;
  spooled: Spooled | undefined;
}

interface Outbound {
  headers: Record<string, string>;
  body: Buffer | Readable | null;
  /** A HYBRID upload, spooled to a file so the mock can read it again if the provider fails. */
  spooled: Spooled | undefined;
}

/** Headers for the provider: the worker's, less what the sidecar owns, plus the key and trace context. */
function outboundHeaders(x: Exchange, traceparent: string): Record<string, string> {
  const { cfg, adapter, call } = x;
  const headers = upstreamHeaders(x.incoming.headers, cfg.forwardClientAuth);
  const key = cfg.providers[adapter.name].apiKey;
  if (!cfg.forwardClientAuth && key !== undefined) Object.assign(headers, adapter.authHeaders(key));
  headers['x-correlation-id'] = call.correlationId;
  headers.traceparent = traceparent;
  if (x.route.metered) headers['accept-encoding'] = 'identity';
  return headers;
}

/** The request to send: JSON as (re)written, an upload streamed (or spooled first in HYBRID). */
async function outbound(x: Exchange, req: Request, traceparent: string): Promise<Outbound> {
  const headers = outboundHeaders(x, traceparent);
  if (req.raw !== undefined) {
    const body = req.prepared ? Buffer.from(JSON.stringify(req.prepared.body)) : req.raw;
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(body.length);
    return { headers, body, spooled: undefined };
  }
  if (!req.streamed) return { headers, body: null, spooled: undefined };
  if (req.spooled !== undefined) {
    headers['content-length'] = String(req.spooled.size);
    return { headers, body: req.spooled.open(), spooled: req.spooled };
  }
  if (req.mode === 'hybrid') {
    const spooled = await spool(x.incoming, req.uploadCap);
    x.cleanups.push(() => void spooled.cleanup());
    headers['content-length'] = String(spooled.size);
    return { headers, body: spooled.open(), spooled };
  }
  const declared = headerValue(x.incoming.headers['content-length']);
  if (declared !== undefined) headers['content-length'] = declared;
  return { headers, body: cappedBody(x.incoming, req.uploadCap), spooled: undefined };
}

const failureError = (x: Exchange, failure: UpstreamFailure) => upstreamError(x.cfg, x.adapter.name, failure);

/**
 * Why no answer came, as what happens next: the mock answers (HYBRID), or the error the worker gets.
 * Counts against the circuit only what is the provider's fault.
 */
function noAnswer(x: Exchange, mode: Request['mode'], e: unknown, out: Outbound, probe: boolean): Fallback {
  const circuit = x.deps.circuits[x.adapter.name];
  // A body refused on the way up (over the size cap) is the worker's error, not the provider's.
  const bodyError = out.body !== null && !Buffer.isBuffer(out.body) ? out.body.errored : null;
  if (bodyError instanceof TollgateError) {
    circuit.release(probe);
    throw bodyError;
  }
  if (e instanceof UpstreamFailure) {
    circuit.failure();
    const fallback = x.call.aborted ? undefined : fallbackAfter(mode, e.reason);
    if (fallback !== undefined) return { reason: e.reason, spooled: out.spooled };
    throw failureError(x, e);
  }
  circuit.release(probe);
  if ((e as { code?: string }).code === 'UND_ERR_INVALID_ARG') {
    throw invalidRequest(`The request cannot be forwarded: ${(e as Error).message}`);
  }
  throw e;
}

/** Sends the request; resolves with the answer's head, or with the fallback when none came. */
async function send(x: Exchange, req: Request, out: Outbound, probe: boolean): Promise<UpstreamResponse | Fallback> {
  const { cfg, adapter, call } = x;
  const target = cfg.providers[adapter.name];
  try {
    return await x.deps.upstreams.request(
      adapter.name,
      {
        baseUrl: target.upstreamUrl,
        connectTimeoutMs: cfg.upstream.connectTimeoutMs,
        timeoutMs: cfg.upstream.timeoutMs,
      },
      {
        method: call.method,
        path: x.rest + x.search,
        headers: out.headers,
        body: out.body,
        abort: x.cancel.upstream(),
      },
    );
  } catch (e) {
    call.upstream = { status: undefined, errorType: e instanceof UpstreamFailure ? e.reason : 'error' };
    x.deps.observer.upstreamEnd(call);
    return noAnswer(x, req.mode, e, out, probe);
  }
}

/** Relays the provider's answer; a body that fails before the worker saw a byte is a transport failure. */
async function relay(
  x: Exchange,
  req: Request,
  res: UpstreamResponse,
  out: Outbound,
  settle: () => Promise<void>,
  keep: Keep | undefined,
) {
  const { call } = x;
  const circuit = x.deps.circuits[x.adapter.name];
  try {
    const reply = upstreamReply(res, x.route.metered);
    await deliver(x, keep === undefined ? reply : kept(x, keep, reply), req.prepared?.stripUsage === true, settle);
    call.upstream = { status: res.status, errorType: undefined };
    x.deps.observer.upstreamEnd(call);
    if (failedStatus(res.status) === undefined) circuit.success();
    return undefined;
  } catch (e) {
    call.upstream = { status: res.status, errorType: call.aborted ? 'aborted' : 'body_failed' };
    x.deps.observer.upstreamEnd(call);
    if (!(e instanceof UpstreamFailure) && (call.aborted || !(e instanceof Error))) throw e;
    const failure = e instanceof UpstreamFailure ? e : x.cancel.bodyFailure(e);
    if (!(failure instanceof UpstreamFailure)) throw e;
    // The provider failed mid-answer: it counts against the circuit like a failed connection.
    circuit.failure();
    if (x.sink.committed) throw failure;
    if (fallbackAfter(req.mode, failure.reason) !== undefined) return { reason: failure.reason, spooled: out.spooled };
    throw failureError(x, failure);
  }
}

/**
 * Stage 4, the provider's side: forwards the call and relays the answer, or says why the mock must
 * answer instead (HYBRID: the provider was unreachable, slow, 5xx or 429). `probe` is the circuit's
 * half-open permit this call holds.
 */
export async function forward(
  x: Exchange,
  req: Request,
  probe: boolean,
  settle: () => Promise<void>,
  keep: Keep | undefined,
): Promise<Fallback | undefined> {
  const { call, cfg, adapter } = x;
  const traceparent = x.deps.observer.upstream(
    call,
    call.method,
    cfg.providers[adapter.name].upstreamUrl,
    x.rest + x.search,
  );
  const out = await outbound(x, req, traceparent);
  const res = await send(x, req, out, probe);
  if (!('status' in res)) return res;
  const circuit = x.deps.circuits[adapter.name];
  // A 5xx is a failure at once; anything else counts as a success only once its body arrived whole.
  const failed = failedStatus(res.status);
  if (res.status >= 500) circuit.failure();
  else if (res.status === 429) circuit.success();
  if (failed !== undefined && fallbackAfter(req.mode, failed) !== undefined) {
    call.upstream = { status: res.status, errorType: undefined };
    x.deps.observer.upstreamEnd(call);
    // Discard the failed answer; its stream errors on destroy, which must not become an uncaught error.
    res.body.on('error', () => {});
    res.body.destroy();
    return { reason: failed, spooled: out.spooled };
  }
  if (res.status >= 400) call.errorType = String(res.status);
  return relay(x, req, res, out, settle, keep);
}
