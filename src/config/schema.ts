import { z } from 'zod';

/**
 * The configuration schema. Its keys are the environment variable names of contract
 * section 2, so every validation issue names the variable the operator has to fix.
 * `toConfig` turns the validated record into the structured, typed Config.
 */

export const MODES = ['mock', 'real', 'hybrid'] as const;
export type Mode = (typeof MODES)[number];
export const PROVIDERS = ['openai', 'llamaparse'] as const;
export type Provider = (typeof PROVIDERS)[number];
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const WINDOWS = ['hourly', 'daily', 'monthly'] as const;
export type BudgetWindowName = (typeof WINDOWS)[number];

const blankToUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);

const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.preprocess(
    blankToUndefined,
    z.coerce
      .number({ error: 'must be a number' })
      .int({ error: 'must be a whole number' })
      .min(min, { error: `must be at least ${min}` })
      .max(max, { error: `must be at most ${max}` }),
  );
const optInt = (min: number, max?: number) => int(min, max).optional();
const positive = () =>
  z.preprocess(
    blankToUndefined,
    z.coerce
      .number({ error: 'must be a number' })
      .refine(Number.isFinite, { error: 'must be a finite number' })
      .min(0, { error: 'must not be negative' }),
  );
const bool = (def: boolean) =>
  z.preprocess(
    blankToUndefined,
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' })
      .default(def ? 'true' : 'false')
      .transform((v) => v === 'true' || v === '1' || v === 'yes'),
  );
const mode = z.preprocess(
  (v) => (typeof v === 'string' ? blankToUndefined(v.toLowerCase()) : v),
  z.enum(MODES, { error: 'must be one of mock, real, hybrid' }),
);
const httpUrl = z.preprocess(
  blankToUndefined,
  z
    .string()
    .refine(
      (s) => {
        try {
          const u = new URL(s);
          return (u.protocol === 'http:' || u.protocol === 'https:') && u.username === '' && u.search === '';
        } catch {
          return false;
        }
      },
      { error: 'must be an http(s) URL without credentials or query' },
    )
    .transform((s) => s.replace(/\/+$/, '')),
);
const latency = z.preprocess(
  blankToUndefined,
  z
    .string()
    .default('0')
    .transform((s, ctx): [number, number] => {
      const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(s);
      if (!m) {
        ctx.addIssue({ code: 'custom', message: 'must be milliseconds (e.g. 100) or a range (e.g. 50-200)' });
        return z.NEVER;
      }
      const lo = Number(m[1]);
      const hi = m[2] === undefined ? lo : Number(m[2]);
      if (hi < lo) {
        ctx.addIssue({ code: 'custom', message: 'range must go from low to high' });
        return z.NEVER;
      }
      return [lo, hi];
    }),
);
const stateUrl = z.preprocess(
  blankToUndefined,
  z
    .string()
    .default('sqlite:./data/tollgate.db')
    .refine((s) => s === 'memory:' || /^sqlite:.+/.test(s) || /^rediss?:\/\/.+/.test(s), {
      error: 'must be memory:, sqlite:PATH or redis://…',
    }),
);
const timezone = z.preprocess(
  blankToUndefined,
  z
    .string()
    .default('UTC')
    .refine(
      (tz) => {
        try {
          new Intl.DateTimeFormat('en-US', { timeZone: tz });
          return true;
        } catch {
          return false;
        }
      },
      { error: 'must be an IANA time zone such as UTC or Europe/Berlin' },
    ),
);

const budgetVars = Object.fromEntries(
  ['', 'OPENAI_', 'LLAMAPARSE_'].flatMap((p) =>
    ['HOURLY', 'DAILY', 'MONTHLY'].map((w) => [`${p}BUDGET_${w}_USD`, positive().optional()]),
  ),
);

