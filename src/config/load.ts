import { readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { type ConfigInputs, envFilePath } from './env-file.js';
import {
  type Config,
  crossFieldIssues,
  type EnvRecord,
  envSchema,
  type FileConfig,
  fileSchema,
  SECRET_VARS,
  toConfig,
} from './schema.js';

/** Invalid configuration: every bad variable or field, each with why. */
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

const formatIssues = (issues: z.core.$ZodIssue[], prefix = '') =>
  issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    return `${prefix}${path || '(root)'}: ${issue.message}`;
  });

function readConfigFile(path: string): FileConfig {
  let raw: unknown;
  try {
    const text = readFileSync(path, 'utf8');
    raw = extname(path) === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new ConfigError([`CONFIG_FILE: cannot read ${path}: ${(e as Error).message}`]);
  }
  const parsed = fileSchema.safeParse(raw ?? {});
  if (!parsed.success) throw new ConfigError(formatIssues(parsed.error.issues, 'CONFIG_FILE '));
  return parsed.data;
}

/**
 * Reads the environment, the env file and CONFIG_FILE, and validates them.
 * @throws ConfigError naming every bad variable or field.
 */
export function loadConfig(options: LoadOptions = {}): Loaded {
  const { env, cwd } = withProcessDefaults(options);
  const envFile = envFilePath({ env, cwd });
  let fromFile: Record<string, string> = {};
  if (envFile !== undefined) {
    try {
      fromFile = parseDotenv(readFileSync(envFile));
    } catch (e) {
      throw new ConfigError([`ENV_FILE: cannot read ${envFile}: ${(e as Error).message}`]);
    }
  }
  const merged: Record<string, string | undefined> = { ...fromFile };
  for (const [k, v] of Object.entries(env)) if (v !== undefined) merged[k] = v;

  const parsed = envSchema.safeParse(merged);
  const issues = [...(parsed.success ? [] : formatIssues(parsed.error.issues)), ...crossFieldIssues(merged)];
  let file: FileConfig = {};
  const configFile =
    typeof merged.CONFIG_FILE === 'string' && merged.CONFIG_FILE !== '' ? merged.CONFIG_FILE : undefined;
  if (configFile !== undefined) {
    try {
      file = readConfigFile(resolve(cwd, configFile));
    } catch (e) {
      if (e instanceof ConfigError) issues.push(...e.issues);
      else throw e;
    }
  }
  if (!parsed.success || issues.length > 0) throw new ConfigError(issues);
  return { config: toConfig(parsed.data, file), env: parsed.data, envFile };
}

/** Masks a secret for display: keeps its form (`sk-…`) and length class, never its value. */
export function maskSecret(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const prefix = /^(sk-proj-|sk-|llx-)/.exec(value)?.[0] ?? '';
  return `${prefix}****`;
}

/** The validated variables with secrets masked, for check-config and /admin/config. */
export function maskedEnv(env: EnvRecord): Record<string, unknown> {
  const out: Record<string, unknown> = { ...env };
  for (const k of SECRET_VARS) if (out[k] !== undefined) out[k] = maskSecret(String(out[k]));
  // A store URL may carry a password (redis://:secret@host): keep the rest, mask the credentials.
  out.STATE_URL = maskUrlCredentials(env.STATE_URL);
  return out;
}

/** `redis://user:secret@host/0` → `redis://user:****@host/0`; URLs without credentials unchanged. */
export function maskUrlCredentials(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^@/]*)@/i, (_m, scheme: string, cred: string) => {
    const user = cred.includes(':') ? cred.slice(0, cred.indexOf(':')) : '';
    return `${scheme}${user}:****@`;
  });
}
