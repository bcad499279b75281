import { type Attributes, context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { getRPCMetadata, RPCType } from '@opentelemetry/core';
import type { CallRecord } from '../proxy/call.js';
import { continueTrace } from '../proxy/headers.js';
import { ATTR, TRACER_NAME } from './names.js';
import { telemetryActive } from './otel.js';

/**
 * Spans for proxied calls, kept out of the proxy code: the handler reports a CallRecord and asks
 * for a span around the provider call; this module turns that into the SERVER span's route and
 * attributes and a CLIENT span with the GenAI semantic-convention attributes (contract section 8).
 */
export interface CallSpan {
  /** Runs `fn` with the call's span active, so the upstream HTTP span becomes its child. */
  with<T>(fn: () => T): T;
  /** A traceparent to send upstream when no instrumentation injects one, else undefined. */
  traceparent(): string | undefined;
  /** Ends the span with what the call record says happened (usage, cost, errors). */
  end(call: CallRecord): void;
}

export interface CallTracer {
  /** Marks the incoming request's SERVER span (route template, correlation id). */
  server(call: CallRecord): void;
  /** Starts the CLIENT span of one provider call; fills call.traceId/spanId. */
  start(call: CallRecord, headers: Record<string, string | string[] | undefined>): CallSpan;
}

const spanName = (call: CallRecord, model: string | undefined) =>
  model ? `${call.genAiOperation} ${model}` : call.genAiOperation;

function endAttributes(call: CallRecord): Attributes {
  const a: Attributes = {
    [ATTR.servedBy]: call.servedBy,
    [ATTR.mode]: call.mode,
  };
  const u = call.usage;
  if (u?.model !== undefined) a[ATTR.genAiResponseModel] = u.model;
  if (u?.responseId !== undefined) a[ATTR.genAiResponseId] = u.responseId;
  if (u?.finishReasons !== undefined) a[ATTR.genAiFinishReasons] = u.finishReasons;
  if (u !== undefined && (u.inputTokens > 0 || u.outputTokens > 0 || u.reported)) {
    a[ATTR.genAiInputTokens] = u.inputTokens;
    a[ATTR.genAiOutputTokens] = u.outputTokens;
  }
  if (call.costUsd !== undefined) a[ATTR.costUsd] = call.costUsd;
  if (call.fallbackReason !== undefined) a[ATTR.fallbackReason] = call.fallbackReason;
  if (call.limitedBy !== undefined) a[ATTR.limitedBy] = call.limitedBy;
  if (call.errorType !== undefined) a[ATTR.errorType] = call.errorType;
  else if (call.status >= 400) a[ATTR.errorType] = String(call.status);
  else if (call.aborted) a[ATTR.errorType] = 'aborted';
  return a;
}

/** Real spans through the OpenTelemetry API (the SDK was started by the preload). */
export const otelTracer = (upstreamHost: (provider: string) => string | undefined): CallTracer => {
  const tracer = trace.getTracer(TRACER_NAME);
  return {
    server(call) {
      const rpc = getRPCMetadata(context.active());
      if (rpc?.type === RPCType.HTTP) rpc.route = call.route.slice(call.route.indexOf(' ') + 1);
      trace.getActiveSpan()?.setAttribute(ATTR.correlationId, call.correlationId);
    },
    start(call) {
      const model = call.model;
      const attributes: Attributes = {
        [ATTR.genAiOperation]: call.genAiOperation,
        [ATTR.genAiProvider]: call.provider,
        [ATTR.correlationId]: call.correlationId,
        [ATTR.mode]: call.mode,
      };
      if (model !== undefined) attributes[ATTR.genAiRequestModel] = model;
      const host = upstreamHost(call.provider);
      if (host !== undefined && call.mode !== 'mock') attributes[ATTR.serverAddress] = host;
      const span = tracer.startSpan(spanName(call, model), { kind: SpanKind.CLIENT, attributes });
      const ctx = trace.setSpan(context.active(), span);
      const sc = span.spanContext();
      call.traceId = sc.traceId;
      call.spanId = sc.spanId;
      let ended = false;
      return {
        with: (fn) => context.with(ctx, fn),
        // The undici instrumentation injects the upstream traceparent (its own span as parent): adding
        // one here would send two.
        traceparent: () => undefined,
        end(done) {
          if (ended) return;
          ended = true;
          span.setAttributes(endAttributes(done));
          if (done.status >= 500 || done.errorType !== undefined) {
            span.setStatus({ code: SpanStatusCode.ERROR, message: done.errorType ?? String(done.status) });
          }
          span.end();
        },
      };
    },
  };
};

/** Without the SDK: no spans, but the worker's trace still continues upstream. */
export const propagatingTracer = (): CallTracer => ({
  server() {},
  start(call, headers) {
    const t = continueTrace(headers.traceparent);
    call.traceId = t.traceId;
    call.spanId = t.spanId;
    return { with: (fn) => fn(), traceparent: () => t.header, end() {} };
  },
});

export const callTracer = (upstreamHost: (provider: string) => string | undefined): CallTracer =>
  telemetryActive() ? otelTracer(upstreamHost) : propagatingTracer();
