import { isObject } from '../../json.js';
import type { ProviderAdapter, RouteSpec, Sizing, WorstCase } from '../adapter.js';
import { createAnthropicMock } from './mock/index.js';
import { countText, promptBound, promptTokens, warmTokenizer } from './tokens.js';
import { usageFromJson, usageFromSse } from './usage.js';

export const anthropicRoutes: RouteSpec[] = [
  { operation: 'messages', method: 'POST', pattern: '/v1/messages', body: 'json', metered: true },
  // Free, but rate-limited as a request: admitted with a worst case of no tokens, never booked.
  { operation: 'count_tokens', method: 'POST', pattern: '/v1/messages/count_tokens', body: 'json', metered: true },
  { operation: 'models', method: 'GET', pattern: '/v1/models', body: 'none', metered: false },
  { operation: 'model', method: 'GET', pattern: '/v1/models/:model', body: 'none', metered: false },
];

const GEN_AI_OPERATION: Record<string, string> = {
  messages: 'chat',
  count_tokens: 'count_tokens',
  models: 'models',
  model: 'models',
};

const positiveInt = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined;

/** `max_tokens` sizes the output; Anthropic requires it, so the configured reservation stands in only for a request it will refuse. */
function outputSizing(json: Record<string, unknown>, reserveOutputTokens: number): Sizing {
  const given = positiveInt(json.max_tokens);
  return {
    param: 'max_tokens',
    value: given ?? reserveOutputTokens,
    perUnit: 1,
    given: given !== undefined,
    of: 'outputTokens',
    defaultVar: 'RESERVE_OUTPUT_TOKENS',
  };
}

function worstOf(operation: string, json: unknown, reserve: number, prompt: () => number): WorstCase | undefined {
  if (!isObject(json) || typeof json.model !== 'string') return undefined;
  if (operation === 'count_tokens') return { inputTokens: 0, outputTokens: 0, pages: 0, model: json.model };
  if (operation !== 'messages') return undefined;
  const sizing = outputSizing(json, reserve);
  return { inputTokens: prompt(), outputTokens: sizing.value, pages: 0, model: json.model, sizing };
}

/**
 * Anthropic's Messages API: messages (JSON and SSE), count_tokens and models are known; every
 * other `/anthropic/v1/*` path passes through to the configured upstream. The sidecar's key goes
 * up as `x-api-key`; `anthropic-version` and `anthropic-beta` pass through from the worker.
 */
export const anthropic: ProviderAdapter = {
  name: 'anthropic',
  prefix: '/anthropic',
  errorShape: 'anthropic',
  uploads: false,
  passthrough: '/v1/*',
  routes: anthropicRoutes,
  mockPath: (rest) => rest,
  authHeaders: (key) => ({ 'x-api-key': key }),
  createMock: (settings, options) => createAnthropicMock(settings, options.now),
  genAiOperation: (operation) => GEN_AI_OPERATION[operation] ?? operation,
  requestModel(_operation, json) {
    return isObject(json) && typeof json.model === 'string' ? json.model : undefined;
  },
  worstCase(operation, json, reserveOutputTokens) {
    return worstOf(operation, json, reserveOutputTokens, () => promptTokens(json as Record<string, unknown>));
  },
  worstCaseBound(operation, json, raw, reserveOutputTokens) {
    if (operation !== 'messages') return undefined;
    return worstOf(operation, json, reserveOutputTokens, () => promptBound(raw));
  },
  countTokens: (_model, text) => countText(text),
  warm: warmTokenizer,
  usageFromJson,
  usageFromSse,
};
