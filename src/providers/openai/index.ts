import type { ProviderAdapter, RouteSpec, Usage } from '../adapter.js';
import { createOpenAIMock } from './mock/index.js';
import { usageFromJson, usageFromSse } from './usage.js';

export const openaiRoutes: RouteSpec[] = [
  { operation: 'chat', method: 'POST', pattern: '/chat/completions', body: 'json', metered: true },
  { operation: 'embeddings', method: 'POST', pattern: '/embeddings', body: 'json', metered: true },
  { operation: 'responses', method: 'POST', pattern: '/responses', body: 'json', metered: true },
  { operation: 'models', method: 'GET', pattern: '/models', body: 'none', metered: false },
  { operation: 'model', method: 'GET', pattern: '/models/:model', body: 'none', metered: false },
];

const GEN_AI_OPERATION: Record<string, string> = {
  chat: 'chat',
  embeddings: 'embeddings',
  responses: 'chat',
  models: 'models',
  model: 'models',
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * OpenAI: chat completions, embeddings, responses and models are known and metered; every
 * other `/openai/v1/*` path passes through to the configured upstream.
 */
export const openai: ProviderAdapter = {
  name: 'openai',
  prefix: '/openai/v1',
  errorShape: 'openai',
  passthrough: '/*',
  routes: openaiRoutes,
  mockPath: (rest) => `/v1${rest}`,
  authHeaders: (key) => ({ authorization: `Bearer ${key}` }),
  createMock: (settings, options) => createOpenAIMock(settings, options.now),
  genAiOperation: (operation) => GEN_AI_OPERATION[operation] ?? operation,
  requestModel(_operation, json) {
    return isObject(json) && typeof json.model === 'string' ? json.model : undefined;
  },
  prepareJson(operation, json) {
    // To meter a chat stream OpenAI must send usage; ask for it, and strip it again if the worker did not.
    if (operation !== 'chat' || !isObject(json) || json.stream !== true) return undefined;
    const options = isObject(json.stream_options) ? json.stream_options : undefined;
    if (options?.include_usage === true) return undefined;
    return { body: { ...json, stream_options: { ...options, include_usage: true } }, stripUsage: true };
  },
  usageFromJson: (operation, body): Usage | undefined => usageFromJson(operation, body),
  usageFromSse,
};
