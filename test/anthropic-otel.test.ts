/**
 * Anthropic calls traced like the others, from the built sidecar with OpenTelemetry preloaded: a
 * `chat claude-…` CLIENT span with gen_ai.provider.name=anthropic and the call's usage, for a JSON
 * and a streamed call, and its upstream HTTP span when the provider (a loopback stand-in) answers.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import Anthropic from '@anthropic-ai/sdk';
import { type AnthropicStandin, startAnthropicStandin } from './support/anthropic-standin.js';
import { type ChildTollgate, startChildTollgate, waitReady } from './support/child.js';
import { attr, type OtlpReceiver, startOtlpReceiver } from './support/otlp.js';
import { until } from './support/tollgate.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const KEY = 'sk-ant-test-otel-key-0123456789';
const MODEL = 'claude-haiku-4-5';

describe('Anthropic spans (OTLP/HTTP JSON to a loopback receiver)', () => {
  let receiver: OtlpReceiver;
  let standin: AnthropicStandin;
  let sidecar: ChildTollgate | undefined;
  let url = '';

  before(async () => {
    const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));
    const build = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(build.status, 0, build.stdout + build.stderr);
    receiver = await startOtlpReceiver();
    standin = await startAnthropicStandin({ expectKey: KEY });
    standin.usage = {
      input_tokens: 9,
      cache_read_input_tokens: 500,
      cache_creation_input_tokens: 20,
      output_tokens: 7,
    };
    sidecar = await startChildTollgate(
      {
        SERVICE_MODE: 'mock',
        ANTHROPIC_MODE: 'real',
        ANTHROPIC_API_KEY: KEY,
        ANTHROPIC_UPSTREAM_URL: standin.url,
        OTEL_SDK_DISABLED: 'false',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_BSP_SCHEDULE_DELAY: '100',
        SHUTDOWN_GRACE_MS: '2000',
      },
      { entry: 'preloaded' },
    );
    await waitReady(sidecar);
    url = sidecar.url;
  });

  after(async () => {
    await sidecar?.stop();
    await standin.close();
    await receiver.close();
  });

  const clientSpan = (correlationId: string) =>
    receiver.spans.find(
      (s) => s.kind === 3 && s.name.startsWith('chat ') && attr(s, 'correlation.id') === correlationId,
    );

  for (const stream of [false, true]) {
    it(`names the ${stream ? 'streamed' : 'JSON'} call's CLIENT span chat ${MODEL}, provider anthropic, with its usage`, async () => {
      const id = `anthropic-otel-${stream ? 'sse' : 'json'}`;
      const client = new Anthropic({ baseURL: `${url}/anthropic`, apiKey: 'x', maxRetries: 0 });
      const ask = { model: MODEL, max_tokens: 30, messages: [{ role: 'user' as const, content: 'trace me' }] };
      const options = { headers: { 'x-correlation-id': id } };
      if (stream) await client.messages.stream(ask, options).finalMessage();
      else await client.messages.create(ask, options);
      await until(() => clientSpan(id) !== undefined, 10_000, 50);
      const span = clientSpan(id);
      assert.equal(span?.name, `chat ${MODEL}`);
      assert.equal(attr(span, 'gen_ai.provider.name'), 'anthropic');
      assert.equal(attr(span, 'gen_ai.operation.name'), 'chat');
      assert.equal(attr(span, 'gen_ai.request.model'), MODEL);
      assert.equal(attr(span, 'gen_ai.response.id'), 'msg_01standin');
      assert.deepEqual(attr(span, 'gen_ai.response.finish_reasons'), ['end_turn']);
      assert.equal(attr(span, 'gen_ai.usage.input_tokens'), 529, 'the whole prompt, cache reads and writes included');
      assert.equal(attr(span, 'gen_ai.usage.output_tokens'), 7);
      // The semconv cache-token attributes: Anthropic's reads and writes, both parts of the input above.
      assert.equal(attr(span, 'gen_ai.usage.cache_read.input_tokens'), 500);
      assert.equal(attr(span, 'gen_ai.usage.cache_creation.input_tokens'), 20);
      assert.equal(attr(span, 'tollgate.served_by'), 'real');
      assert.ok((attr(span, 'tollgate.cost_usd') as number) > 0);
      await until(() => receiver.spans.some((s) => s.parentSpanId === span?.spanId), 5000, 50);
    });
  }
});
