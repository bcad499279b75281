/**
 * The worker's own spans: `process <file name>` per document and, under it, `upload`, `poll`,
 * `chunk` and `embed`. They go through the OpenTelemetry API only; `instrumentation.ts` (preloaded
 * with `--import` when an OTLP endpoint is configured) starts the SDK that records them. Without it
 * the API is a no-op: no span is recorded, nothing is exported, the worker runs as before.
 */
import { type Attributes, context, createContextKey, type Span, SpanStatusCode, trace } from '@opentelemetry/api';

/** The attribute the sidecar puts on its spans too (contract section 8): Jaeger finds a document by it. */
export const CORRELATION_ID = 'correlation.id';

/**
 * The document's correlation id in the OpenTelemetry context, so every span started under the
 * document (ours and the auto-instrumented HTTP client spans) gets `correlation.id` from a span
 * processor, without each call site setting it.
 */
export const CORRELATION_KEY = createContextKey('document-worker.correlation_id');

export const TRACER_NAME = 'document-worker';

const tracer = () => trace.getTracer(TRACER_NAME);

/** Runs `fn` inside a span named `name` that ends when `fn` settles (ERROR status when it throws). */
export function inSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => Promise<T>): Promise<T> {
  return tracer().startActiveSpan(name, { attributes }, async function traced(span) {
    try {
      return await fn(span);
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message });
      throw error;
    } finally {
      span.end();
    }
  });
}

/**
 * The root span of one document, `process <file name>`: a new trace (not a child of whatever ran
 * before), with the correlation id in the context for every span below it.
 */
export function inDocument<T>(file: string, correlationId: string, fn: (span: Span) => Promise<T>): Promise<T> {
  const root = trace.deleteSpan(context.active()).setValue(CORRELATION_KEY, correlationId);
  return context.with(root, () => inSpan(`process ${file}`, { 'file.name': file }, fn));
}
