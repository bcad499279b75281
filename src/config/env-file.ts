import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

/*
 * Finding the env file, on its own and free of the schema: telemetry's preload reads the
 * OTEL_* variables from the same file before anything else loads.
 */

/** Where configuration comes from. The composition root passes the process's own. */
export interface ConfigInputs {
  /** The process environment; it wins over the env file. */
  env: NodeJS.ProcessEnv;
  /** What relative ENV_FILE and CONFIG_FILE paths start from. */
  cwd: string;
}

/** Which env file to read: ENV_FILE, else .env.development when it exists. */
export function envFilePath({ env, cwd }: ConfigInputs): string | undefined {
  if (env.ENV_FILE !== undefined) return env.ENV_FILE === '' ? undefined : resolve(cwd, env.ENV_FILE);
  const fallback = resolve(cwd, '.env.development');
  return existsSync(fallback) ? fallback : undefined;
}
