#!/usr/bin/env node
import { parseArgs } from 'node:util';
import {
  ConfigError,
  type ConfigInputs,
  type Loaded,
  loadConfig,
  maskedEnv,
  pidFilePath,
  readPidFile,
} from './config/index.js';

const USAGE = `Usage: tollgate <command>

Commands:
  serve                          run the sidecar (default)
  check-config                   validate the environment and config file; print the effective config (secrets masked)
  reload                         ask the running sidecar of this checkout to reload (SIGHUP via its pid file)
  costs [--window hour|day|month] [--json]
                                 spend report from the configured state store
  spool list|replay|export       ledger rows a Redis store spooled to STATE_SPOOL_DIR (tollgate spool help)
  cassettes list|show|prune      recordings in CASSETTE_DIR (tollgate cassettes help)
`;

async function main(argv: string[], inputs: ConfigInputs): Promise<number> {
  const [command = 'serve', ...rest] = argv;
  switch (command) {
    case 'serve': {
      const { serve } = await import('./main.js');
      await serve();
      return -1;
    }
    case 'check-config': {
      try {
        const loaded = loadConfig(inputs);
        for (const w of loaded.warnings) process.stderr.write(`tollgate: warning: ${w.message}\n`);
        // Prices are part of the configuration: the same table `serve` would load.
        const { PriceSource, PriceTableError } = await import('./metering/index.js');
        try {
          new PriceSource({ file: loaded.config.pricesFile, extra: loaded.config.extraPrices });
        } catch (e) {
          if (e instanceof PriceTableError) throw new ConfigError(e.issues.map((i) => `prices: ${i}`));
          throw e;
        }
        process.stdout.write(
          `${JSON.stringify({ env_file: loaded.envFile ?? null, config: maskedEnv(loaded.env) }, null, 2)}\n`,
        );
        return 0;
      } catch (e) {
        if (e instanceof ConfigError) {
          process.stderr.write(`tollgate: ${e.message}\n`);
          return 2;
        }
        throw e;
      }
    }
    case 'reload':
      return reload(inputs);
    case 'costs': {
      const { values } = parseArgs({
        args: rest,
        options: { window: { type: 'string', default: 'day' }, json: { type: 'boolean', default: false } },
      });
      const { costsCommand } = await import('./metering/index.js');
      return costsCommand({ window: values.window ?? 'day', json: values.json ?? false, inputs });
    }
    case 'spool': {
      const { spoolCommand } = await import('./metering/index.js');
      return spoolCommand(rest, inputs);
    }
    case 'cassettes': {
      const { cassettesCommand } = await import('./recording/index.js');
      return cassettesCommand(rest, inputs);
    }
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return 0;
    default:
      process.stderr.write(`tollgate: unknown command '${command}'\n${USAGE}`);
      return 2;
  }
}

/** `tollgate reload`: 0 when the running sidecar was asked, 1 when it could not be, 2 on bad config. */
async function reload(inputs: ConfigInputs): Promise<number> {
  let loaded: Loaded;
  try {
    loaded = loadConfig(inputs);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`tollgate: ${e.message}\n`);
    return 2;
  }
  const { requestReload } = await import('./admin/index.js');
  const pidFile = pidFilePath(loaded.config.pidFile, inputs.cwd);
  const { host, port, adminToken } = loaded.config;
  const result = await requestReload({ pidFile, pid: readPidFile(pidFile), host, port, adminToken });
  (result.ok ? process.stdout : process.stderr).write(`tollgate: ${result.message}\n`);
  return result.ok ? 0 : 1;
}

// The bin's entry: the one place here that reads the process environment, passed down from it.
main(process.argv.slice(2), { env: process.env, cwd: process.cwd() }).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`tollgate: ${(err as Error).message}\n`);
    process.exitCode = 1;
  },
);
