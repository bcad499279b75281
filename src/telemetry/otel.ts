import { readFileSync } from 'node:fs';
import { type Context, DiagLogLevel, diag, type MeterProvider, type Span, SpanKind } from '@opentelemetry/api';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import { type MetricReader, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { parse as parseDotenv } from 'dotenv';
import { envFilePath } from '../config/index.js';
import { AsyncContextManager, SyncContextManager } from './context.js';
import {
  isRunning,
  meterInstrumentations,
  missingPreload,
  type Selection,
  selectInstrumentations,
  startInstrumentations,
} from './instrumentations.js';

/**
 * The OpenTelemetry SDK, started by the composition root (main.ts) before the server is built. It starts
 * only when an OTLP endpoint is configured; without one the proxy propagates W3C trace context itself,
 * so the upstream always sees a traceparent of the worker's trace.
 *
 * No instrumentation library runs: the proxy makes its SERVER, GenAI CLIENT and upstream HTTP spans
 * itself (telemetry/tracing.ts) with explicit parents. The http and undici instrumentations cost about
 * half of the sidecar's throughput (they wrap every emit, header and socket event) and an
 * AsyncLocalStorage context manager puts a hook on every promise; neither is needed when parents are
 * passed by hand.
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
  /** Spans handed to the exporter whose export has not finished. */
  inFlightSpans: number;
  /** Spans whose export failed (they are not sent again). */
  failedSpans: number;
}

/** How the shutdown flush ended: finished in time, or cut short with the spans it could not send. */
export interface FlushOutcome {
  finished: boolean;
  /** Spans that did not reach the collector (failed, or still in flight when time ran out). */
  droppedSpans: number;
}

const idle = (): ExporterStatus => ({
  configured: false,
  endpoint: undefined,
  protocol: 'http/protobuf',
  exported: 0,
  failures: 0,
  consecutiveFailures: 0,
  lastError: undefined,
  lastSuccessAt: undefined,
  inFlightSpans: 0,
  failedSpans: 0,
});

