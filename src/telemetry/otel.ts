import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { DiagLogLevel, diag, type Span, SpanKind } from '@opentelemetry/api';
import { getNodeAutoInstrumentations } from '@opentelemetry/auto-instrumentations-node';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import { NodeSDK } from '@opentelemetry/sdk-node';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { parse as parseDotenv } from 'dotenv';

/**
 * The OpenTelemetry SDK, started by `register.ts` before the app loads (`node --import`), so the
 * http and undici instrumentations see every module. It starts only when an OTLP endpoint is
 * configured; without one the proxy propagates W3C trace context itself, so the upstream always sees
 * a traceparent of the worker's trace.
 */

export interface ExporterStatus {
  configured: boolean;
  endpoint: string | undefined;
  protocol: string;
  exported: number;
  failures: number;
  consecutiveFailures: number;
  lastError: string | undefined;
  lastSuccessAt: number | undefined;
}

const status: ExporterStatus = {
  configured: false,
  endpoint: undefined,
  protocol: 'http/protobuf',
  exported: 0,
  failures: 0,
  consecutiveFailures: 0,
  lastError: undefined,
  lastSuccessAt: undefined,
};

let sdk: NodeSDK | undefined;

/** Whether the SDK runs in this process (else the proxy propagates trace context by itself). */
export const telemetryActive = (): boolean => sdk !== undefined;
export const exporterStatus = (): Readonly<ExporterStatus> => status;

/** Counts what the exporter sends and what fails, for the health check. */
class CountingExporter implements SpanExporter {
  constructor(private readonly inner: SpanExporter) {}
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.inner.export(spans, (result) => {
      if (result.code === ExportResultCode.SUCCESS) {
        status.exported += spans.length;
        status.consecutiveFailures = 0;
        status.lastSuccessAt = Date.now();
      } else {
        status.failures += 1;
        status.consecutiveFailures += 1;
        status.lastError = result.error?.message ?? 'export failed';
      }
      done(result);
    });
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

/** OTEL_* variables from the env file count too (the process environment wins), like every setting. */
function otelEnvFromFile(env: NodeJS.ProcessEnv): void {
  const file = env.ENV_FILE !== undefined ? (env.ENV_FILE === '' ? undefined : env.ENV_FILE) : '.env.development';
  if (file === undefined) return;
  let vars: Record<string, string>;
  try {
    vars = parseDotenv(readFileSync(resolve(file)));
  } catch {
    return;
  }
  for (const [k, v] of Object.entries(vars)) if (k.startsWith('OTEL_') && env[k] === undefined) env[k] = v;
}

async function traceExporter(protocol: string): Promise<SpanExporter> {
  if (protocol === 'http/json') {
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
    return new OTLPTraceExporter();
  }
  if (protocol !== 'http/protobuf')
    diag.warn(`OTEL_EXPORTER_OTLP_PROTOCOL=${protocol} is not supported; using http/protobuf`);
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-proto');
  return new OTLPTraceExporter();
}

const QUIET_PATHS = new Set(['/livez', '/readyz', '/health', '/metrics']);

export async function startTelemetry(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (sdk !== undefined) return;
  otelEnvFromFile(env);
  if (env.OTEL_SDK_DISABLED === 'true') return;
  // Metrics are served on /metrics by the app and logs go to stdout: only traces leave over OTLP.
  env.OTEL_METRICS_EXPORTER ??= 'none';
  env.OTEL_LOGS_EXPORTER ??= 'none';
  diag.setLogger(
    {
      error: (m) => process.stderr.write(`otel: ${m}\n`),
      warn: () => {},
      info: () => {},
      debug: () => {},
      verbose: () => {},
    },
    DiagLogLevel.ERROR,
  );
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const exporterOff = (env.OTEL_TRACES_EXPORTER ?? '').split(',').includes('none');
  status.endpoint = endpoint;
  status.protocol = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf';
  status.configured = endpoint !== undefined && endpoint !== '' && !exporterOff;
  // No exporter: spans would go nowhere. The proxy still continues the worker's trace upstream by itself
  // (tracing.ts propagatingTracer), at a fraction of the cost of instrumenting every request.
  if (!status.configured) return;
  sdk = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME ?? 'tollgate',
    traceExporter: new CountingExporter(await traceExporter(status.protocol)),
    instrumentations: getNodeAutoInstrumentations({
      '@opentelemetry/instrumentation-fs': { enabled: false },
      '@opentelemetry/instrumentation-dns': { enabled: false },
      '@opentelemetry/instrumentation-net': { enabled: false },
      '@opentelemetry/instrumentation-pino': { enabled: false },
      '@opentelemetry/instrumentation-ioredis': { enabled: false },
      '@opentelemetry/instrumentation-redis': { enabled: false },
      '@opentelemetry/instrumentation-openai': { enabled: false },
      '@opentelemetry/instrumentation-runtime-node': { enabled: false },
      '@opentelemetry/instrumentation-http': {
        ignoreIncomingRequestHook: (req) => QUIET_PATHS.has((req.url ?? '').split('?')[0] ?? ''),
        // Health probes and other sidecar-internal calls are not upstream calls of a request.
        requireParentforOutgoingSpans: true,
      },
      '@opentelemetry/instrumentation-undici': { requireParentforSpans: true },
    }),
  });
  sdk.start();
}

/** Flushes and stops the SDK (on shutdown, after the server drained). */
export async function stopTelemetry(): Promise<void> {
  const s = sdk;
  sdk = undefined;
  await s?.shutdown().catch(() => {});
}

export type { Span };
export { SpanKind };
