/**
 * Preloaded with `node --import ./dist/telemetry/register.js`: starts the OpenTelemetry SDK (when an
 * OTLP endpoint is configured) before any app module is imported, so the tracer the proxy takes is the
 * SDK's. No loader hook is registered: the proxy makes its spans itself (telemetry/tracing.ts), so no
 * module has to be patched as it loads.
 */
const { startTelemetry } = await import('./otel.js');
await startTelemetry();
