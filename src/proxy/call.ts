import type { Mode, Provider } from '../config/index.js';
import type { Usage } from '../providers/index.js';
import type { FallbackReason } from '../routing/index.js';
import type { ServedBy } from '../state/index.js';

/**
 * What happened in one proxied call. Routing, limits and metering fill it in;
 * telemetry turns it into a log line, metrics and span attributes.
 */
export interface CallRecord {
  correlationId: string;
  traceId: string;
  spanId: string;
  provider: Provider;
  /** Route operation ('chat', 'embeddings', 'parse.upload', 'passthrough', …). */
  operation: string;
  /** GenAI operation name ('chat', 'embeddings', 'parse', …). */
  genAiOperation: string;
  /** Route template, e.g. 'POST /openai/v1/chat/completions'. */
  route: string;
  method: string;
  path: string;
  mode: Mode;
  servedBy: ServedBy;
  fallbackReason: FallbackReason | undefined;
  model: string | undefined;
  /** The request's output cap (`max_tokens`, `max_completion_tokens`, `max_output_tokens`), when it set one. */
  maxTokens: number | undefined;
  /** The request's sampling temperature, when it set one. */
  temperature: number | undefined;
  stream: boolean;
  metered: boolean;
  status: number;
  /** Epoch ms. */
  startedAt: number;
  /** ms from start to the first body byte written to the worker. */
  firstChunkMs: number | undefined;
  durationMs: number;
  usage: Usage | undefined;
  costUsd: number | undefined;
  /** What a cache hit would have cost at the provider (the cost it saved). */
  savedUsd?: number | undefined;
  /** `hit` or `miss` while the response cache is on and the call could be served from it. */
  cache?: 'hit' | 'miss' | undefined;
  /** A stable error code when the call failed (ours or the provider's status class). */
  errorType: string | undefined;
  /** The worker went away before the answer was complete. */
  aborted: boolean;
  /** The model has no price: booked at 0. */
  unpriced: boolean;
  /** Which limit refused or degraded the call ('requests', 'tokens', 'pages', 'budget'). */
  limitedBy: string | undefined;
  /** The provider's answer status, or why none came ('upstream_timeout', 'aborted', …), once it was called. */
  upstream: UpstreamOutcome | undefined;
}

export interface UpstreamOutcome {
  status: number | undefined;
  errorType: string | undefined;
}

/** Who answers a call of `mode` unless a decision says otherwise: the mock, a recording, else the provider. */
export const servedByOf = (mode: Mode): ServedBy => (mode === 'mock' ? 'mock' : mode === 'replay' ? 'replay' : 'real');

/** A fresh record for a call on `route` (a template like 'POST /openai/v1/chat/completions'). */
export function newCall(
  fields: Pick<
    CallRecord,
    'correlationId' | 'provider' | 'operation' | 'genAiOperation' | 'route' | 'method' | 'path' | 'mode' | 'metered'
  >,
): CallRecord {
  // Fields spelled out, not spread: a spread copy is several times slower on this hot path.
  return {
    correlationId: fields.correlationId,
    provider: fields.provider,
    operation: fields.operation,
    genAiOperation: fields.genAiOperation,
    route: fields.route,
    method: fields.method,
    path: fields.path,
    mode: fields.mode,
    metered: fields.metered,
    traceId: '',
    spanId: '',
    servedBy: servedByOf(fields.mode),
    fallbackReason: undefined,
    model: undefined,
    maxTokens: undefined,
    temperature: undefined,
    stream: false,
    status: 0,
    startedAt: Date.now(),
    firstChunkMs: undefined,
    durationMs: 0,
    usage: undefined,
    costUsd: undefined,
    savedUsd: undefined,
    cache: undefined,
    errorType: undefined,
    aborted: false,
    unpriced: false,
    limitedBy: undefined,
    upstream: undefined,
  };
}

const numberOr = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/**
 * The request parameters telemetry reports (GenAI `gen_ai.request.*`), read from a JSON body by the
 * names the providers share (OpenAI chat and responses, Anthropic messages): no copy, no allocation.
 */
export function readRequestParams(call: CallRecord, json: Record<string, unknown>): void {
  call.maxTokens =
    numberOr(json.max_tokens) ?? numberOr(json.max_completion_tokens) ?? numberOr(json.max_output_tokens);
  call.temperature = numberOr(json.temperature);
}
