import { readFileSync } from 'node:fs';
import {
  type Context,
  type ContextManager,
  DiagLogLevel,
  diag,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
} from '@opentelemetry/api';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import { NodeSDK } from '@opentelemetry/sdk-node';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { parse as parseDotenv } from 'dotenv';
import { envFilePath } from '../config/index.js';

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

/**
 * Context for synchronous scopes only (what the SDK's exporter needs to suppress its own tracing):
 * no async hooks, so a promise costs nothing extra.
 */
export class SyncContextManager implements ContextManager {
  #current: Context = ROOT_CONTEXT;
  active(): Context {
    return this.#current;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    context: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    const previous = this.#current;
    this.#current = context;
    try {
      return fn.call(thisArg, ...args);
    } finally {
      this.#current = previous;
    }
  }
  bind<T>(context: Context, target: T): T {
    if (typeof target !== 'function') return target;
    const fn = target as unknown as (...args: unknown[]) => unknown;
    return ((...args: unknown[]) => this.with(context, () => fn(...args))) as unknown as T;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.#current = ROOT_CONTEXT;
    return this;
  }
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

  private constructor(status: ExporterStatus, sdk: NodeSDK | undefined) {
    this.#status = status;
    this.#sdk = sdk;
  }

  /** No SDK: no spans leave the process (tests that start a sidecar in-process, OTEL_SDK_DISABLED). */
  static off(): Telemetry {
    return new Telemetry(idle(), undefined);
  }

  /**
   * Starts the SDK from OTEL_* variables (the env file's count too; `env` wins). The SDK's exporters
   * read their settings from `env` as well, so it must be the process environment.
   */
  static async start(env: NodeJS.ProcessEnv, cwd: string): Promise<Telemetry> {
    otelEnvFromFile(env, cwd);
    if (env.OTEL_SDK_DISABLED === 'true') return Telemetry.off();
    // Metrics are served on /metrics by the app and logs go to stdout: only traces leave over OTLP.
    env.OTEL_METRICS_EXPORTER ??= 'none';
    env.OTEL_LOGS_EXPORTER ??= 'none';
    quietDiag();
    const status = idle();
    const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT;
    const exporterOff = (env.OTEL_TRACES_EXPORTER ?? '').split(',').includes('none');
    status.endpoint = endpoint;
    status.protocol = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf';
    status.configured = endpoint !== undefined && endpoint !== '' && !exporterOff;
    // No exporter: spans would go nowhere. The proxy still continues the worker's trace upstream by itself
    // (tracing.ts propagatingTracer), at a fraction of the cost of instrumenting every request.
    if (!status.configured) return new Telemetry(status, undefined);
    const sdk = new NodeSDK({
      serviceName: env.OTEL_SERVICE_NAME ?? 'tollgate',
      traceExporter: new CountingExporter(await traceExporter(status.protocol), status),
      instrumentations: [],
      contextManager: new SyncContextManager(),
    });
    sdk.start();
    return new Telemetry(status, sdk);
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
