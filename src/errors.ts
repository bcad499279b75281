/**
 * One error family for everything the sidecar itself answers. Each error has a stable
 * `code` (documented in docs/errors.md) and renders in the calling provider's shape:
 * OpenAI `{"error":{"message","type","param","code"}}`, LlamaCloud `{"detail","code"}`,
 * Anthropic `{"type":"error","error":{"type","message","code"}}`.
 */

export type ProviderShape = 'openai' | 'llamaparse' | 'anthropic';

export type ErrorCode =
  | 'invalid_json'
  | 'invalid_request'
  | 'unsupported_media_type'
  | 'not_found'
  | 'method_not_allowed'
  | 'request_too_large'
  | 'rate_limit_exceeded'
  | 'budget_exceeded'
  | 'unauthorized'
  | 'upstream_unreachable'
  | 'provider_unavailable'
  | 'upstream_timeout'
  | 'upstream_error'
  | 'mock_fault'
  | 'state_unavailable'
  | 'cassette_miss'
  | 'internal_error';

/** OpenAI's `type` for each of our codes. */
const OPENAI_TYPE: Record<ErrorCode, string> = {
  invalid_json: 'invalid_request_error',
  invalid_request: 'invalid_request_error',
  unsupported_media_type: 'invalid_request_error',
  not_found: 'invalid_request_error',
  method_not_allowed: 'invalid_request_error',
  request_too_large: 'invalid_request_error',
  rate_limit_exceeded: 'requests',
  budget_exceeded: 'insufficient_quota',
  unauthorized: 'invalid_request_error',
  upstream_unreachable: 'api_error',
  provider_unavailable: 'api_error',
  upstream_timeout: 'api_error',
  upstream_error: 'api_error',
  mock_fault: 'server_error',
  state_unavailable: 'server_error',
  cassette_miss: 'invalid_request_error',
  internal_error: 'server_error',
};

/**
 * Anthropic's `error.type` for an error of ours, by its status as Anthropic documents them (400
 * invalid_request_error, 401 authentication_error, 403 permission_error, 404 not_found_error, 413
 * request_too_large, 429 rate_limit_error, 504 timeout_error, 529 overloaded_error, else api_error);
 * an open circuit (503) is the provider being overloaded. Our code goes beside it in `error.code`.
 */
const ANTHROPIC_BY_STATUS: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  405: 'invalid_request_error',
  413: 'request_too_large',
  415: 'invalid_request_error',
  429: 'rate_limit_error',
  504: 'timeout_error',
  529: 'overloaded_error',
};
const anthropicType = (status: number, code: ErrorCode) =>
  code === 'provider_unavailable' ? 'overloaded_error' : (ANTHROPIC_BY_STATUS[status] ?? 'api_error');

export interface TollgateErrorOptions {
  /** OpenAI `type`; defaults per code. */
  type?: string;
  param?: string | null;
  headers?: Record<string, string>;
  cause?: unknown;
}

export class TollgateError extends Error {
  override readonly name: string = 'TollgateError';
  readonly status: number;
  readonly code: ErrorCode;
  readonly type: string;
  readonly param: string | null;
  readonly headers: Record<string, string>;

  constructor(status: number, code: ErrorCode, message: string, options: TollgateErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = status;
    this.code = code;
    this.type = options.type ?? OPENAI_TYPE[code];
    this.param = options.param ?? null;
    this.headers = options.headers ?? {};
  }

  /** The body in the provider's error shape. */
  body(shape: ProviderShape): object {
    if (shape === 'llamaparse') return { detail: this.message, code: this.code };
    if (shape === 'anthropic') {
      return {
        type: 'error',
        error: { type: anthropicType(this.status, this.code), message: this.message, code: this.code },
      };
    }
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }

  /** Hono renders anything with getResponse(); the shape defaults to OpenAI's. */
  getResponse(shape: ProviderShape = 'openai'): Response {
    return new Response(JSON.stringify(this.body(shape)), {
      status: this.status,
      headers: { 'content-type': 'application/json', ...this.headers },
    });
  }
}

export const invalidJson = (detail: string) =>
  new TollgateError(400, 'invalid_json', `We could not parse the JSON body of your request. (${detail})`);

export const invalidRequest = (message: string, param: string | null = null) =>
  new TollgateError(400, 'invalid_request', message, { param });

export const notFound = (method: string, path: string) =>
  new TollgateError(404, 'not_found', `Invalid URL (${method} ${path})`);

/** REPLAY with REPLAY_MISS=error found no recording for the request. */
export const cassetteMiss = (method: string, path: string, file: string | undefined, dir: string) =>
  new TollgateError(
    404,
    'cassette_miss',
    file === undefined
      ? `No recording can match ${method} ${path}: its body cannot be keyed (REPLAY_MISS=error)`
      : `No recording for ${method} ${path} in ${dir} (expected ${file}); record it with mode record, or set REPLAY_MISS=mock`,
  );

export const unsupportedMediaType = (expected: string, got: string | undefined) =>
  new TollgateError(415, 'unsupported_media_type', `Expected content-type ${expected}, got ${got ?? 'none'}`);

export const requestTooLarge = (limit: number) =>
  new TollgateError(413, 'request_too_large', `Request body is larger than the limit of ${limit} bytes`);

