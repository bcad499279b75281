import { ConfigError, type Loaded, loadConfig } from './config/index.js';
import { Telemetry } from './telemetry/index.js';
import { startTollgate, type Tollgate } from './wire.js';

/** Exits with the configuration's problems named (2), or the start failure (1). */
function exitOn(e: unknown, what: string): never {
  if (e instanceof ConfigError) {
    process.stderr.write(`tollgate: ${e.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`tollgate: ${what}: ${(e as Error).message}\n`);
  process.exit(1);
}

/** SIGTERM/SIGINT drain and exit 0; SIGHUP reloads the hot-reloadable settings. */
function ownSignals(tollgate: Tollgate): void {
  const stop = (signal: string) => {
    // The shutdown flushes the spans of the drained requests (within the grace period) before its
    // last line, `stopped`.
    void tollgate.shutdown(signal).then(
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

/**
 * `tollgate serve`: the composition root's entry, and the only place that reads process.env and owns
 * the process's signals. Invalid configuration exits 2 with every bad field named.
 */
export async function serve(): Promise<void> {
  const env = process.env;
  const cwd = process.cwd();
  let loaded: Loaded;
  try {
    loaded = loadConfig({ env, cwd });
  } catch (e) {
    exitOn(e, 'invalid configuration');
  }
  let tollgate: Tollgate;
  let telemetry: Telemetry;
  try {
    telemetry = await Telemetry.start(env);
    tollgate = await startTollgate({ loaded, env, cwd, telemetry });
  } catch (e) {
    exitOn(e, 'could not start');
  }
  ownSignals(tollgate);
}
