/**
 * Traces as an OTLP/HTTP receiver on loopback really gets them, from the built sidecar started the
 * way `npm start` starts it (OpenTelemetry preloaded with --import).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { freePort } from './support/redis.js';
import { type Standin, startStandin } from './support/standin.js';
import { until } from './support/tollgate.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const KEY = 'sk-test-otel-key-0123456789';
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: Record<string, unknown> }[];
}

const attr = (span: OtlpSpan, key: string): unknown => {
  const v = span.attributes.find((a) => a.key === key)?.value;
  if (v === undefined) return undefined;
  if ('stringValue' in v) return v.stringValue;
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return v.doubleValue;
  if ('boolValue' in v) return v.boolValue;
  if ('arrayValue' in v)
    return ((v.arrayValue as { values?: { stringValue: string }[] }).values ?? []).map((x) => x.stringValue);
  return v;
};

describe('OpenTelemetry traces (OTLP/HTTP JSON to a loopback receiver)', () => {
  const spans: OtlpSpan[] = [];
  let receiver: Server;
  let standin: Standin;
  let child: ChildProcess;
  let url = '';
  let logs = '';

  before(async () => {
    const build = spawnSync(
      process.execPath,
      [fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url)), '-p', 'tsconfig.json'],
      {
        cwd: ROOT,
        encoding: 'utf8',
      },
    );
    assert.equal(build.status, 0, build.stdout + build.stderr);
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[];
        };
        if (req.url === '/v1/traces')
          for (const rs of body.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    receiver.listen(0, '127.0.0.1');
    await once(receiver, 'listening');
    standin = await startStandin({ expectOpenAIKey: KEY, chunkGapMs: 5, quiet: true });
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, ['--import', './dist/telemetry/register.js', 'dist/cli.js', 'serve'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        HOST: '127.0.0.1',
        PORT: String(port),
        ENV_FILE: '',
        STATE_URL: 'memory:',
        OPENAI_MODE: 'hybrid',
        OPENAI_API_KEY: KEY,
        OPENAI_UPSTREAM_URL: standin.openaiBase,
        LLAMAPARSE_MODE: 'mock',
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_BSP_SCHEDULE_DELAY: '100',
        OTEL_SERVICE_NAME: 'tollgate-test',
        LOG_LEVEL: 'debug',
        SHUTDOWN_GRACE_MS: '2000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => {
      logs += d.toString();
    });
    child.stderr!.on('data', (d: Buffer) => {
      logs += d.toString();
    });
    await until(async () => (await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200, 15_000, 50);
  });

  after(async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    await standin.close();
    receiver.close();
  });

  const byName = (name: string, correlationId: string) =>
    spans.find((s) => s.name === name && attr(s, 'correlation.id') === correlationId);

  it('continues the worker trace: SERVER → CLIENT (GenAI) → upstream HTTP, one traceparent upstream', async () => {
    const client = new OpenAI({ baseURL: `${url}/openai/v1`, apiKey: 'x', maxRetries: 0 });
    await client.chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'trace me' }], max_tokens: 5 },
      { headers: { traceparent: `00-${TRACE}-${PARENT}-01`, 'x-correlation-id': 'otel-json-1' } },
    );
    await until(
      () =>
        byName('chat gpt-4o-mini', 'otel-json-1') !== undefined &&
        spans.some((s) => s.kind === 2 && s.traceId === TRACE),
      10_000,
      50,
    );
    const server = spans.find((s) => s.kind === 2 && s.traceId === TRACE)!;
    assert.equal(server.name, 'POST /openai/v1/chat/completions');
    assert.equal(server.parentSpanId, PARENT);
    assert.equal(attr(server, 'correlation.id'), 'otel-json-1');
    const gen = byName('chat gpt-4o-mini', 'otel-json-1')!;
    assert.equal(gen.kind, 3, 'CLIENT');
    assert.equal(gen.traceId, TRACE);
    assert.equal(gen.parentSpanId, server.spanId);
    for (const [k, v] of [
      ['gen_ai.operation.name', 'chat'],
      ['gen_ai.provider.name', 'openai'],
      ['gen_ai.request.model', 'gpt-4o-mini'],
      ['gen_ai.response.model', 'gpt-4o-mini'],
      ['tollgate.served_by', 'real'],
      ['tollgate.mode', 'hybrid'],
      ['server.address', new URL(standin.url).host],
    ] as const) {
      assert.equal(attr(gen, k), v, k);
    }
    assert.equal(typeof attr(gen, 'gen_ai.response.id'), 'string');
    assert.deepEqual(attr(gen, 'gen_ai.response.finish_reasons'), ['length']);
    assert.equal(attr(gen, 'gen_ai.usage.output_tokens'), 5);
    assert.ok((attr(gen, 'gen_ai.usage.input_tokens') as number) > 0);
    assert.ok((attr(gen, 'tollgate.cost_usd') as number) > 0);
    await until(() => spans.some((s) => s.parentSpanId === gen.spanId), 5000, 50);
    const http = spans.find((s) => s.parentSpanId === gen.spanId)!;
    assert.equal(http.kind, 3);
    const seen = standin.requests.find((r) => r.headers['x-correlation-id'] === 'otel-json-1')!;
    assert.equal(typeof seen.headers.traceparent, 'string', 'exactly one traceparent upstream');
    assert.equal(seen.headers.traceparent, `00-${TRACE}-${http.spanId}-01`);
    assert.match(logs, new RegExp(`"correlation_id":"otel-json-1"[^\\n]*"trace_id":"${TRACE}"`));
  });

  it('ends a streamed call’s span with the stream, carrying its usage', async () => {
    const client = new OpenAI({ baseURL: `${url}/openai/v1`, apiKey: 'x', maxRetries: 0 });
    const stream = await client.chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'stream' }], stream: true },
      { headers: { 'x-correlation-id': 'otel-stream-1' } },
    );
    for await (const _ of stream) {
      // drain
    }
    await until(() => byName('chat gpt-4o-mini', 'otel-stream-1') !== undefined, 10_000, 50);
    const gen = byName('chat gpt-4o-mini', 'otel-stream-1')!;
    assert.equal(attr(gen, 'gen_ai.usage.output_tokens'), 8);
    assert.ok((attr(gen, 'gen_ai.usage.input_tokens') as number) > 0);
  });

  it('traces embeddings, mock answers (no upstream span) and fallbacks', async () => {
    const client = new OpenAI({ baseURL: `${url}/openai/v1`, apiKey: 'x', maxRetries: 0 });
    await client.embeddings.create(
      { model: 'text-embedding-3-small', input: 'x' },
      { headers: { 'x-correlation-id': 'otel-emb-1' } },
    );
    await standin.setFault({ kind: 'status', status: 503 }, { times: 1 });
    await client.chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'fallback' }] },
      { headers: { 'x-correlation-id': 'otel-fb-1' } },
    );
    const form = new FormData();
    form.append('file', new Blob(['# T\n\ntext']), 'a.md');
    await fetch(`${url}/llamaparse/api/v1/parsing/upload`, {
      method: 'POST',
      body: form,
      headers: { 'x-correlation-id': 'otel-lp-1' },
    });
    await until(
      () =>
        byName('embeddings text-embedding-3-small', 'otel-emb-1') !== undefined &&
        byName('chat gpt-4o-mini', 'otel-fb-1') !== undefined &&
        spans.some((s) => attr(s, 'correlation.id') === 'otel-lp-1' && s.kind === 3),
      10_000,
      50,
    );
    const emb = byName('embeddings text-embedding-3-small', 'otel-emb-1')!;
    assert.equal(attr(emb, 'gen_ai.operation.name'), 'embeddings');
    assert.ok((attr(emb, 'gen_ai.usage.input_tokens') as number) > 0);
    const fb = byName('chat gpt-4o-mini', 'otel-fb-1')!;
    assert.equal(attr(fb, 'tollgate.served_by'), 'mock');
    assert.equal(attr(fb, 'tollgate.fallback_reason'), 'upstream_5xx');
    const lp = spans.find((s) => attr(s, 'correlation.id') === 'otel-lp-1' && s.kind === 3)!;
    assert.match(lp.name, /^parse/);
    assert.equal(attr(lp, 'gen_ai.provider.name'), 'llamaparse');
    assert.equal(attr(lp, 'tollgate.served_by'), 'mock');
    assert.ok(!spans.some((s) => s.parentSpanId === lp.spanId), 'a mock answer has no upstream span');
  });

  it('flushes on SIGTERM and never exports a key', async () => {
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0);
    const text = JSON.stringify(spans);
    assert.ok(!text.includes(KEY));
    assert.ok(!logs.includes(KEY));
  });
});
