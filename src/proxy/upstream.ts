import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { Pool } from 'undici';
import type { FallbackReason } from '../routing/index.js';
import { isTimeoutError } from '../transport.js';

export interface UpstreamTarget {
  /** e.g. https://api.openai.com/v1 */
  baseUrl: string;
  connectTimeoutMs: number;
  timeoutMs: number;
}

export interface UpstreamRequest {
  method: string;
  /** Path relative to the base URL, starting with '/', query included. */
  path: string;
  headers: Record<string, string>;
  body: Buffer | Readable | null;
  /** The call's controller: the worker's disconnect aborts it, and so does the timeout. */
  abort: UpstreamAbort;
}

/**
 * Cancels one upstream request, as an AbortController would. undici takes an EventEmitter with
 * `aborted` and `reason` as the signal; one costs a small part of an AbortController with its signal
 * and event listener (3–4 µs to make, every proxied call).
 */
export class UpstreamAbort extends EventEmitter {
  aborted = false;
  reason: unknown = undefined;

  /** Aborts the request (undici rejects with `reason`, or its own AbortError without one). */
  abort(reason?: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.emit('abort');
  }
}

export interface UpstreamResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Readable & { dump?(opts?: { limit: number }): Promise<void> };
}

/**
 * The transport's own code for an error: `ECONNREFUSED`, `ENOTFOUND`, a TLS code, an undici timeout.
 * Looks through `cause` and an AggregateError's `errors` (a host with several addresses).
 */
export function transportCode(error: unknown, depth = 0): string | undefined {
  if (error === null || typeof error !== 'object' || depth > 4) return undefined;
  const e = error as { code?: unknown; cause?: unknown; errors?: unknown };
  if (typeof e.code === 'string' && e.code !== 'UND_ERR_SOCKET') return e.code;
  const inner =
    transportCode(e.cause, depth + 1) ?? (Array.isArray(e.errors) ? transportCode(e.errors[0], depth + 1) : undefined);
  return inner ?? (typeof e.code === 'string' ? e.code : undefined);
}

/** Why an upstream call produced no response, in the terms of the fallback reasons. */
export class UpstreamFailure extends Error {
  override readonly name = 'UpstreamFailure';
  readonly reason: Extract<FallbackReason, 'upstream_unreachable' | 'upstream_timeout'>;
  /** The transport's code (ECONNREFUSED, ENOTFOUND, a TLS code, UND_ERR_*_TIMEOUT), when it gave one. */
  readonly code: string | undefined;
  constructor(reason: UpstreamFailure['reason'], cause: unknown) {
    super(reason, { cause });
    this.reason = reason;
    this.code = transportCode(cause);
  }
}

/** Maps a transport error to unreachable/timeout; anything else (an abort by the worker) is rethrown. */
export function classify(error: unknown, timedOut: boolean): UpstreamFailure | undefined {
  if (timedOut) return new UpstreamFailure('upstream_timeout', error);
  if (isTimeoutError(error)) return new UpstreamFailure('upstream_timeout', error);
  const code = (error as { code?: string } | null)?.code;
  if ((error as Error | null)?.name === 'AbortError') return undefined;
  // undici refusing the request locally (a header or path it cannot send) is not the provider's failure.
  if (code === 'UND_ERR_INVALID_ARG') return undefined;
  return new UpstreamFailure('upstream_unreachable', error);
}

/**
 * Keep-alive connection pools to each provider's upstream (undici). The origin is fixed per pool,
 * so nothing in a request can steer it to another host. A changed base URL (hot reload) gets a
 * new pool; the old one drains.
 */
export class Upstreams {
  readonly #pools = new Map<string, { key: string; pool: Pool; origin: string; basePath: string }>();

  #pool(name: string, target: UpstreamTarget) {
    const key = `${target.baseUrl}|${target.connectTimeoutMs}`;
    const existing = this.#pools.get(name);
    if (existing?.key === key) return existing;
    if (existing) void existing.pool.close().catch(() => {});
    const url = new URL(target.baseUrl);
    const entry = {
      key,
      origin: url.origin,
      basePath: url.pathname.replace(/\/+$/, ''),
      pool: new Pool(url.origin, {
        connections: 256,
        pipelining: 1,
        connectTimeout: target.connectTimeoutMs,
        keepAliveTimeout: 30_000,
        keepAliveMaxTimeout: 600_000,
      }),
    };
    this.#pools.set(name, entry);
    return entry;
  }

  /** Host header value for a provider (the upstream's own host). */
  host(name: string, target: UpstreamTarget): string {
    return new URL(this.#pool(name, target).origin).host;
  }

  /**
   * Sends one request. Resolves once response headers arrived; the whole exchange (body
   * included) is bounded by `timeoutMs` and by `req.signal`.
   * @throws UpstreamFailure when no response came (connect error, reset, timeout).
   */
  async request(name: string, target: UpstreamTarget, req: UpstreamRequest): Promise<UpstreamResponse> {
    const { pool, basePath } = this.#pool(name, target);
    // One timer bounds the whole exchange, body included; it aborts through the caller's controller
    // (cheaper than AbortSignal.timeout + AbortSignal.any on every call).
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      req.abort.abort(new DOMException('upstream timed out', 'TimeoutError'));
    }, target.timeoutMs);
    try {
      const res = await pool.request({
        method: req.method as 'GET',
        path: basePath + req.path,
        headers: req.headers,
        body: req.body,
        signal: req.abort,
        headersTimeout: target.timeoutMs,
        bodyTimeout: target.timeoutMs,
      });
      res.body.once('close', () => clearTimeout(timer));
      return { status: res.statusCode, headers: res.headers as IncomingHttpHeaders, body: res.body };
    } catch (e) {
      clearTimeout(timer);
      const failure = classify(e, timedOut);
      if (failure) throw failure;
      throw e;
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#pools.values()].map((p) => p.pool.close()));
    this.#pools.clear();
  }
}
