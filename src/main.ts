import { ConfigError, loadConfig } from './config/index.js';
import { startTollgate } from './server.js';
import { stopTelemetry } from './telemetry/otel.js';

/**
 * `tollgate serve`: the only place that reads process.env and owns the process's signals.
 * Invalid configuration exits 2 with every bad field named; SIGTERM/SIGINT drain and exit 0;
 * SIGHUP reloads the hot-reloadable settings.
 */
export async function serve(): Promise<void> {
  let loaded: ReturnType<typeof loadConfig>;
  try {
    loaded = loadConfig({ env: process.env, cwd: process.cwd() });
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`tollgate: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  let tollgate: Awaited<ReturnType<typeof startTollgate>>;
  try {
    tollgate = await startTollgate({ loaded, env: process.env, cwd: process.cwd() });
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`tollgate: ${e.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`tollgate: could not start: ${(e as Error).message}\n`);
    process.exit(1);
  }
  const stop = (signal: string) => {
    void tollgate
      .shutdown(signal)
      // Spans of the drained requests are flushed before the process goes.
      .then(() => stopTelemetry())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          tollgate.log.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => tollgate.config.forceReload('SIGHUP'));
  process.on('uncaughtException', (err) => tollgate.log.error({ err }, 'uncaught exception (kept serving)'));
  process.on('unhandledRejection', (err) => tollgate.log.error({ err }, 'unhandled rejection (kept serving)'));
}
