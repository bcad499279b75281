import {
  type Attributes,
  type Context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import type { CallRecord } from '../proxy/index.js';
import { ATTR, TRACER_NAME } from './names.js';
import { continueTrace } from './propagation.js';

/**
 * Spans for proxied calls, kept out of the proxy code. The proxy makes its spans itself rather than
 * through the http/undici instrumentations (which cost about half the throughput): a SERVER span
 * named by the route template, a CLIENT span with the GenAI semantic-convention attributes
 * (contract section 8) and, when the provider is called, the upstream HTTP CLIENT span under it.
 * Parents are passed explicitly, so no async context has to follow the request.
 */
export interface CallSpan {
  /**
   * Starts the upstream HTTP span (a child of the CLIENT span) and returns the traceparent to send
   * upstream: this trace, with the sidecar's own span as parent.
   */
  upstream(method: string, baseUrl: string, path: string): string;
  /** Ends the upstream HTTP span with the provider's status, or the transport error. */
  upstreamEnd(status: number | undefined, errorType?: string): void;
  /** Ends the CLIENT and SERVER spans with what the call record says happened (usage, cost, errors). */
  end(call: CallRecord): void;
}

export interface CallTracer {
  /**
   * Starts the spans of one proxied call, continuing the worker's `traceparent`; fills
   * call.traceId/spanId. `startTime` is the call's start (performance.now()).
   */
  start(call: CallRecord, headers: Record<string, string | string[] | undefined>, startTime: number): CallSpan;
}

const spanName = (call: CallRecord, model: string | undefined) =>
  model ? `${call.genAiOperation} ${model}` : call.genAiOperation;

function endAttributes(call: CallRecord, a: Attributes): Attributes {
  a[ATTR.servedBy] = call.servedBy;
  a[ATTR.mode] = call.mode;
  const u = call.usage;
  if (u?.model !== undefined) a[ATTR.genAiResponseModel] = u.model;
  if (u?.responseId !== undefined) a[ATTR.genAiResponseId] = u.responseId;
  if (u?.finishReasons !== undefined) a[ATTR.genAiFinishReasons] = u.finishReasons;
  if (u !== undefined && (u.inputTokens > 0 || u.outputTokens > 0 || u.reported)) {
    a[ATTR.genAiInputTokens] = u.inputTokens;
    a[ATTR.genAiOutputTokens] = u.outputTokens;
    // Both are parts of input_tokens (the convention's note); zero reads are left out, as the providers do.
    if (u.cachedInputTokens > 0) a[ATTR.genAiCacheReadTokens] = u.cachedInputTokens;
    if (u.cacheWriteTokens !== undefined && u.cacheWriteTokens > 0)
      a[ATTR.genAiCacheCreationTokens] = u.cacheWriteTokens;
  }
  if (call.costUsd !== undefined) a[ATTR.costUsd] = call.costUsd;
  if (call.fallbackReason !== undefined) a[ATTR.fallbackReason] = call.fallbackReason;
  if (call.limitedBy !== undefined) a[ATTR.limitedBy] = call.limitedBy;
  const error = errorType(call);
  if (error !== undefined) a[ATTR.errorType] = error;
  return a;
}

const errorType = (call: CallRecord): string | undefined =>
  call.errorType ?? (call.status >= 400 ? String(call.status) : call.aborted ? 'aborted' : undefined);

/** The worker's trace as a parent context (its traceparent and tracestate), or the root. */
function parentOf(headers: Record<string, string | string[] | undefined>): Context {
  return headers.traceparent === undefined ? ROOT_CONTEXT : propagation.extract(ROOT_CONTEXT, headers);
}

interface Origin {
  base: string;
  /** host:port as the URL gives it (no port when it is the scheme's default). */
  authority: string;
  host: string;
  port: number;
}

/** Host and port of upstream base URLs, parsed once per URL (they change only on reload). */
class Origins {
  readonly #parsed = new Map<string, Origin>();
  of(baseUrl: string): Origin {
    let o = this.#parsed.get(baseUrl);
    if (o === undefined) {
      const u = new URL(baseUrl);
      o = {
        base: baseUrl.replace(/\/+$/, ''),
        authority: u.host,
        host: u.hostname,
        port: Number(u.port) || (u.protocol === 'https:' ? 443 : 80),
      };
      if (this.#parsed.size > 100) this.#parsed.clear();
      this.#parsed.set(baseUrl, o);
    }
    return o;
  }
}

const traceparentOf = (span: Span): string => {
  const sc = span.spanContext();
  return `00-${sc.traceId}-${sc.spanId}-0${sc.traceFlags & 1}`;
};

/** Real spans through the OpenTelemetry API (the SDK was started by the preload). */
export const otelTracer = (
  upstreamUrl: (provider: string) => string | undefined,
  tracer: Tracer = trace.getTracer(TRACER_NAME),
  origins: Origins = new Origins(),
  enter?: (context: Context) => void,
): CallTracer => ({
  start(call, headers, startTime) {
    const model = call.model;
    const route = call.route.slice(call.route.indexOf(' ') + 1);
    const server = tracer.startSpan(
      call.route,
      {
        kind: SpanKind.SERVER,
        startTime,
        attributes: {
          [ATTR.httpMethod]: call.method,
          [ATTR.urlScheme]: 'http',
          [ATTR.urlPath]: call.path,
          [ATTR.httpRoute]: route,
          [ATTR.correlationId]: call.correlationId,
        },
      },
      parentOf(headers),
    );
    // What the store does for this call (ioredis spans) goes under its SERVER span; only when asked for.
    enter?.(trace.setSpan(ROOT_CONTEXT, server));
    const attributes: Attributes = {
      [ATTR.genAiOperation]: call.genAiOperation,
      [ATTR.genAiProvider]: call.provider,
      [ATTR.correlationId]: call.correlationId,
      [ATTR.mode]: call.mode,
    };
    if (model !== undefined) attributes[ATTR.genAiRequestModel] = model;
    if (call.maxTokens !== undefined) attributes[ATTR.genAiRequestMaxTokens] = call.maxTokens;
    if (call.temperature !== undefined) attributes[ATTR.genAiRequestTemperature] = call.temperature;
    const url = call.mode === 'mock' || call.mode === 'replay' ? undefined : upstreamUrl(call.provider);
    if (url !== undefined) attributes[ATTR.serverAddress] = origins.of(url).authority;
    const client = tracer.startSpan(
      spanName(call, model),
      { kind: SpanKind.CLIENT, startTime, attributes },
      trace.setSpan(ROOT_CONTEXT, server),
    );
    const sc = client.spanContext();
    call.traceId = sc.traceId;
    call.spanId = sc.spanId;
    let http: Span | undefined;
    let ended = false;
    return {
      upstream(method, baseUrl, path) {
        http?.end();
        const origin = origins.of(baseUrl);
        const a: Attributes = {
          [ATTR.httpMethod]: method,
          [ATTR.urlFull]: origin.base + path,
          [ATTR.serverAddress]: origin.host,
          [ATTR.serverPort]: origin.port,
          [ATTR.correlationId]: call.correlationId,
        };
        http = tracer.startSpan(method, { kind: SpanKind.CLIENT, attributes: a }, trace.setSpan(ROOT_CONTEXT, client));
        return traceparentOf(http);
      },
      upstreamEnd(status, error) {
        const s = http;
        if (s === undefined) return;
        http = undefined;
        if (status !== undefined) s.setAttribute(ATTR.httpStatus, status);
        const type = error ?? (status !== undefined && status >= 400 ? String(status) : undefined);
        if (type !== undefined) {
          s.setAttribute(ATTR.errorType, type);
          if (error !== undefined || (status ?? 0) >= 500) s.setStatus({ code: SpanStatusCode.ERROR });
        }
        s.end();
      },
      end(done) {
        if (ended) return;
        ended = true;
        this.upstreamEnd(undefined, done.aborted ? 'aborted' : undefined);
        client.setAttributes(endAttributes(done, {}));
        const failed = done.status >= 500 || done.errorType !== undefined;
        if (failed) client.setStatus({ code: SpanStatusCode.ERROR, message: errorType(done) ?? String(done.status) });
        client.end();
        server.setAttribute(ATTR.httpStatus, done.status);
        if (done.status >= 500) {
          server.setAttribute(ATTR.errorType, errorType(done) ?? String(done.status));
          server.setStatus({ code: SpanStatusCode.ERROR });
        }
        server.end();
      },
    };
  },
});

/** Without the SDK: no spans, but the worker's trace still continues upstream. */
export const propagatingTracer = (): CallTracer => ({
  start(call, headers) {
    const t = continueTrace(headers.traceparent);
    call.traceId = t.traceId;
    call.spanId = t.spanId;
    return { upstream: () => t.header, upstreamEnd() {}, end() {} };
  },
});

/** Spans when the SDK runs (`active`), else trace context propagation alone; `enter` as Telemetry.enterCall. */
export const callTracer = (
  active: boolean,
  upstreamUrl: (provider: string) => string | undefined,
  enter?: (context: Context) => void,
): CallTracer => (active ? otelTracer(upstreamUrl, undefined, undefined, enter) : propagatingTracer());
