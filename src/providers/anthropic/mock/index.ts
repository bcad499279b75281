/**
 * The built-in Anthropic mock: the Messages API's shapes (as the official SDK types and parses them),
 * deterministic for a given MOCK_SEED and request, with injected latency, stream pacing and faults
 * from the mock settings, and a prompt cache (`cache_control`) that reads what earlier calls wrote.
 * Its own errors are answers in Anthropic's shape with a `request-id`.
 *
 * @example
 * const mock = createAnthropicMock(() => settings.mock);
 * const reply = await mock.handle({ operation: 'messages', method: 'POST', path: '/v1/messages',
 *   params: {}, query: new URLSearchParams(), headers: {}, json: body, signal, correlationId });
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { notFound } from '../../../errors.js';
import { Mulberry32 } from '../../../random.js';
import type { MockCall, MockSettings, ProviderMock, ProviderReply } from '../../types.js';
import { promptTokens } from '../tokens.js';
import { PromptCache } from './cache.js';
import { answerFor } from './messages.js';
import { listModels, retrieveModel } from './models.js';
import { errorReply, jsonReply, sseReply } from './reply.js';
import { streamFrames } from './stream.js';
import { seedFor } from './text.js';
import { checkRequest } from './validate.js';

export type { MockMessage } from './messages.js';
export { MOCK_MODELS, type MockModel, modelInfo } from './models.js';
export type { MockErrorBody } from './reply.js';
export type { MockStreamEvent } from './stream.js';

type Operation = (call: MockCall, settings: MockSettings, cache: PromptCache) => ProviderReply;

/** Claude model ids; anything else is a 404 as the API answers it. */
const CLAUDE = /^claude-[a-z0-9.-]+$/;

function checked(call: MockCall, countOnly: boolean) {
  const result = checkRequest(call.json, countOnly);
  if (!result.ok) return errorReply(400, 'invalid_request_error', result.message);
  if (!CLAUDE.test(result.request.model)) return errorReply(404, 'not_found_error', `model: ${result.request.model}`);
  return result.request;
}

const messages: Operation = (call, settings, cache) => {
  const request = checked(call, false);
  if ('status' in request) return request;
  const message = answerFor(request, settings.seed, cache.use(request.model, request.json));
  if (!request.stream) return jsonReply(200, message);
  return sseReply(streamFrames(message), settings.streamChunkDelayMs, call.signal);
};

const countTokens: Operation = (call) => {
  const request = checked(call, true);
  if ('status' in request) return request;
  return jsonReply(200, { input_tokens: promptTokens(request.json) });
};

const OPERATIONS: Record<string, Operation> = {
  messages,
  count_tokens: countTokens,
  models: (call) => listModels(call),
  model: (call) => retrieveModel(call),
};

/**
 * A ProviderMock for Anthropic. `settings` is read on every call, so hot-reloaded mock settings apply
 * to the next request. A call whose signal aborts during the injected latency rejects with its reason.
 */
export function createAnthropicMock(settings: () => MockSettings, now: () => number = Date.now): ProviderMock {
  // Counts calls so a fixed seed gives the same sequence of latencies and faults, run after run.
  let calls = 0;
  const cache = new PromptCache(now);
  return {
    async handle(call: MockCall): Promise<ProviderReply> {
      const operation = OPERATIONS[call.operation];
      if (operation === undefined) throw notFound(call.method, call.path);
      const current = settings();
      const [low, high] = current.latencyMs;
      const draw = new Mulberry32(seedFor(current.seed, 'realism', String(calls++)));
      const latency = high > low ? Math.round(low + draw.next() * (high - low)) : Math.max(0, low);
      const fails = current.errorRate > 0 && draw.next() < current.errorRate;
      // A worker that hangs up during the latency: reject with the signal's reason, answer nothing.
      // Without a wait the signal is not read (the proxy makes it on first read, and checks a hang-up itself).
      if (latency > 0) {
        await sleep(latency, undefined, { signal: call.signal }).catch(() => call.signal.throwIfAborted());
        call.signal.throwIfAborted();
      }
      if (fails) return errorReply(500, 'api_error', 'Internal server error');
      return operation(call, current, cache);
    },
  };
}
