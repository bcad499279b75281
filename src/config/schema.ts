import { z } from 'zod';
import { CATALOG, type ProviderFacts } from '../providers/catalog.js';
import {
  blankToUndefined,
  bool,
  httpUrl,
  int,
  LOG_LEVELS,
  latency,
  mode,
  optInt,
  positive,
  stateUrl,
  timezone,
  WINDOWS,
} from './fields.js';

/**
 * The configuration schema. Its keys are the environment variable names of contract
 * section 2, so every validation issue names the variable the operator has to fix.
 * `toConfig` turns the validated record into the structured, typed Config.
 *
 * The per-provider variables come from the provider catalog, in catalog order.
 */

export {
  CATALOG,
  PROVIDERS,
  type Provider,
  type ProviderFacts,
  TOKEN_PRICED,
  type TokenPricedProvider,
} from '../providers/catalog.js';
export { type BudgetWindowName, callsUpstream, MODE_LIST, MODES, type Mode, strictUpstream } from './fields.js';
export { type FileConfig, fileSchema } from './file-schema.js';
export { crossFieldIssues, type FieldIssue, type KeyFacts, needsKey, noUpstreamKey } from './rules.js';
export { type BucketRule, type Config, type ProviderConfig, type ProviderLimits, toConfig } from './to-config.js';

type Field = z.ZodType;

/** One group of variables, each provider's in catalog order. */
const providerVars = (vars: (p: ProviderFacts) => [string, Field][]): Record<string, Field> =>
  Object.fromEntries(CATALOG.flatMap(vars));

/** `OPENAI_REQUESTS_PER_HOUR`, `OPENAI_TOKENS_PER_HOUR`, … (or `…_BURST`) for every limit kind. */
const limitVars = (suffix: 'PER_HOUR' | 'BURST') =>
  providerVars((p) => p.limitKinds.map((kind) => [`${p.envPrefix}_${kind.toUpperCase()}_${suffix}`, optInt(1)]));

/** `BUDGET_DAILY_USD` for the total, `OPENAI_BUDGET_DAILY_USD` per provider, for every window. */
const budgetVars = Object.fromEntries(
  ['', ...CATALOG.map((p) => `${p.envPrefix}_`)].flatMap((prefix) =>
    WINDOWS.map((w) => [`${prefix}BUDGET_${w.toUpperCase()}_USD`, positive().optional()]),
  ),
);

export const envSchema = z.object({
  HOST: z.preprocess(blankToUndefined, z.string().default('127.0.0.1')),
  PORT: int(0, 65535).default(8790),
  SERVICE_MODE: mode.default('mock'),
  ...providerVars((p) => [[p.modeVar, mode.optional()]]),
  ...providerVars((p) => [[p.keyVar, z.preprocess(blankToUndefined, z.string().optional())]]),
  ...providerVars((p) => [[p.urlVar, httpUrl.default(p.defaultUrl)]]),
  FORWARD_CLIENT_AUTH: bool(false),
  UPSTREAM_CONNECT_TIMEOUT_MS: int(1).default(2000),
  UPSTREAM_TIMEOUT_MS: int(1).default(120000),
  ...limitVars('PER_HOUR'),
  ...limitVars('BURST'),
  ...budgetVars,
  BUDGET_TIMEZONE: timezone,
  BUDGET_EXCEEDED_ACTION: z.preprocess(
    blankToUndefined,
    z.enum(['reject', 'mock'], { error: 'must be reject or mock' }).default('reject'),
  ),
  BUDGET_WARN_RATIO: z.preprocess(
    blankToUndefined,
    z.coerce.number({ error: 'must be a number' }).min(0).max(1, { error: 'must be between 0 and 1' }).default(0.8),
  ),
  BUDGET_INCLUDE_MOCK: bool(false),
  RESERVE_OUTPUT_TOKENS: int(0).default(4096),
  STATE_URL: stateUrl,
  STATE_SPOOL_DIR: z.preprocess(blankToUndefined, z.string().default('./data/spool')),
  STATE_TIMEOUT_MS: int(50).default(3000),
  CASSETTE_DIR: z.preprocess(blankToUndefined, z.string().default('./cassettes')),
  REPLAY_MISS: z.preprocess(
    (v) => (typeof v === 'string' ? blankToUndefined(v.toLowerCase()) : v),
    z.enum(['mock', 'error'], { error: 'must be mock or error' }).default('mock'),
  ),
  RESPONSE_CACHE_TTL_S: int(0).default(0),
  PRICES_FILE: z.preprocess(blankToUndefined, z.string().optional()),
  CONFIG_FILE: z.preprocess(blankToUndefined, z.string().optional()),
  PID_FILE: z.preprocess(blankToUndefined, z.string().optional()),
  HEALTH_CHECK_INTERVAL_MS: int(100).default(30000),
  HEALTH_CHECK_TIMEOUT_MS: int(50).default(5000),
  CIRCUIT_FAILURE_THRESHOLD: int(1).default(5),
  CIRCUIT_RESET_MS: int(1).default(15000),
  MAX_BODY_BYTES: int(1024).default(20 * 1024 * 1024),
  LLAMAPARSE_MAX_UPLOAD_BYTES: int(1024).default(100 * 1024 * 1024),
  LLAMAPARSE_DEFAULT_PAGES: int(1).default(10),
  LLAMAPARSE_SETTLE_AFTER_S: int(1).default(600),
  ADMIN_TOKEN: z.preprocess(
    blankToUndefined,
    z.string().min(16, { error: 'must be at least 16 characters' }).optional(),
  ),
  ALLOW_MODE_HEADER: bool(false),
  MOCK_LATENCY_MS: latency,
  MOCK_STREAM_CHUNK_DELAY_MS: int(0, 60000).default(0),
  MOCK_ERROR_RATE: z.preprocess(
    blankToUndefined,
    z.coerce.number({ error: 'must be a number' }).min(0).max(1, { error: 'must be between 0 and 1' }).default(0),
  ),
  MOCK_SEED: int(0).default(0),
  MOCK_PARSE_DELAY_MS: int(0, 3600000).default(500),
  SHUTDOWN_GRACE_MS: int(0).default(10000),
  LOG_LEVEL: z.preprocess(
    (v) => (typeof v === 'string' ? blankToUndefined(v.toLowerCase()) : v),
    z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  ),
  OTEL_SERVICE_NAME: z.preprocess(blankToUndefined, z.string().default('tollgate')),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.preprocess(blankToUndefined, httpUrl.optional()),
});

export type EnvRecord = z.infer<typeof envSchema>;

/** Settings that only take effect on restart; a reload that changes them logs a warning. */
export const RESTART_ONLY = [
  'HOST',
  'PORT',
  'STATE_URL',
  'STATE_SPOOL_DIR',
  'PID_FILE',
  'STATE_TIMEOUT_MS',
  'OTEL_SERVICE_NAME',
  'OTEL_EXPORTER_OTLP_ENDPOINT',
] as const;

/** Variables whose values are secrets: masked wherever config is shown. */
export const SECRET_VARS: readonly string[] = [...CATALOG.map((p) => p.keyVar), 'ADMIN_TOKEN'];
