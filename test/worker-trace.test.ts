/**
 * One trace per document: the example worker (traced with the Node SDK and the auto-instrumentations,
 * preloaded the way `npm run worker` preloads them) and the sidecar both export to an OTLP receiver on
 * loopback; the sidecar's SERVER spans continue the worker's HTTP client spans.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { type ChildTollgate, startChildTollgate, waitReady } from './support/child.js';
import { attr, type OtlpReceiver, type OtlpSpan, startOtlpReceiver } from './support/otlp.js';
import { until } from './support/tollgate.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const KEY = 'sk-test-worker-trace-0123456789';
const DOCUMENTS = ['handbook.md', 'price-list.csv', 'product-page.html', 'release-notes.txt', 'sample-report.pdf'];

/**
 * An OpenAI stand-in that reports prompt caching (`prompt_tokens_details.cached_tokens`) on chat
 * and answers embeddings with small fixed vectors.
 */
function openaiWithCache(): Server {
  return createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (body: unknown) =>
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (req.method === 'GET') return send({ object: 'list', data: [] });
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        model: string;
        input?: string[];
        encoding_format?: string;
      };
      if (req.url?.endsWith('/embeddings')) {
        const inputs = Array.isArray(body.input) ? body.input : [String(body.input)];
        return send({
          object: 'list',
          model: body.model,
          data: inputs.map((text, index) => {
            const vector = [text.length, index, 0.5];
            // The openai SDK asks for base64 unless the caller chose a format.
            const embedding =
              body.encoding_format === 'base64'
                ? Buffer.from(new Float32Array(vector).buffer).toString('base64')
                : vector;
            return { object: 'embedding', index, embedding };
          }),
          usage: { prompt_tokens: inputs.length * 10, total_tokens: inputs.length * 10 },
        });
      }
      send({
        id: 'chatcmpl-cache-1',
        object: 'chat.completion',
        created: 1,
        model: body.model,
        choices: [{ index: 0, message: { role: 'assistant', content: 'cached' }, finish_reason: 'stop' }],
        usage: {
          prompt_tokens: 1200,
          completion_tokens: 2,
          total_tokens: 1202,
          prompt_tokens_details: { cached_tokens: 1024 },
        },
      });
    });
  });
}

