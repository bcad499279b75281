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
  genAiTokenUsage: 'gen_ai.client.token.usage',
  genAiDuration: 'gen_ai.client.operation.duration',
  genAiTimeToFirstChunk: 'gen_ai.client.operation.time_to_first_chunk',
} as const;

/** GenAI semantic-convention histogram buckets. */
export const TOKEN_BUCKETS = [
  1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
];
export const DURATION_BUCKETS = [
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

export const ATTR = {
  genAiOperation: 'gen_ai.operation.name',
  genAiProvider: 'gen_ai.provider.name',
  genAiRequestModel: 'gen_ai.request.model',
  genAiResponseModel: 'gen_ai.response.model',
  genAiResponseId: 'gen_ai.response.id',
  genAiFinishReasons: 'gen_ai.response.finish_reasons',
  genAiInputTokens: 'gen_ai.usage.input_tokens',
  genAiOutputTokens: 'gen_ai.usage.output_tokens',
  genAiTokenType: 'gen_ai.token.type',
  serverAddress: 'server.address',
  serverPort: 'server.port',
  errorType: 'error.type',
  httpRoute: 'http.route',
  httpMethod: 'http.request.method',
  httpStatus: 'http.response.status_code',
  urlPath: 'url.path',
  urlScheme: 'url.scheme',
  urlFull: 'url.full',
  correlationId: 'correlation.id',
  servedBy: 'tollgate.served_by',
  mode: 'tollgate.mode',
  costUsd: 'tollgate.cost_usd',
  fallbackReason: 'tollgate.fallback_reason',
  limitedBy: 'tollgate.limited_by',
} as const;

export const TRACER_NAME = 'tollgate';
