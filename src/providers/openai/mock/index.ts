/**
 * The built-in OpenAI mock: same shapes as the real API (as the official SDK parses them),
 * deterministic for a given MOCK_SEED and input, with injected latency, stream pacing and
 * faults from the mock settings.
 *
 * @example
 * const mock = createOpenAIMock(() => settings.mock);
 * const reply = await mock.handle({ operation: 'chat', method: 'POST', path: '/v1/chat/completions',
 *   params: {}, query: new URLSearchParams(), headers: {}, json: body, signal, correlationId });
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { notFound } from '../../../errors.js';
import type { MockCall, MockSettings, ProviderMock, ProviderReply } from '../../types.js';
import { chatCompletions } from './chat.js';
import { embeddings } from './embeddings.js';
import { listModels, retrieveModel } from './models.js';
import { rngFrom } from './prng.js';
import { jsonReply, type MockContext, openaiErrorBody } from './reply.js';
import { responses } from './responses.js';

export { nativeDimensions } from './embeddings.js';
export { MOCK_MODELS, type MockModel } from './models.js';

type Operation = (call: MockCall, ctx: MockContext) => ProviderReply;

const OPERATIONS: Record<string, Operation> = {
  chat: chatCompletions,
  embeddings,
  responses,
  models: listModels,
  model: retrieveModel,
};

const SERVER_ERROR = openaiErrorBody(
  'The server had an error while processing your request. Sorry about that!',
  'server_error',
  null,
  null,
);

/** Rejects with the signal's reason when the worker hangs up: the caller stops, nothing is answered. */
async function sleepFor(ms: number, call: MockCall): Promise<void> {
  // Without a wait the signal is not read (the proxy makes it on first read, and checks a hang-up itself).
  if (ms > 0) await sleep(ms, undefined, { signal: call.signal });
}

/**
 * A ProviderMock for OpenAI. `settings` is read on every call, so hot-reloaded mock settings
 * apply to the next request. Invalid requests throw TollgateErrors (400/404) for the caller to
 * render; injected faults and model_not_found are answered as replies in OpenAI's exact shape.
 * A call whose signal aborts during the injected latency rejects with the signal's reason.
 */
export function createOpenAIMock(settings: () => MockSettings, now: () => number = Date.now): ProviderMock {
  // Counts calls so a fixed seed gives the same sequence of latencies and faults, run after run.
  let calls = 0;

  return {
    async handle(call: MockCall): Promise<ProviderReply> {
      const startedAt = now();
      const operation = OPERATIONS[call.operation];
      if (operation === undefined) throw notFound(call.method, call.path);

      const current = settings();
      const index = calls++;
      const [low, high] = current.latencyMs;
      let latency = Math.max(0, low);
      let fails = false;
      // Each call's draws come from its own hash, so a call that needs none skips the hash
      // without shifting what later calls draw.
      if (high > low || current.errorRate > 0) {
        const draw = rngFrom(current.seed, 'realism', index);
        if (high > low) latency = draw.int(Math.max(0, low), high);
        fails = draw.next() < current.errorRate;
      }
      await sleepFor(latency, call);
      if (fails) return jsonReply(500, SERVER_ERROR, startedAt, now);

      const ctx: MockContext = {
        seed: current.seed,
        streamChunkDelayMs: current.streamChunkDelayMs,
        startedAt,
        now,
        get signal() {
          return call.signal;
        },
      };
      return operation(call, ctx);
    },
  };
}
