/**
 * Kept so that command lines which preload it (`node --import ./dist/telemetry/register.js …`) keep
 * working. It starts nothing: `tollgate serve` (main.ts) starts the OpenTelemetry SDK itself, since no
 * instrumentation library has to patch modules as they load (the proxy makes its spans by hand).
 */
export {};
