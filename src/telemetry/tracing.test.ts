import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { newCall, readRequestParams } from '../proxy/call.js';
import { otelTracer } from './tracing.js';

function tracer() {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  return { exporter, calls: otelTracer(() => 'http://127.0.0.1:9/v1', provider.getTracer('test')) };
}

const chat = () =>
  newCall({
    correlationId: 'corr-cache-1',
    provider: 'openai',
    operation: 'chat',
    genAiOperation: 'chat',
    route: 'POST /openai/v1/chat/completions',
    method: 'POST',
    path: '/openai/v1/chat/completions',
    mode: 'real',
    metered: true,
  });

describe('GenAI span attributes (semantic conventions 1.45)', () => {
  it('puts cache reads and cache writes on the CLIENT span, as parts of the input tokens', () => {
    const { exporter, calls } = tracer();
    const call = chat();
    call.model = 'gpt-4o-mini';
    const span = calls.start(call, {}, performance.now());
    call.status = 200;
    call.usage = {
      inputTokens: 1200,
      cachedInputTokens: 1024,
      cacheWriteTokens: 150,
      outputTokens: 7,
      pages: 0,
      reported: true,
      finishReasons: ['stop'],
    };
    span.end(call);
    const client = exporter.getFinishedSpans().find((s) => s.name === 'chat gpt-4o-mini')!;
    assert.equal(client.attributes['gen_ai.usage.input_tokens'], 1200);
    assert.equal(client.attributes['gen_ai.usage.cache_read.input_tokens'], 1024);
    assert.equal(client.attributes['gen_ai.usage.cache_creation.input_tokens'], 150);
    assert.deepEqual(client.attributes['gen_ai.response.finish_reasons'], ['stop']);
  });

  it('leaves the cache attributes out when the provider reported no cache use', () => {
    const { exporter, calls } = tracer();
    const call = chat();
    const span = calls.start(call, {}, performance.now());
    call.status = 200;
    call.usage = { inputTokens: 12, cachedInputTokens: 0, outputTokens: 3, pages: 0, reported: true };
    span.end(call);
    const client = exporter.getFinishedSpans().find((s) => s.name === 'chat')!;
    assert.equal(client.attributes['gen_ai.usage.input_tokens'], 12);
    assert.ok(!('gen_ai.usage.cache_read.input_tokens' in client.attributes));
    assert.ok(!('gen_ai.usage.cache_creation.input_tokens' in client.attributes));
  });

  it('reports max_tokens and temperature when the request set them, under any of the providers’ names', () => {
    const { exporter, calls } = tracer();
    const asked = [
      { max_tokens: 64, temperature: 0.2 },
      { max_completion_tokens: 32 },
      { max_output_tokens: 16, temperature: 0 },
      { temperature: 'hot' },
    ];
    for (const json of asked) {
      const call = chat();
      readRequestParams(call, json);
      calls.start(call, {}, performance.now()).end(call);
    }
    const clients = exporter.getFinishedSpans().filter((s) => s.name === 'chat');
    assert.deepEqual(
      clients.map((s) => [s.attributes['gen_ai.request.max_tokens'], s.attributes['gen_ai.request.temperature']]),
      [
        [64, 0.2],
        [32, undefined],
        [16, 0],
        [undefined, undefined],
      ],
    );
  });
});