function runWorker(env: NodeJS.ProcessEnv, out: string): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--import',
      './examples/document-worker/src/instrumentation.ts',
      'examples/document-worker/src/main.ts',
      'test/fixtures/documents',
      '--out',
      out,
    ],
    { cwd: ROOT, env },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d;
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('a document’s whole path in one trace (worker → sidecar → provider)', () => {
  let receiver: OtlpReceiver;
  let upstream: Server;
  let sidecar: ChildTollgate;
  let tmp: string;
  const otel = (service: string) => ({
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_BSP_SCHEDULE_DELAY: '100',
    OTEL_SERVICE_NAME: service,
  });

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'worker-trace-'));
    receiver = await startOtlpReceiver();
    upstream = openaiWithCache().listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    sidecar = await startChildTollgate({
      ...otel('tollgate'),
      OTEL_SDK_DISABLED: 'false',
      OPENAI_MODE: 'real',
      OPENAI_API_KEY: KEY,
      OPENAI_UPSTREAM_URL: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`,
      LLAMAPARSE_MODE: 'mock',
      MOCK_PARSE_DELAY_MS: '0',
    });
    await waitReady(sidecar);
  });

  after(async () => {
    await sidecar?.stop();
    upstream?.close();
    await receiver?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  it('gives each sample document one trace: its spans, then the sidecar’s under its HTTP client spans', async () => {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      ...otel('document-worker'),
      OPENAI_BASE_URL: `${sidecar.url}/openai/v1`,
      LLAMA_CLOUD_BASE_URL: `${sidecar.url}/llamaparse`,
      PARSE_POLL_INTERVAL_MS: '20',
    };
    const run = await runWorker(env, join(tmp, 'out'));
    assert.equal(run.code, 0, run.stderr);

    const roots = () => receiver.spans.filter((s) => s.service === 'document-worker' && s.name.startsWith('process '));
    await until(() => roots().length === DOCUMENTS.length, 20_000, 50);
    assert.deepEqual(
      roots()
        .map((s) => s.name)
        .sort(),
      DOCUMENTS.map((d) => `process ${d}`).sort(),
    );

    for (const root of roots()) {
      const id = attr(root, 'correlation.id') as string;
      assert.match(id, /^[0-9a-f-]{36}$/);
      assert.equal(root.parentSpanId || undefined, undefined, 'a document starts its own trace');
      assert.equal(attr(root, 'document.outcome'), 'processed');
      assert.equal(attr(root, 'file.name'), root.name.slice('process '.length));
      assert.ok((attr(root, 'file.size') as number) > 0);
      // The sidecar's SERVER spans of this document (upload, polls, result, embeddings) arrive a little later.
      const servers = () =>
        receiver.spans.filter((s) => s.service === 'tollgate' && s.kind === 2 && attr(s, 'correlation.id') === id);
      await until(() => servers().length >= 4, 10_000, 50);

      const mine = receiver.spans.filter((s) => attr(s, 'correlation.id') === id);
      assert.deepEqual([...new Set(mine.map((s) => s.traceId))], [root.traceId], 'one trace per document');
      const trace = receiver.spans.filter((s) => s.traceId === root.traceId);
      for (const s of trace)
        assert.equal(attr(s, 'correlation.id'), id, `${s.service} ${s.name} carries correlation.id`);

      const byId = new Map(trace.map((s) => [s.spanId, s]));
      const parentOf = (s: OtlpSpan) => (s.parentSpanId ? byId.get(s.parentSpanId) : undefined);
      const stages = trace.filter((s) => s.service === 'document-worker' && parentOf(s) === root).map((s) => s.name);
      for (const stage of ['upload', 'poll', 'chunk', 'embed'])
        assert.ok(stages.includes(stage), `${stage} under the root`);

      for (const server of servers()) {
        const client = parentOf(server);
        assert.ok(client, `${server.name} has its parent in the trace`);
        assert.equal(client.service, 'document-worker');
        assert.equal(client.kind, 3, 'the worker’s HTTP client span');
        assert.ok(['upload', 'poll', 'embed'].includes(parentOf(client)?.name ?? ''), `${server.name} under a stage`);
      }
      const embeddings = servers().find((s) => s.name === 'POST /openai/v1/embeddings');
      assert.ok(embeddings, 'the embeddings call reached the sidecar');
      const genAi = trace.find((s) => s.parentSpanId === embeddings.spanId && s.kind === 3);
      assert.ok(genAi, 'GenAI CLIENT span under the SERVER span');
      await until(() => receiver.spans.some((s) => s.parentSpanId === genAi.spanId), 5_000, 50);
      const http = receiver.spans.find((s) => s.parentSpanId === genAi.spanId)!;
      assert.equal(http.traceId, root.traceId, 'the upstream HTTP span ends the same trace');
    }
  });

  it('puts the cache-read tokens an OpenAI answer reports on the CLIENT span', async () => {
    const client = new OpenAI({ baseURL: `${sidecar.url}/openai/v1`, apiKey: 'x', maxRetries: 0 });
    await client.chat.completions.create(
      {
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'cached prefix' }],
        max_tokens: 16,
        temperature: 0.3,
      },
      { headers: { 'x-correlation-id': 'cache-read-1' } },
    );
    const span = () =>
      receiver.spans.find(
        (s) => attr(s, 'gen_ai.operation.name') === 'chat' && attr(s, 'correlation.id') === 'cache-read-1',
      );
    await until(() => span() !== undefined, 10_000, 50);
    const gen = span()!;
    assert.equal(gen.name, 'chat gpt-4o-mini');
    assert.equal(attr(gen, 'gen_ai.usage.input_tokens'), 1200);
    assert.equal(attr(gen, 'gen_ai.usage.cache_read.input_tokens'), 1024);
    assert.equal(attr(gen, 'gen_ai.usage.cache_creation.input_tokens'), undefined, 'OpenAI reported no cache writes');
    assert.equal(attr(gen, 'gen_ai.request.max_tokens'), 16);
    assert.equal(attr(gen, 'gen_ai.request.temperature'), 0.3);
    assert.deepEqual(attr(gen, 'gen_ai.response.finish_reasons'), ['stop']);
    assert.ok(!JSON.stringify(receiver.spans).includes(KEY), 'no key in any span');
  });
});

describe('the worker’s instrumentation preload', () => {
  it('starts nothing without an OTLP endpoint, or with the SDK or the trace exporter off', async () => {
    const { tracingWanted } = await import('../examples/document-worker/src/instrumentation.js');
    assert.equal(tracingWanted({}), false);
    assert.equal(tracingWanted({ OTEL_EXPORTER_OTLP_ENDPOINT: '' }), false);
    assert.equal(tracingWanted({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' }), false);
    assert.equal(tracingWanted({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' }), false);
    assert.equal(tracingWanted({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' }), true);
  });
});
