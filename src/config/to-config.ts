import { dirname, join } from 'node:path';
import { CATALOG, type Provider, type ProviderFacts, type ProviderLimitKind } from '../providers/catalog.js';
import { type BudgetWindowName, type LOG_LEVELS, type Mode, WINDOWS } from './fields.js';
import type { FileConfig } from './file-schema.js';
import type { EnvRecord } from './schema.js';

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

/** Each provider's hourly limits, by the kinds its catalog entry names. */
export type ProviderLimits = { [P in Provider]: { [K in ProviderLimitKind<P>]?: BucketRule } };

export interface Config {
  host: string;
  port: number;
  providers: Record<Provider, ProviderConfig>;
  defaultMode: Mode;
  forwardClientAuth: boolean;
  upstream: { connectTimeoutMs: number; timeoutMs: number };
  limits: ProviderLimits & { models: FileConfig['limits'] };
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
  /** Where the serving process writes its pid, for `tollgate reload`: PID_FILE, else beside the state. */
  pidFile: string;
  /** How long a call waits for a slow remote store before 503 state_unavailable. */
  stateTimeoutMs: number;
  pricesFile: string | undefined;
  /** RECORD and REPLAY: where recordings live, what a miss gets, what the key leaves out. */
  cassettes: { dir: string; replayMiss: 'mock' | 'error'; volatileFields: readonly string[] };
  /** The response cache of REAL and HYBRID; ttlMs 0 is off. */
  responseCache: { ttlMs: number; cacheSampled: boolean; maxEntries: number };
  configFile: string | undefined;
  extraPrices: FileConfig['prices'];
  health: { intervalMs: number; timeoutMs: number };
  circuit: { failureThreshold: number; resetMs: number };
  maxBodyBytes: number;
  maxUploadBytes: number;
  /** LlamaParse jobs: pages held for an upload that cannot be counted; when the sidecar settles an unread job. */
  parseJobs: { defaultPages: number; settleAfterMs: number };
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

/** Request fields that never make two requests different for a recording or the cache. */
export const VOLATILE_FIELDS = ['user', 'metadata', 'stream_options'] as const;

/**
 * A provider variable by its catalog name. The schema built those variables from the same
 * catalog and validated them, so `T` is what their field parser produced.
 */
const read = <T>(env: EnvRecord, name: string): T => (env as Record<string, unknown>)[name] as T;

/** Default bucket capacity: one minute's worth, at least 1. */
const bucket = (limit: number | undefined, burst: number | undefined): BucketRule | undefined =>
  limit === undefined ? undefined : { limit, burst: burst ?? Math.max(1, Math.ceil(limit / 60)) };

const windowCaps = (env: EnvRecord, prefix: string) => {
  const caps: Partial<Record<BudgetWindowName, number>> = {};
  for (const w of WINDOWS) {
    const v = read<unknown>(env, `${prefix}BUDGET_${w.toUpperCase()}_USD`);
    if (typeof v === 'number') caps[w] = v;
  }
  return caps;
};

const byProvider = <T>(value: (facts: ProviderFacts) => T): Record<Provider, T> =>
  Object.fromEntries(CATALOG.map((facts) => [facts.name, value(facts)])) as Record<Provider, T>;

const providerConfig = (env: EnvRecord, p: ProviderFacts): ProviderConfig => ({
  mode: read<Mode | undefined>(env, p.modeVar) ?? env.SERVICE_MODE,
  apiKey: read<string | undefined>(env, p.keyVar),
  upstreamUrl: read<string>(env, p.urlVar),
});

const providerLimits = (env: EnvRecord, p: ProviderFacts): Record<string, BucketRule | undefined> =>
  Object.fromEntries(
    p.limitKinds.map((kind) => {
      const name = `${p.envPrefix}_${kind.toUpperCase()}`;
      return [kind, bucket(read(env, `${name}_PER_HOUR`), read(env, `${name}_BURST`))];
    }),
  );

export function toConfig(env: EnvRecord, file: FileConfig = {}): Config {
  return {
    host: env.HOST,
    port: env.PORT,
    defaultMode: env.SERVICE_MODE,
    providers: byProvider((p) => providerConfig(env, p)),
    forwardClientAuth: env.FORWARD_CLIENT_AUTH,
    upstream: { connectTimeoutMs: env.UPSTREAM_CONNECT_TIMEOUT_MS, timeoutMs: env.UPSTREAM_TIMEOUT_MS },
    limits: { ...(byProvider((p) => providerLimits(env, p)) as ProviderLimits), models: file.limits },
    budgets: {
      caps: { total: windowCaps(env, ''), ...byProvider((p) => windowCaps(env, `${p.envPrefix}_`)) },
      extra: file.budgets,
      timezone: env.BUDGET_TIMEZONE,
      exceededAction: env.BUDGET_EXCEEDED_ACTION,
      warnRatio: env.BUDGET_WARN_RATIO,
      includeMock: env.BUDGET_INCLUDE_MOCK,
    },
    reserveOutputTokens: env.RESERVE_OUTPUT_TOKENS,
    stateUrl: env.STATE_URL,
    stateSpoolDir: env.STATE_SPOOL_DIR,
    pidFile: env.PID_FILE ?? join(dirname(env.STATE_SPOOL_DIR), 'tollgate.pid'),
    stateTimeoutMs: env.STATE_TIMEOUT_MS,
    pricesFile: env.PRICES_FILE,
    cassettes: {
      dir: env.CASSETTE_DIR,
      replayMiss: env.REPLAY_MISS,
      volatileFields: [...VOLATILE_FIELDS, ...(file.cassettes?.volatile_fields ?? [])],
    },
    responseCache: {
      ttlMs: env.RESPONSE_CACHE_TTL_S * 1000,
      cacheSampled: file.response_cache?.cache_sampled ?? false,
      maxEntries: file.response_cache?.max_entries ?? 10_000,
    },
    configFile: env.CONFIG_FILE,
    extraPrices: file.prices,
    health: { intervalMs: env.HEALTH_CHECK_INTERVAL_MS, timeoutMs: env.HEALTH_CHECK_TIMEOUT_MS },
    circuit: { failureThreshold: env.CIRCUIT_FAILURE_THRESHOLD, resetMs: env.CIRCUIT_RESET_MS },
    maxBodyBytes: env.MAX_BODY_BYTES,
    maxUploadBytes: env.LLAMAPARSE_MAX_UPLOAD_BYTES,
    parseJobs: { defaultPages: env.LLAMAPARSE_DEFAULT_PAGES, settleAfterMs: env.LLAMAPARSE_SETTLE_AFTER_S * 1000 },
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
