import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_FULL,
  ATTR_URL_PATH,
  ATTR_URL_SCHEME,
} from '@opentelemetry/semantic-conventions';
import {
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MAX_TOKENS,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_REQUEST_TEMPERATURE,
  ATTR_GEN_AI_RESPONSE_FINISH_REASONS,
  ATTR_GEN_AI_RESPONSE_ID,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_TOKEN_TYPE,
  ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  GEN_AI_TOKEN_TYPE_VALUE_INPUT,
  GEN_AI_TOKEN_TYPE_VALUE_OUTPUT,
  METRIC_GEN_AI_CLIENT_OPERATION_DURATION,
  METRIC_GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK,
  METRIC_GEN_AI_CLIENT_TOKEN_USAGE,
} from '@opentelemetry/semantic-conventions/incubating';

/**
 * Every metric, span and attribute name the sidecar emits (contract section 8), in one place.
 * Metric names are the OTel instrument names; the Prometheus exporter turns dots into underscores
 * and adds `_total` to counters, which gives the names on /metrics.
 */

export const METRICS = {
  requests: 'tollgate_requests', // → tollgate_requests_total{provider,operation,served_by,status_code}
  cost: 'tollgate_cost_usd', // → tollgate_cost_usd_total{provider,model,operation,served_by}
  tokens: 'tollgate_tokens', // → tollgate_tokens_total{provider,model,token_type}
  pages: 'tollgate_pages', // → tollgate_pages_total{provider,tier}
  fallbacks: 'tollgate_fallbacks', // → tollgate_fallbacks_total{provider,reason}
  rateLimited: 'tollgate_rate_limited', // → tollgate_rate_limited_total{provider,limit}
  unpriced: 'tollgate_unpriced_requests', // → tollgate_unpriced_requests_total{provider,model}
  cacheRequests: 'tollgate_cache_requests', // → tollgate_cache_requests_total{provider,result}
  cacheSaved: 'tollgate_cache_saved_usd', // → tollgate_cache_saved_usd_total{provider}
  budgetLimit: 'tollgate_budget_limit_usd', // {scope,window}
  budgetSpent: 'tollgate_budget_spent_usd',
  budgetRemaining: 'tollgate_budget_remaining_usd',
  ratelimitAvailable: 'tollgate_ratelimit_available', // {provider,model,kind}
  providerUp: 'tollgate_provider_up', // {provider}
  circuitOpen: 'tollgate_circuit_open', // {provider}
  mode: 'tollgate_mode', // {provider,mode}
  genAiTokenUsage: METRIC_GEN_AI_CLIENT_TOKEN_USAGE,
  genAiDuration: METRIC_GEN_AI_CLIENT_OPERATION_DURATION,
  genAiTimeToFirstChunk: METRIC_GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK,
} as const;

/** GenAI semantic-convention histogram buckets. */
export const TOKEN_BUCKETS = [
  1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
];
export const DURATION_BUCKETS = [
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

/**
 * The GenAI semantic-convention release the spans and histograms follow: `@opentelemetry/semantic-conventions`
 * 1.45 (its incubating entry, which now marks the GenAI names as moved to the GenAI conventions
 * repository; the names themselves did not change). Every GenAI name below comes from there; 1.45
 * has all of them, so none is spelled here by hand.
 */
export const GEN_AI_SEMCONV_VERSION = '1.45.0';

export const ATTR = {
  genAiOperation: ATTR_GEN_AI_OPERATION_NAME,
  genAiProvider: ATTR_GEN_AI_PROVIDER_NAME,
  genAiRequestModel: ATTR_GEN_AI_REQUEST_MODEL,
  genAiRequestMaxTokens: ATTR_GEN_AI_REQUEST_MAX_TOKENS,
  genAiRequestTemperature: ATTR_GEN_AI_REQUEST_TEMPERATURE,
  genAiResponseModel: ATTR_GEN_AI_RESPONSE_MODEL,
  genAiResponseId: ATTR_GEN_AI_RESPONSE_ID,
  genAiFinishReasons: ATTR_GEN_AI_RESPONSE_FINISH_REASONS,
  genAiInputTokens: ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  genAiOutputTokens: ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  /** Part of `gen_ai.usage.input_tokens` (the convention's note), as Usage.cachedInputTokens is of inputTokens. */
  genAiCacheReadTokens: ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
  /** Part of `gen_ai.usage.input_tokens` too (Usage.cacheWriteTokens). */
  genAiCacheCreationTokens: ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
  genAiTokenType: ATTR_GEN_AI_TOKEN_TYPE,
  serverAddress: ATTR_SERVER_ADDRESS,
  serverPort: ATTR_SERVER_PORT,
  errorType: ATTR_ERROR_TYPE,
  httpRoute: ATTR_HTTP_ROUTE,
  httpMethod: ATTR_HTTP_REQUEST_METHOD,
  httpStatus: ATTR_HTTP_RESPONSE_STATUS_CODE,
  urlPath: ATTR_URL_PATH,
  urlScheme: ATTR_URL_SCHEME,
  urlFull: ATTR_URL_FULL,
  correlationId: 'correlation.id',
  servedBy: 'tollgate.served_by',
  mode: 'tollgate.mode',
  costUsd: 'tollgate.cost_usd',
  fallbackReason: 'tollgate.fallback_reason',
  limitedBy: 'tollgate.limited_by',
} as const;

/**
 * `gen_ai.token.type` values on `gen_ai.client.token.usage`. The convention (1.45) defines only
 * `input` and `output`: cached and cache-written tokens are span attributes, not token types, so the
 * histogram records them inside `input` as the convention counts them.
 */
export const TOKEN_TYPE = {
  input: GEN_AI_TOKEN_TYPE_VALUE_INPUT,
  output: GEN_AI_TOKEN_TYPE_VALUE_OUTPUT,
} as const;

export const TRACER_NAME = 'tollgate';