export const envSchema = z.object({
  HOST: z.preprocess(blankToUndefined, z.string().default('127.0.0.1')),
  PORT: int(0, 65535).default(8790),
  SERVICE_MODE: mode.default('mock'),
  OPENAI_MODE: mode.optional(),
  LLAMAPARSE_MODE: mode.optional(),
  OPENAI_API_KEY: z.preprocess(blankToUndefined, z.string().optional()),
  LLAMA_CLOUD_API_KEY: z.preprocess(blankToUndefined, z.string().optional()),
  OPENAI_UPSTREAM_URL: httpUrl.default('https://api.openai.com/v1'),
  LLAMAPARSE_UPSTREAM_URL: httpUrl.default('https://api.cloud.llamaindex.ai'),
  FORWARD_CLIENT_AUTH: bool(false),
  UPSTREAM_CONNECT_TIMEOUT_MS: int(1).default(2000),
  UPSTREAM_TIMEOUT_MS: int(1).default(120000),
  OPENAI_REQUESTS_PER_HOUR: optInt(1),
  OPENAI_TOKENS_PER_HOUR: optInt(1),
  LLAMAPARSE_REQUESTS_PER_HOUR: optInt(1),
  LLAMAPARSE_PAGES_PER_HOUR: optInt(1),
  OPENAI_REQUESTS_BURST: optInt(1),
  OPENAI_TOKENS_BURST: optInt(1),
  LLAMAPARSE_REQUESTS_BURST: optInt(1),
  LLAMAPARSE_PAGES_BURST: optInt(1),
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
  PRICES_FILE: z.preprocess(blankToUndefined, z.string().optional()),
  CONFIG_FILE: z.preprocess(blankToUndefined, z.string().optional()),
  HEALTH_CHECK_INTERVAL_MS: int(100).default(30000),
  HEALTH_CHECK_TIMEOUT_MS: int(50).default(5000),
  CIRCUIT_FAILURE_THRESHOLD: int(1).default(5),
  CIRCUIT_RESET_MS: int(1).default(15000),
  MAX_BODY_BYTES: int(1024).default(20 * 1024 * 1024),
  LLAMAPARSE_MAX_UPLOAD_BYTES: int(1024).default(100 * 1024 * 1024),
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

/**
 * Rules that span several variables. They read the raw values, so they are reported together
 * with any single-variable errors instead of waiting for those to be fixed first.
 */
export function crossFieldIssues(raw: Record<string, string | undefined>): string[] {
  const issues: string[] = [];
  const val = (k: string) => (raw[k]?.trim() ? raw[k]!.trim() : undefined);
  const forward = ['true', '1', 'yes'].includes(val('FORWARD_CLIENT_AUTH')?.toLowerCase() ?? '');
  const serviceMode = val('SERVICE_MODE')?.toLowerCase() ?? 'mock';
  for (const [provider, modeVar, keyVar] of [
    ['openai', 'OPENAI_MODE', 'OPENAI_API_KEY'],
    ['llamaparse', 'LLAMAPARSE_MODE', 'LLAMA_CLOUD_API_KEY'],
  ] as const) {
    const effective = val(modeVar)?.toLowerCase() ?? serviceMode;
    if (effective === 'real' && !val(keyVar) && !forward) {
      issues.push(`${keyVar}: is required when ${provider} runs in real mode (${modeVar}/SERVICE_MODE=real)`);
    }
  }
  const interval = Number(val('HEALTH_CHECK_INTERVAL_MS') ?? 30000);
  const timeout = Number(val('HEALTH_CHECK_TIMEOUT_MS') ?? 5000);
  if (Number.isFinite(interval) && Number.isFinite(timeout) && timeout > interval) {
    issues.push('HEALTH_CHECK_TIMEOUT_MS: must not exceed HEALTH_CHECK_INTERVAL_MS');
  }
  return issues;
}

/** Optional CONFIG_FILE (YAML or JSON): what does not fit in variables. */
const rate = z.number().int().positive();
const limitSet = z
  .object({
    requests_per_hour: rate.optional(),
    tokens_per_hour: rate.optional(),
    pages_per_hour: rate.optional(),
    requests_burst: rate.optional(),
    tokens_burst: rate.optional(),
    pages_burst: rate.optional(),
  })
  .strict();
const budgetSet = z
  .object({
    hourly_usd: z.number().min(0).optional(),
    daily_usd: z.number().min(0).optional(),
    monthly_usd: z.number().min(0).optional(),
  })
  .strict();
export const fileSchema = z
  .object({
    limits: z
      .partialRecord(z.enum(PROVIDERS), z.object({ models: z.record(z.string(), limitSet).default({}) }).strict())
      .optional(),
    budgets: z
      .record(
        z.string().regex(/^(total|openai|llamaparse|openai:.+|llamaparse:.+)$/, {
          error: 'budget scope must be total, openai, llamaparse, openai:<model> or llamaparse:<tier>',
        }),
        budgetSet,
      )
      .optional(),
    prices: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
export type FileConfig = z.infer<typeof fileSchema>;

export interface ProviderConfig {
  mode: Mode;
  apiKey: string | undefined;
  upstreamUrl: string;
}

export interface BucketRule {
  /** per hour */
  limit: number;
  burst: number;
}

export interface Config {
  host: string;
  port: number;
  providers: Record<Provider, ProviderConfig>;
  defaultMode: Mode;
  forwardClientAuth: boolean;
  upstream: { connectTimeoutMs: number; timeoutMs: number };
  limits: {
    openai: { requests?: BucketRule; tokens?: BucketRule };
    llamaparse: { requests?: BucketRule; pages?: BucketRule };
    models: FileConfig['limits'];
  };
  budgets: {
    /** scope 'total' or a provider → window → USD */
    caps: Record<'total' | Provider, Partial<Record<BudgetWindowName, number>>>;
    extra: FileConfig['budgets'];
    timezone: string;
    exceededAction: 'reject' | 'mock';
    warnRatio: number;
    includeMock: boolean;
  };
  reserveOutputTokens: number;
  stateUrl: string;
  /** Where ledger rows wait while a remote store is out of reach. */
  stateSpoolDir: string;
  pricesFile: string | undefined;
  configFile: string | undefined;
  extraPrices: FileConfig['prices'];
  health: { intervalMs: number; timeoutMs: number };
  circuit: { failureThreshold: number; resetMs: number };
  maxBodyBytes: number;
  maxUploadBytes: number;
  adminToken: string | undefined;
  allowModeHeader: boolean;
  mock: {
    latencyMs: readonly [number, number];
    streamChunkDelayMs: number;
    errorRate: number;
    seed: number;
    parseDelayMs: number;
  };
  shutdownGraceMs: number;
  logLevel: (typeof LOG_LEVELS)[number];
  otel: { serviceName: string; endpoint: string | undefined };
}

/** Default bucket capacity: one minute's worth, at least 1. */
const bucket = (limit: number | undefined, burst: number | undefined): BucketRule | undefined =>
  limit === undefined ? undefined : { limit, burst: burst ?? Math.max(1, Math.ceil(limit / 60)) };

const windowCaps = (env: EnvRecord, prefix: string) => {
  const caps: Partial<Record<BudgetWindowName, number>> = {};
  for (const w of WINDOWS) {
    const v = (env as Record<string, unknown>)[`${prefix}BUDGET_${w.toUpperCase()}_USD`];
    if (typeof v === 'number') caps[w] = v;
  }
  return caps;
};

export function toConfig(env: EnvRecord, file: FileConfig = {}): Config {
  return {
    host: env.HOST,
    port: env.PORT,
    defaultMode: env.SERVICE_MODE,
    providers: {
      openai: {
        mode: env.OPENAI_MODE ?? env.SERVICE_MODE,
        apiKey: env.OPENAI_API_KEY,
        upstreamUrl: env.OPENAI_UPSTREAM_URL,
      },
      llamaparse: {
        mode: env.LLAMAPARSE_MODE ?? env.SERVICE_MODE,
        apiKey: env.LLAMA_CLOUD_API_KEY,
        upstreamUrl: env.LLAMAPARSE_UPSTREAM_URL,
      },
    },
    forwardClientAuth: env.FORWARD_CLIENT_AUTH,
    upstream: { connectTimeoutMs: env.UPSTREAM_CONNECT_TIMEOUT_MS, timeoutMs: env.UPSTREAM_TIMEOUT_MS },
    limits: {
      openai: {
        requests: bucket(env.OPENAI_REQUESTS_PER_HOUR, env.OPENAI_REQUESTS_BURST),
        tokens: bucket(env.OPENAI_TOKENS_PER_HOUR, env.OPENAI_TOKENS_BURST),
      },
      llamaparse: {
        requests: bucket(env.LLAMAPARSE_REQUESTS_PER_HOUR, env.LLAMAPARSE_REQUESTS_BURST),
        pages: bucket(env.LLAMAPARSE_PAGES_PER_HOUR, env.LLAMAPARSE_PAGES_BURST),
      },
      models: file.limits,
    },
    budgets: {
      caps: {
        total: windowCaps(env, ''),
        openai: windowCaps(env, 'OPENAI_'),
        llamaparse: windowCaps(env, 'LLAMAPARSE_'),
      },
      extra: file.budgets,
      timezone: env.BUDGET_TIMEZONE,
      exceededAction: env.BUDGET_EXCEEDED_ACTION,
      warnRatio: env.BUDGET_WARN_RATIO,
      includeMock: env.BUDGET_INCLUDE_MOCK,
    },
    reserveOutputTokens: env.RESERVE_OUTPUT_TOKENS,
    stateUrl: env.STATE_URL,
    stateSpoolDir: env.STATE_SPOOL_DIR,
    pricesFile: env.PRICES_FILE,
    configFile: env.CONFIG_FILE,
    extraPrices: file.prices,
    health: { intervalMs: env.HEALTH_CHECK_INTERVAL_MS, timeoutMs: env.HEALTH_CHECK_TIMEOUT_MS },
    circuit: { failureThreshold: env.CIRCUIT_FAILURE_THRESHOLD, resetMs: env.CIRCUIT_RESET_MS },
    maxBodyBytes: env.MAX_BODY_BYTES,
    maxUploadBytes: env.LLAMAPARSE_MAX_UPLOAD_BYTES,
    adminToken: env.ADMIN_TOKEN,
    allowModeHeader: env.ALLOW_MODE_HEADER,
    mock: {
      latencyMs: env.MOCK_LATENCY_MS,
      streamChunkDelayMs: env.MOCK_STREAM_CHUNK_DELAY_MS,
      errorRate: env.MOCK_ERROR_RATE,
      seed: env.MOCK_SEED,
      parseDelayMs: env.MOCK_PARSE_DELAY_MS,
    },
    shutdownGraceMs: env.SHUTDOWN_GRACE_MS,
    logLevel: env.LOG_LEVEL,
    otel: { serviceName: env.OTEL_SERVICE_NAME, endpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT },
  };
}

/** Settings that only take effect on restart; a reload that changes them logs a warning. */
export const RESTART_ONLY = [
  'HOST',
  'PORT',
  'STATE_URL',
  'STATE_SPOOL_DIR',
  'OTEL_SERVICE_NAME',
  'OTEL_EXPORTER_OTLP_ENDPOINT',
] as const;

/** Variables whose values are secrets: masked wherever config is shown. */
export const SECRET_VARS = ['OPENAI_API_KEY', 'LLAMA_CLOUD_API_KEY', 'ADMIN_TOKEN'] as const;
