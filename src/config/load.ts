import { readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { parse as parseYaml } from 'yaml';
import { type ConfigInputs, envFilePath } from './env-file.js';
import { type ConfigWarning, displayPath, lineOf, problem } from './explain.js';
import { parseFileKeys } from './file-keys.js';
import { overrideWarnings, unknownKeys } from './known.js';
import {
  type Config,
  crossFieldIssues,
  type EnvRecord,
  envSchema,
  type FileConfig,
  SECRET_VARS,
  toConfig,
} from './schema.js';

export { maskedEnv, maskSecret, maskUrlCredentials, shownValue } from './mask.js';

/** Invalid configuration: every bad variable or field, each with the value read, where, and why. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly issues: string[];
  constructor(issues: string[]) {
    super(`Invalid configuration:\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.issues = issues;
  }
}

export interface Loaded {
  config: Config;
  /** The validated variables (for display and change detection). */
  env: EnvRecord;
  /** The env file that was read, if any. */
  envFile: string | undefined;
  /** What the operator should hear about at start (and on reload): unknown keys, overridden variables. */
  warnings: ConfigWarning[];
  /** The env file's own values, before the process environment overrode any of them. */
  fileValues: Record<string, string>;
  /** Variables set in the env file that the process environment overrides. */
  overridden: string[];
}

/** ConfigInputs a caller may still leave out (startTollgate's options); see withProcessDefaults. */
export type LoadOptions = Partial<ConfigInputs>;

/**
 * Fills what a caller left out from the process. Only startTollgate (src/server.ts) and a few
 * tests still leave `env` or `cwd` out; once they pass both, this goes and loadConfig takes
 * ConfigInputs, leaving src/main.ts the only reader of the process environment.
 */
function withProcessDefaults({ env, cwd }: LoadOptions): ConfigInputs {
  return { env: env ?? process.env, cwd: cwd ?? process.cwd() };
}

/** The env file's variables, and where each was set (`file:line`). */
function readEnvFile(envFile: string | undefined, cwd: string) {
  const values: Record<string, string> = {};
  const where: Record<string, string> = {};
  if (envFile === undefined) return { values, where };
  let text: string;
  try {
    text = readFileSync(envFile, 'utf8');
  } catch (e) {
    throw new ConfigError([`ENV_FILE=${envFile}: cannot be read: ${(e as Error).message}`]);
  }
  Object.assign(values, parseDotenv(text));
  const shown = displayPath(envFile, cwd);
  for (const key of Object.keys(values)) {
    const line = lineOf(text, key);
    where[key] = line === undefined ? shown : `${shown}:${line}`;
  }
  return { values, where };
}

function readConfigFile(path: string, shown: string): { file: FileConfig; warnings: ConfigWarning[] } {
  let raw: unknown;
  try {
    const text = readFileSync(path, 'utf8');
    raw = extname(path) === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new ConfigError([`CONFIG_FILE=${shown}: cannot be read as YAML or JSON: ${(e as Error).message}`]);
  }
  const { parsed, warnings } = parseFileKeys(raw ?? {}, shown);
  if (parsed.success) return { file: parsed.data, warnings };
  throw new ConfigError(
    parsed.error.issues.map((issue) => {
      const path = issue.path.map(String).join('.') || '(root)';
      const value = issue.path.reduce<unknown>((n, k) => (n as Record<PropertyKey, unknown> | undefined)?.[k], raw);
      return problem(`CONFIG_FILE ${path}`, value, shown, issue.message);
    }),
  );
}

/**
 * Reads the environment, the env file and CONFIG_FILE, and validates them. Returns the warnings
 * (unknown keys, overridden variables) for the caller to log.
 * @throws ConfigError naming every bad variable or field, with the value read and where.
 */
export function loadConfig(options: LoadOptions = {}): Loaded {
  const { env, cwd } = withProcessDefaults(options);
  const envFile = envFilePath({ env, cwd });
  const fromFile = readEnvFile(envFile, cwd);
  const merged: Record<string, string | undefined> = { ...fromFile.values };
  for (const [k, v] of Object.entries(env)) if (v !== undefined) merged[k] = v;
  const sourceOf = (k: string) => (env[k] !== undefined ? 'environment' : fromFile.where[k]);

  const parsed = envSchema.safeParse(merged);
  const fieldIssues = parsed.success
    ? []
    : parsed.error.issues.map((i) => ({ variable: String(i.path[0] ?? '(root)'), message: i.message }));
  const secrets = SECRET_VARS.map((k) => merged[k]?.trim()).filter((v): v is string => !!v);
  const issues = [...fieldIssues, ...crossFieldIssues(merged)].map(({ variable, message }) =>
    problem(variable, merged[variable], sourceOf(variable), message, secrets),
  );
  const warnings = [...unknownKeys(fromFile.values, fromFile.where, env), ...overrideWarnings(fromFile, env)];
  let file: FileConfig = {};
  const configFile = merged.CONFIG_FILE?.trim() ? merged.CONFIG_FILE : undefined;
  if (configFile !== undefined) {
    try {
      const read = readConfigFile(resolve(cwd, configFile), configFile);
      file = read.file;
      warnings.push(...read.warnings);
    } catch (e) {
      if (e instanceof ConfigError) issues.push(...e.issues);
      else throw e;
    }
  }
  if (!parsed.success || issues.length > 0) throw new ConfigError(issues);
  const overridden = Object.keys(fromFile.values).filter((k) => env[k] !== undefined);
  return {
    config: toConfig(parsed.data, file),
    env: parsed.data,
    envFile,
    warnings,
    fileValues: fromFile.values,
    overridden,
  };
}
