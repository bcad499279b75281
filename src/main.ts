import { setFlagsFromString } from 'node:v8';
import { ConfigError, type Loaded, loadConfig, pidFilePath, removePidFile, writePidFile } from './config/index.js';
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
 * How far V8 lets the old generation grow past what the last full collection kept, in percent. On a
 * host with memory to spare V8's own factor lets it reach several times the live heap between full
 * collections, so a sidecar's RSS climbed for the first 100,000 calls and landed anywhere from 230 to
 * 340 MB; at 30 it stays near what is live and flat, for a few more full collections (concurrent, a
 * short pause each). Measured in docs/performance.md.
 */
const HEAP_GROWING_PERCENT = 30;

/** Keeps the heap near what is live, unless the operator started node with a factor of their own. */
function holdHeapNearLive(): void {
  if (process.execArgv.some((a) => a.startsWith('--heap-growing-percent'))) return;
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}

/**
 * `tollgate serve`: the composition root's entry, and the only place that reads process.env and owns
 * the process's signals. Invalid configuration exits 2 with every bad field named.
 */
export async function serve(): Promise<void> {
  holdHeapNearLive();
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
  const pidFile = pidFilePath(loaded.config.pidFile, cwd);
  try {
    telemetry = await Telemetry.start(env, cwd);
    tollgate = await startTollgate({ loaded, env, cwd, telemetry, pidFile });
  } catch (e) {
    exitOn(e, 'could not start');
  }
  ownSignals(tollgate);
  announcePid(tollgate, pidFile);
}

/** Written once SIGHUP is ours (before, a signal would kill the process); removed at exit. */
function announcePid(tollgate: Tollgate, pidFile: string): void {
  try {
    writePidFile(pidFile, process.pid);
    process.on('exit', () => removePidFile(pidFile, process.pid));
  } catch (e) {
    tollgate.log.warn(
      { pid_file: pidFile, err: (e as Error).message },
      'cannot write the pid file; `tollgate reload` will not find this process',
    );
  }
}
