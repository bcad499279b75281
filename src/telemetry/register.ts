/**
 * Preloaded with `node --import ./dist/telemetry/register.js`: registers the ESM loader hook the
 * instrumentations need, then starts the OpenTelemetry SDK before any app module is imported
 * (otherwise the HTTP server spans go missing under ESM).
 */
import { register } from 'node:module';

register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);
const { startTelemetry } = await import('./otel.js');
await startTelemetry();
