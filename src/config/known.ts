import { type ConfigWarning, closestName, unknownKeyWarning } from './explain.js';
import { shownValue } from './mask.js';
import { CATALOG, envSchema } from './schema.js';

/** Every variable tollgate reads: the schema's, and ENV_FILE, which names the file itself. */
export const KNOWN_VARS: readonly string[] = [...Object.keys(envSchema.shape), 'ENV_FILE'];

/** Standard variables other parts of the process read (the OpenTelemetry SDK, Node): never warned about. */
const FOREIGN_PREFIXES = ['OTEL_', 'NODE_'];

/**
 * The process environment holds PATH, HOME and whatever else the shell set, so only names that
 * start like ours and sit within a typo of a known one are worth a warning there.
 */
const OWN_PREFIXES = [
  ...new Set(CATALOG.flatMap((p) => [`${p.envPrefix}_`, `${p.keyVar.split('_')[0]}_`])),
  'STATE_',
  'BUDGET_',
  'MOCK_',
  'CIRCUIT_',
  'HEALTH_CHECK_',
  'UPSTREAM_',
  'SERVICE_',
  'ADMIN_',
  'TOLLGATE_',
  'CASSETTE_',
  'REPLAY_',
  'RESPONSE_CACHE_',
];

const known = new Set(KNOWN_VARS);
const foreign = (k: string) => FOREIGN_PREFIXES.some((p) => k.startsWith(p));

/**
 * Unknown keys: every one in the env file, and in the process environment only those with one of
 * our prefixes that are a likely typo of a known name (`OPENAI_BUGDET_DAILY_USD`).
 */
export function unknownKeys(
  fileValues: Record<string, string>,
  where: Record<string, string>,
  env: NodeJS.ProcessEnv,
): ConfigWarning[] {
  const fromFile = Object.keys(fileValues)
    .filter((k) => !known.has(k) && !foreign(k))
    .map((k) => unknownKeyWarning(k, where[k] ?? 'env file', KNOWN_VARS));
  const fromEnv = Object.keys(env)
    .filter((k) => env[k] !== undefined && !known.has(k) && !(k in fileValues))
    .filter((k) => OWN_PREFIXES.some((p) => k.startsWith(p)) && closestName(k, KNOWN_VARS) !== undefined)
    .map((k) => unknownKeyWarning(k, 'environment', KNOWN_VARS));
  return [...fromFile, ...fromEnv];
}

/** A variable set in the env file and in the process environment: the environment wins, say so. */
export function overrideWarnings(
  fromFile: { values: Record<string, string>; where: Record<string, string> },
  env: NodeJS.ProcessEnv,
): ConfigWarning[] {
  return Object.keys(fromFile.values)
    .filter((k) => env[k] !== undefined)
    .map((k) => overrideWarning(k, fromFile.where[k] ?? 'env file', fromFile.values[k], env[k]));
}

export function overrideWarning(
  variable: string,
  source: string,
  fileValue: string | undefined,
  envValue: string | undefined,
): ConfigWarning {
  const file = shownValue(variable, fileValue);
  const environment = shownValue(variable, envValue);
  return {
    kind: 'overridden',
    variable,
    source,
    message: `${variable} is set in ${source} (${String(file)}) and in the environment (${String(environment)}); the environment's value is in force`,
  };
}
