export { AsyncContextManager, SyncContextManager } from './context.js';
export { createLogger, type Logger, type LoggerOptions, logCall, logWritten, scrub } from './logger.js';
export { createMetrics, type Metrics, type MetricsOptions } from './metrics.js';
export { ATTR, TRACER_NAME } from './names.js';
export { callObserver, type ObserverParts } from './observer.js';
export { type ExporterStatus, Telemetry } from './otel.js';
export { continueTrace } from './propagation.js';
export { type CallSpan, type CallTracer, callTracer, otelTracer, propagatingTracer } from './tracing.js';