/** Counts what the exporter sends and what fails, for the health check. */
class CountingExporter implements SpanExporter {
  constructor(
    private readonly inner: SpanExporter,
    private readonly status: ExporterStatus,
  ) {}
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.status.inFlightSpans += spans.length;
    this.inner.export(spans, (result) => {
      const status = this.status;
      status.inFlightSpans -= spans.length;
      if (result.code === ExportResultCode.SUCCESS) {
        status.exported += spans.length;
        status.consecutiveFailures = 0;
        status.lastSuccessAt = Date.now();
      } else {
        status.failures += 1;
        status.failedSpans += spans.length;
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
function otelEnvFromFile(env: NodeJS.ProcessEnv, cwd: string): void {
  const file = envFilePath({ env, cwd });
  if (file === undefined) return;
  let vars: Record<string, string>;
  try {
    vars = parseDotenv(readFileSync(file));
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

/** The OTLP push of the /metrics instruments, every OTEL_METRIC_EXPORT_INTERVAL ms (default 60 s). */
async function metricReader(env: NodeJS.ProcessEnv, protocol: string): Promise<MetricReader> {
  const exporter =
    protocol === 'http/json'
      ? new (await import('@opentelemetry/exporter-metrics-otlp-http')).OTLPMetricExporter()
      : new (await import('@opentelemetry/exporter-metrics-otlp-proto')).OTLPMetricExporter();
  const interval = Number(env.OTEL_METRIC_EXPORT_INTERVAL);
  return new PeriodicExportingMetricReader({
    exporter,
    exportIntervalMillis: Number.isInteger(interval) && interval > 0 ? interval : 60_000,
  });
}

/** The log lines a selection is worth: refused and unknown instrumentations. */
function selectionWarnings(selection: Selection): string[] {
  const lines = selection.refused.map(
    (r) => `instrumentation ${r.name} refused on the sidecar: ${r.reason} (OTEL_NODE_ENABLED_INSTRUMENTATIONS)`,
  );
  if (selection.ignored.length > 0) {
    lines.push(
      `instrumentations ${selection.ignored.join(', ')} do nothing on the sidecar (it runs runtime-node, ioredis and pino); ignored`,
    );
  }
  return lines;
}

const quietDiag = () =>
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

/**
 * The OpenTelemetry SDK of this process, when an OTLP endpoint is configured: `Telemetry.start(env)`
 * in the composition root, `shutdown()` after the server drained. Without an endpoint it is off and
 * the proxy propagates W3C trace context itself.
 */
export class Telemetry {
  readonly #status: ExporterStatus;
  readonly #sdk: NodeSDK | undefined;
  readonly #context: AsyncContextManager | undefined;
  /** What the start found worth an operator's attention (refused instrumentations …), logged by wire.ts. */
  readonly warnings: readonly string[];

  private constructor(
    status: ExporterStatus,
    sdk: NodeSDK | undefined,
    warnings: readonly string[] = [],
    context?: AsyncContextManager,
    readonly metricReaders: MetricReader[] = [],
  ) {
    this.#status = status;
    this.#sdk = sdk;
    this.warnings = warnings;
    this.#context = context;
  }

  /** No SDK: no spans leave the process (tests that start a sidecar in-process, OTEL_SDK_DISABLED). */
  static off(): Telemetry {
    return new Telemetry(idle(), undefined);
  }

  /**
   * Starts the SDK from OTEL_* variables (the env file's count too; `env` wins), and the
   * auto-instrumentations OTEL_NODE_ENABLED_INSTRUMENTATIONS selects (instrumentations.ts). The SDK's
   * exporters read their settings from `env` as well, so it must be the process environment.
   */
  static async start(env: NodeJS.ProcessEnv, cwd: string): Promise<Telemetry> {
    otelEnvFromFile(env, cwd);
    if (env.OTEL_SDK_DISABLED === 'true') return Telemetry.off();
    const selection = selectInstrumentations(env);
    const warnings = selectionWarnings(selection);
    // runtime-node needs no module hook and feeds /metrics, exporter or not.
    await startInstrumentations(selection.enabled, { patching: false });
    // Metrics are served on /metrics by the app and logs go to stdout: only traces leave over OTLP
    // (and log records, when the pino instrumentation runs). OTEL_METRICS_EXPORTER=otlp pushes the
    // /metrics instruments (runtime-node's too) over OTLP from the app's own meter provider; the SDK's
    // global one would hold no instrument, so the SDK is told `none`.
    const pushMetrics = (env.OTEL_METRICS_EXPORTER ?? '').split(',').includes('otlp');
    env.OTEL_METRICS_EXPORTER = 'none';
    env.OTEL_LOGS_EXPORTER ??= isRunning('pino') ? 'otlp' : 'none';
    quietDiag();
    const status = idle();
    const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT;
    const exporterOff = (env.OTEL_TRACES_EXPORTER ?? '').split(',').includes('none');
    status.endpoint = endpoint;
    status.protocol = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf';
    status.configured = endpoint !== undefined && endpoint !== '' && !exporterOff;
    // No exporter: spans would go nowhere. The proxy still continues the worker's trace upstream by itself
    // (tracing.ts propagatingTracer), at a fraction of the cost of instrumenting every request.
    if (!status.configured) return new Telemetry(status, undefined, warnings);
    const metricsProtocol =
      env.OTEL_EXPORTER_OTLP_METRICS_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf';
    const readers = pushMetrics ? [await metricReader(env, metricsProtocol)] : [];
    for (const name of missingPreload(selection.enabled)) {
      warnings.push(
        `instrumentation ${name} is off: it patches its library as it loads, so it needs the preload (node --import ./dist/telemetry/register.js, as npm start and the image run it)`,
      );
    }
    // Only an instrumentation that must find its call through async context pays for one.
    const context = isRunning('ioredis') ? new AsyncContextManager() : undefined;
    const sdk = new NodeSDK({
      serviceName: env.OTEL_SERVICE_NAME ?? 'tollgate',
      traceExporter: new CountingExporter(await traceExporter(status.protocol), status),
      instrumentations: [],
      contextManager: context ?? new SyncContextManager(),
    });
    sdk.start();
    return new Telemetry(status, sdk, warnings, context, readers);
  }

  /**
   * Makes a call's span the active context for the rest of its async path, so an instrumentation
   * (ioredis) puts its spans under it; undefined when nothing needs it (the default: no cost).
   */
  get enterCall(): ((context: Context) => void) | undefined {
    const manager = this.#context;
    return manager === undefined ? undefined : (context) => manager.enter(context);
  }

  /** Hands the meter provider /metrics reads to the instrumentations that make metrics (runtime-node). */
  meter(provider: MeterProvider): void {
    meterInstrumentations(provider);
  }

  /** Whether the SDK runs (else the proxy propagates trace context by itself). */
  get active(): boolean {
    return this.#sdk !== undefined;
  }

  exporterStatus(): Readonly<ExporterStatus> {
    return this.#status;
  }

  /**
   * Flushes and stops the SDK (on shutdown, after the server drained), within `timeoutMs`: a
   * collector that does not answer (the exporter retries with backoff) cannot hold the process past
   * its grace period. The flush left running is abandoned; the outcome counts the spans it dropped.
   */
  async shutdown(timeoutMs = Number.POSITIVE_INFINITY): Promise<FlushOutcome> {
    if (this.#sdk === undefined) return { finished: true, droppedSpans: 0 };
    const status = this.#status;
    const failedBefore = status.failedSpans;
    const dropped = () => status.failedSpans - failedBefore + status.inFlightSpans;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => {
      if (Number.isFinite(timeoutMs)) timer = setTimeout(() => resolve(false), Math.max(0, timeoutMs));
    });
    const flushed = this.#sdk.shutdown().then(
      () => true as const,
      () => true as const,
    );
    const finished = await Promise.race([flushed, timedOut]);
    clearTimeout(timer);
    return { finished, droppedSpans: dropped() };
  }
}

export type { Span };
export { SpanKind };
