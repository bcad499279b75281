/**
 * The preload (`node --import ./dist/telemetry/register.js dist/cli.js serve`, as `npm start` and the
 * image run it). It starts nothing by default: `tollgate serve` (main.ts) starts the OpenTelemetry SDK
 * itself, and the proxy makes its spans by hand.
 *
 * Only when spans are exported and OTEL_NODE_ENABLED_INSTRUMENTATIONS selects an instrumentation that
 * patches its library as it loads (`ioredis`, `pino`) does it register the module hook and build those
 * instrumentations here, before the sidecar's modules load; the SDK started later records their spans.
 */
import { register } from 'node:module';
import { needsPreload, selectInstrumentations, startInstrumentations } from './instrumentations.js';

const env = process.env;
const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
if (endpoint && env.OTEL_SDK_DISABLED !== 'true') {
  const { enabled } = selectInstrumentations(env);
  if (needsPreload(enabled)) {
    register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);
    await startInstrumentations(enabled, { patching: true });
  }
}
