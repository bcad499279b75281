/**
 * OpenTelemetry for the worker, preloaded by `npm run worker` (`node --import tsx --import
 * ./examples/document-worker/src/instrumentation.ts …`) so the instrumentations are in place before
 * the SDK clients load. Configured by the standard `OTEL_*` variables:
 *
 * - no `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), or
 *   `OTEL_SDK_DISABLED=true`, or `OTEL_TRACES_EXPORTER=none`: nothing starts and nothing more is
 *   loaded; the worker's spans stay no-ops of the API.
 * - else the Node SDK with `@opentelemetry/auto-instrumentations-node`, selected by
 *   `OTEL_NODE_ENABLED_INSTRUMENTATIONS` / `OTEL_NODE_DISABLED_INSTRUMENTATIONS` (default here
 *   `http,undici`: the HTTP client spans whose `traceparent` the sidecar continues; the SDKs call
 *   through `fetch`, which is undici), exporting over OTLP (`OTEL_EXPORTER_OTLP_PROTOCOL`
 *   `http/protobuf` by default, or `http/json`, like the sidecar). Spans are flushed when the worker exits.
 *
 * Every span started under a document gets its `correlation.id` (see tracing.ts).
 */
import type { Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { CORRELATION_ID, CORRELATION_KEY } from './tracing.js';

/** Copies the document's correlation id from the context onto every span started under it. */
class CorrelationIdProcessor implements SpanProcessor {
  onStart(span: Span, parentContext: Context): void {
    const id = parentContext.getValue(CORRELATION_KEY);
    if (typeof id === 'string') span.setAttribute(CORRELATION_ID, id);
  }
  onEnd(_span: ReadableSpan): void {}
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

async function traceExporter(protocol: string): Promise<SpanExporter> {
  if (protocol === 'http/json')
    return new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter();
  if (protocol !== 'http/protobuf')
    process.stderr.write(`warning: OTEL_EXPORTER_OTLP_PROTOCOL=${protocol} is not supported; using http/protobuf\n`);
  return new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter();
}

/** Whether spans would go anywhere: an endpoint, and neither the SDK nor the trace exporter switched off. */
export function tracingWanted(env: NodeJS.ProcessEnv): boolean {
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!endpoint || env.OTEL_SDK_DISABLED === 'true') return false;
  return !(env.OTEL_TRACES_EXPORTER ?? '').split(',').includes('none');
}

async function start(env: NodeJS.ProcessEnv): Promise<void> {
  // Only traces leave the worker: the SDK would otherwise also push metrics and logs to the endpoint.
  env.OTEL_METRICS_EXPORTER ??= 'none';
  env.OTEL_LOGS_EXPORTER ??= 'none';
  env.OTEL_NODE_ENABLED_INSTRUMENTATIONS ||= 'http,undici';
  const [{ NodeSDK }, { getNodeAutoInstrumentations }, { BatchSpanProcessor }] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/auto-instrumentations-node'),
    import('@opentelemetry/sdk-trace-base'),
  ]);
  const protocol = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf';
  const sdk = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME || 'document-worker',
    instrumentations: getNodeAutoInstrumentations(),
    spanProcessors: [new CorrelationIdProcessor(), new BatchSpanProcessor(await traceExporter(protocol))],
  });
  sdk.start();
  // The worker ends by draining its event loop (main.ts sets the exit code): flush then.
  process.once('beforeExit', () => {
    void sdk.shutdown().catch((error: unknown) => {
      process.stderr.write(`warning: traces not flushed: ${(error as Error).message}\n`);
    });
  });
}

if (tracingWanted(process.env)) await start(process.env);