/** `address` is the upstream's host:port (never credentials); `code` the transport's (ECONNREFUSED, ENOTFOUND, …). */
export const upstreamUnreachable = (provider: string, address: string, code: string, remedy: string, cause?: unknown) =>
  new TollgateError(
    502,
    'upstream_unreachable',
    `Could not connect to the ${provider} upstream at ${address} (${code}): ${remedy}.`,
    { cause },
  );

/** `cause` names the timeout that fired and its setting (UND_ERR_CONNECT_TIMEOUT, UPSTREAM_TIMEOUT_MS). */
export const upstreamTimeout = (provider: string, address: string, cause: string, remedy: string, error?: unknown) =>
  new TollgateError(
    504,
    'upstream_timeout',
    `The ${provider} upstream at ${address} did not answer in time (${cause}): ${remedy}.`,
    { cause: error },
  );

export const providerUnavailable = (provider: string, retryAfterSeconds: number) =>
  new TollgateError(503, 'provider_unavailable', `The ${provider} circuit is open after repeated failures`, {
    headers: { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))) },
  });

/** A token bucket as a 429 names it (limit per hour, burst = capacity) and the settings that set it. */
export interface LimitedBucket {
  scope: string;
  kind: string;
  limit: number;
  burst: number;
  /** `OPENAI_REQUESTS_PER_HOUR`, or a CONFIG_FILE path. */
  setBy: string;
  /** `OPENAI_REQUESTS_BURST`, or a CONFIG_FILE path. */
  burstSetBy: string;
}

const perHour = (b: LimitedBucket) => `${b.limit} ${b.kind} per hour (burst ${b.burst})`;
const then = (hint: string | undefined) => (hint === undefined ? '' : ` ${hint}`);

/**
 * The bucket is short for now: retry in `retryAfterMs`. `reset` is that delay as the
 * x-ratelimit-reset-* headers write it (the limits module owns that format).
 */
export const rateLimited = (bucket: LimitedBucket, retryAfterMs: number, reset: string) => {
  const seconds = retryAfterMs / 1000;
  return new TollgateError(
    429,
    'rate_limit_exceeded',
    `Rate limit reached for ${bucket.scope} ${bucket.kind}: ${perHour(bucket)}, set by ${bucket.setBy}. Please try again in ${seconds.toFixed(3)}s.`,
    {
      type: bucket.kind,
      headers: {
        'retry-after': String(Math.max(1, Math.ceil(seconds))),
        'retry-after-ms': String(Math.ceil(retryAfterMs)),
        [`x-ratelimit-limit-${bucket.kind}`]: String(bucket.limit),
        [`x-ratelimit-remaining-${bucket.kind}`]: '0',
        [`x-ratelimit-reset-${bucket.kind}`]: reset,
      },
    },
  );
};

/** The call alone needs more than the bucket can ever hold: no retry will help. `hint` says what would fit. */
export const beyondBucket = (bucket: LimitedBucket, amount: number, hint?: string) =>
  new TollgateError(
    429,
    'rate_limit_exceeded',
    `This request needs ${amount} ${bucket.kind}, more than the ${bucket.scope} ${bucket.kind} bucket can ever hold (${perHour(bucket)}; the capacity is set by ${bucket.burstSetBy}).${then(hint ?? 'Reduce the request size (e.g. max_tokens).')}`,
    { type: bucket.kind, headers: { 'x-should-retry': 'false' } },
  );

/** A spend budget as a 429 names it; `resetsAt` is the end of its window (epoch ms). */
export interface LimitedBudget {
  scope: string;
  window: string;
  limitUsd: number;
  resetsAt: number;
  /** `BUDGET_DAILY_USD`, `OPENAI_BUDGET_DAILY_USD`, or a CONFIG_FILE path. */
  setBy: string;
}

const budgetError = (message: string) =>
  new TollgateError(429, 'budget_exceeded', message, {
    type: 'insufficient_quota',
    headers: { 'x-should-retry': 'false' },
  });

/**
 * What is spent plus the call's worst case would go past the budget before its window ends.
 * `hint` says which request field made the worst case and how much would fit.
 */
export const budgetExceeded = (budget: LimitedBudget, spentUsd: number, worstUsd: number, hint?: string) =>
  budgetError(
    `The ${budget.window} ${budget.scope} budget of $${budget.limitUsd.toFixed(4)} (set by ${budget.setBy}) would be exceeded ($${spentUsd.toFixed(6)} spent, this request may cost up to $${worstUsd.toFixed(6)}). It resets at ${new Date(budget.resetsAt).toISOString()}.${then(hint)}`,
  );

/** The call's worst case alone is more than the whole budget: no window will fit it. */
export const beyondBudget = (budget: LimitedBudget, worstUsd: number, hint?: string) =>
  budgetError(
    `This request's worst-case cost ($${worstUsd.toFixed(6)}) is more than the whole ${budget.window} ${budget.scope} budget ($${budget.limitUsd.toFixed(4)}, set by ${budget.setBy}).${then(hint)}`,
  );

/** The sidecar itself failed (a bug): the worker learns nothing more, the log has the error. */
export const internalError = () =>
  new TollgateError(500, 'internal_error', 'The sidecar failed to handle this request');

export const isTollgateError = (e: unknown): e is TollgateError => e instanceof TollgateError;
