/**
 * Security properties of the sidecar, checked from the outside.
 *
 * 1. Secrets never reach a sink: a BUILT sidecar (started the way `npm start` starts it, OpenTelemetry
 *    preloaded, LOG_LEVEL=trace, OTLP/HTTP JSON to a loopback receiver) is driven through every path
 *    (OK calls, streams, aborts, provider 401s, sidecar 4xx, 429s, fallbacks, an open circuit, /health,
 *    every admin route, /metrics, `check-config`, parser-level refusals), then every sink is searched
 *    for the sidecar's keys, the admin token, the worker's own credentials and any `Bearer` value.
 * 2. Admin auth: 404 without ADMIN_TOKEN, 401 for every wrong form, one code path, loopback default bind.
 * 3. The container runs as a non-root user.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startTollgate, type Tollgate } from '../src/wire.js';
import { freePort } from './support/redis.js';
import { type Standin, startStandin } from './support/standin.js';
import { memoryLog, startTestTollgate, type TestTollgate, until } from './support/tollgate.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

// Distinctive values: any appearance of SECRETSECRET in a sink is a leak.
const OPENAI_KEY = 'sk-proj-SECRETSECRETopenai0123456789abcdef';
const LLAMA_KEY = 'llx-SECRETSECRETllama0123456789abcdef';
const ADMIN_TOKEN = 'admintoken-SECRETSECRET0123456789';
const WORKER_AUTH = 'sk-proj-SECRETSECRETworker0123456789abcdef';
const WORKER_API_KEY = 'SECRETSECRET-worker-api-key-0123456789';
const WORKER_COOKIE = 'SECRETSECRET-worker-cookie';
const SECRETS = [OPENAI_KEY, LLAMA_KEY, ADMIN_TOKEN, WORKER_AUTH, WORKER_API_KEY, WORKER_COOKIE, 'SECRETSECRET'];
/** A bearer credential; `Bearer realm=…` (our own www-authenticate challenge) is not one. */
const BEARER_VALUE = /Bearer\s+(?!realm=)[^\s"',\\]+/i;

/** What a worker sends with every proxied call: credentials of its own that must go nowhere. */
const WORKER_HEADERS = {
  authorization: `Bearer ${WORKER_AUTH}`,
  'api-key': WORKER_API_KEY,
  'x-api-key': WORKER_API_KEY,
  cookie: `session=${WORKER_COOKIE}`,
};

interface Sink {
  name: string;
  text: string;
}

/** Every place a secret could surface, with where it came from (so a failure names the sink). */
function findLeaks(sinks: Sink[]): string[] {
  const leaks: string[] = [];
  for (const { name, text } of sinks) {
    for (const secret of SECRETS) {
      const at = text.indexOf(secret);
      if (at !== -1) leaks.push(`${name}: contains "${secret}" … ${text.slice(Math.max(0, at - 120), at + 80)}`);
    }
    const bearer = BEARER_VALUE.exec(text);
    if (bearer !== null) {
      leaks.push(`${name}: a Bearer value … ${text.slice(Math.max(0, bearer.index - 120), bearer.index + 80)}`);
    }
  }
  return leaks;
}

const tsc = () =>
  spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], {
    cwd: ROOT,
    encoding: 'utf8',
  });

describe('secrets never reach a sink (built sidecar, every path, LOG_LEVEL=trace, OTLP on)', () => {
  const sinks: Sink[] = [];
  const otlp: string[] = [];
  let receiver: Server;
  let good: Standin;
  let bad: Standin;
  let child: ChildProcess;
  let childEnv: NodeJS.ProcessEnv;
  let dir: string;
  let envFile: string;
  let url = '';
  let logs = '';

  /** One worker request; status, headers and body are kept as a sink. */
  async function call(path: string, init: RequestInit & { label: string }) {
    const res = await fetch(`${url}${path}`, init);
    const body = await res.text();
    const headers = JSON.stringify([...res.headers.entries()]);
    sinks.push({ name: `response ${init.label} (${res.status})`, text: `${headers}\n${body}` });
    return { status: res.status, headers: res.headers, body };
  }
  const admin = (path: string, init: RequestInit = {}) =>
    call(path, {
      ...init,
      label: `admin ${init.method ?? 'GET'} ${path}`,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    });
  const chat = (label: string, body: Record<string, unknown>, extra: Record<string, string> = {}) =>
    call('/openai/v1/chat/completions', {
      method: 'POST',
      label,
      headers: { ...WORKER_HEADERS, 'content-type': 'application/json', ...extra },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], ...body }),
    });
  const hybrid = { 'x-tollgate-mode': 'hybrid' };

  /** A raw HTTP exchange (for requests fetch would refuse to send); the answer is kept as a sink. */
  function raw(label: string, request: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const { port } = new URL(url);
      const socket = connect(Number(port), '127.0.0.1');
      let answer = '';
      socket.setTimeout(5000, () => socket.destroy(new Error(`${label}: no answer`)));
      socket.on('data', (d: Buffer) => {
        answer += d.toString('latin1');
      });
      socket.on('error', (e) => (answer === '' ? reject(e) : resolve(answer)));
      socket.on('close', () => {
        sinks.push({ name: `raw ${label}`, text: answer });
        resolve(answer);
      });
      // No half-close: the server would drop a request whose answer is not ready yet.
      socket.write(request);
    });
  }

  before(async () => {
    const build = tsc();
    assert.equal(build.status, 0, build.stdout + build.stderr);
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        otlp.push(Buffer.concat(chunks).toString('utf8'));
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    receiver.listen(0, '127.0.0.1');
    await once(receiver, 'listening');
    good = await startStandin({
      expectOpenAIKey: OPENAI_KEY,
      // LlamaCloud refuses the sidecar's key: its own 401 passes through, and the probe says so.
      expectLlamaKey: 'llx-the-provider-wants-another-key-000000',
      chunkGapMs: 20,
      quiet: true,
    });
    bad = await startStandin({ expectOpenAIKey: 'sk-proj-the-provider-wants-another-key-0000', quiet: true });
    dir = mkdtempSync(join(tmpdir(), 'tollgate-security-'));
    envFile = join(dir, '.env');
    // The upstream URL lives in the env file so a reload (SIGHUP) can point the sidecar at a provider
    // that refuses its key.
    writeFileSync(envFile, `OPENAI_UPSTREAM_URL=${good.openaiBase}\n`);
    const configFile = join(dir, 'tollgate.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        limits: { openai: { models: { 'gpt-4.1': { requests_per_hour: 1, requests_burst: 1 } } } },
        budgets: { 'openai:o4-mini': { daily_usd: 0.0000001 } },
      }),
    );
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    childEnv = {
      PATH: process.env.PATH,
      HOST: '127.0.0.1',
      PORT: String(port),
      ENV_FILE: envFile,
      CONFIG_FILE: configFile,
      STATE_URL: 'memory:',
      OPENAI_MODE: 'real',
      LLAMAPARSE_MODE: 'real',
      OPENAI_API_KEY: OPENAI_KEY,
      LLAMA_CLOUD_API_KEY: LLAMA_KEY,
      LLAMAPARSE_UPSTREAM_URL: good.llamaparseBase,
      ADMIN_TOKEN,
      ALLOW_MODE_HEADER: 'true',
      CIRCUIT_FAILURE_THRESHOLD: '2',
      CIRCUIT_RESET_MS: '1000',
      HEALTH_CHECK_INTERVAL_MS: '300',
      HEALTH_CHECK_TIMEOUT_MS: '250',
      MAX_BODY_BYTES: '65536',
      MOCK_PARSE_DELAY_MS: '0',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_SERVICE_NAME: 'tollgate-security',
      LOG_LEVEL: 'trace',
      SHUTDOWN_GRACE_MS: '2000',
    };
    child = spawn(process.execPath, ['--import', './dist/telemetry/register.js', 'dist/cli.js', 'serve'], {
      cwd: ROOT,
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => {
      logs += d.toString();
    });
    child.stderr!.on('data', (d: Buffer) => {
      logs += d.toString();
    });
    await until(async () => (await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200, 20_000, 50).catch(
      (err: Error) => {
        throw new Error(`${err.message}: the sidecar did not get ready\n${logs.slice(-3000)}`);
      },
    );
  });

  after(async () => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    await good?.close();
    await bad?.close();
    receiver?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('serves OK calls, streams and aborts from the real provider with the sidecar key', async () => {
    const ok = await chat('chat json', { max_tokens: 5 });
    assert.equal(ok.status, 200, ok.body);
    assert.equal(ok.headers.get('x-tollgate-served-by'), 'real');
    assert.equal((await chat('chat stream', { stream: true })).status, 200);
    assert.equal(
      (await chat('chat stream usage', { stream: true, stream_options: { include_usage: true } })).status,
      200,
    );
    const emb = await call('/openai/v1/embeddings', {
      method: 'POST',
      label: 'embeddings',
      headers: { ...WORKER_HEADERS, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'text-embedding-3-small', input: 'x', dimensions: 4 }),
    });
    assert.equal(emb.status, 200);
    const resp = await call('/openai/v1/responses', {
      method: 'POST',
      label: 'responses stream',
      headers: { ...WORKER_HEADERS, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', input: 'hi', stream: true }),
    });
    assert.equal(resp.status, 200);
    assert.equal((await call('/openai/v1/models', { label: 'models', headers: WORKER_HEADERS })).status, 200);
    // A worker that goes away mid-stream.
    const abort = new AbortController();
    const res = await fetch(`${url}/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { ...WORKER_HEADERS, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], stream: true }),
      signal: abort.signal,
    });
    const reader = res.body!.getReader();
    await reader.read();
    abort.abort();
    await reader.read().catch(() => undefined);
  });

  it('answers the sidecar’s own 4xx and 429s', async () => {
    const notJson = await call('/openai/v1/chat/completions', {
      method: 'POST',
      label: 'invalid json',
      headers: { ...WORKER_HEADERS, 'content-type': 'application/json' },
      body: `{"model": "${WORKER_AUTH}"`,
    });
    assert.equal(notJson.status, 400);
    assert.equal((await chat('bad mode header', {}, { 'x-tollgate-mode': WORKER_AUTH })).status, 400);
    const big = await chat('too large', { messages: [{ role: 'user', content: 'x'.repeat(70_000) }] });
    assert.equal(big.status, 413);
    // Path tricks never reach another host or an admin route.
    await call('/openai/v1/../../admin/config', { label: 'dot-dot', headers: WORKER_HEADERS });
    await call('/openai/v1/%2e%2e/%2e%2e/admin/config', { label: 'encoded dot-dot', headers: WORKER_HEADERS });
    await call('/openai/v1/nothing-here', { label: 'unknown path', headers: { ...WORKER_HEADERS, ...hybrid } });
    // Rate limit (1 request/hour on gpt-4.1) and budget (a tiny per-model budget on o4-mini).
    await chat('limit 1', { model: 'gpt-4.1', max_tokens: 2 });
    const limited = await chat('limit 2', { model: 'gpt-4.1', max_tokens: 2 });
    assert.equal(limited.status, 429);
    assert.match(limited.body, /rate_limit_exceeded/);
    const budget = await chat('budget', { model: 'o4-mini', max_tokens: 2 });
    assert.equal(budget.status, 429);
    assert.match(budget.body, /budget_exceeded/);
  });

  it('falls back in hybrid, opens the circuit in real, and passes provider 5xx through', async () => {
    for (const [fault, reason] of [
      [{ kind: 'status', status: 503 }, 'upstream_5xx'],
      [{ kind: 'status', status: 429 }, 'upstream_429'],
      [{ kind: 'reset' }, 'upstream_unreachable'],
    ] as const) {
      await good.setFault(fault, { times: 1, paths: '/v1/chat' });
      const r = await chat(`fallback ${reason}`, {}, hybrid);
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('x-tollgate-fallback'), reason);
      // A success in between keeps the failures from being consecutive.
      assert.equal((await chat(`after ${reason}`, { max_tokens: 1 })).status, 200);
    }
    await good.setFault({ kind: 'status', status: 500 }, { times: 2, paths: '/v1/chat' });
    assert.equal((await chat('provider 500 a', {})).status, 500);
    assert.equal((await chat('provider 500 b', {})).status, 500);
    const open = await chat('circuit open', {});
    assert.equal(open.status, 503);
    assert.match(open.body, /provider_unavailable/);
    const fb = await chat('circuit open hybrid', {}, hybrid);
    assert.equal(fb.headers.get('x-tollgate-fallback'), 'circuit_open');
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal((await chat('circuit closes', { max_tokens: 1 })).status, 200);
  });

  it('passes LlamaCloud’s own 401 through, and the mock parses', async () => {
    const form = () => {
      const f = new FormData();
      f.append('file', new Blob(['# Title\n\nSome text.']), 'doc.md');
      return f;
    };
    const refused = await call('/llamaparse/api/v1/parsing/upload', {
      method: 'POST',
      label: 'llamaparse real 401',
      headers: WORKER_HEADERS,
      body: form(),
    });
    assert.equal(refused.status, 401, 'the provider’s answer to a key it does not accept');
    const up = await call('/llamaparse/api/v1/parsing/upload', {
      method: 'POST',
      label: 'llamaparse mock upload',
      headers: { ...WORKER_HEADERS, 'x-tollgate-mode': 'mock' },
      body: form(),
    });
    assert.equal(up.status, 200, up.body);
    const id = (JSON.parse(up.body) as { id: string }).id;
    const mock = { ...WORKER_HEADERS, 'x-tollgate-mode': 'mock' };
    await until(
      async () =>
        (await call(`/llamaparse/api/v1/parsing/job/${id}`, { label: 'llamaparse job', headers: mock })).body.includes(
          'SUCCESS',
        ),
      5000,
      50,
    );
    const md = await call(`/llamaparse/api/v1/parsing/job/${id}/result/markdown`, { label: 'md', headers: mock });
    assert.equal(md.status, 200);
  });

  it('shows a refused key on /health by its code, never by its value', async () => {
    let health = '';
    await until(
      async () => {
        health = (await call('/health', { label: 'health' })).body;
        return /invalid_api_key/.test(health);
      },
      10_000,
      100,
    );
    assert.match(health, /llamaparse:upstream/);
  });

  it('answers every admin route with secrets masked', async () => {
    const cfg = await admin('/admin/config');
    assert.equal(cfg.status, 200);
    assert.match(cfg.body, /"OPENAI_API_KEY":"sk-proj-\*+"/);
    assert.equal((await admin('/admin/mode')).status, 200);
    const put = await admin('/admin/mode', {
      method: 'PUT',
      body: JSON.stringify({ provider: 'llamaparse', mode: 'real' }),
    });
    assert.equal(put.status, 200);
    assert.equal((await admin('/admin/costs?window=day&group_by=provider,model,served_by')).status, 200);
    assert.equal((await admin('/admin/limits')).status, 200);
    const wrong = await call('/admin/config', { label: 'admin wrong token', headers: WORKER_HEADERS });
    assert.equal(wrong.status, 401);
    const metrics = await call('/metrics', { label: 'metrics' });
    assert.equal(metrics.status, 200);
  });

  it('refuses what the HTTP parser refuses, in the provider’s shape', async () => {
    const huge = await raw(
      'header overflow',
      `GET /openai/v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${WORKER_AUTH}\r\nx-big: ${'a'.repeat(40_000)}\r\n\r\n`,
    );
    assert.match(huge, /^HTTP\/1\.1 431/);
    const garbage = await raw('malformed', `GARBAGE\r\nAuthorization: Bearer ${WORKER_AUTH}\r\n\r\n`);
    assert.match(garbage, /^HTTP\/1\.1 400/);
    const absolute = await raw(
      'absolute form',
      `GET http://evil.example/openai/v1/models HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer ${WORKER_AUTH}\r\nConnection: close\r\n\r\n`,
    );
    assert.match(absolute, /^HTTP\/1\.1 200/);
    // No unhandled-error path can be triggered from outside without editing src/: none is exercised here.
  });

  it('passes OpenAI’s own 401 through after a reload points it at a provider that refuses the key', async () => {
    writeFileSync(envFile, `OPENAI_UPSTREAM_URL=${bad.openaiBase}\n`);
    child.kill('SIGHUP');
    let refused = { status: 0, body: '' };
    await until(
      async () => {
        refused = await chat('openai real 401', { max_tokens: 1 });
        return refused.status === 401;
      },
      5000,
      100,
    );
    // The provider's own answer (it echoes the key's first characters and stars); not the sidecar's key.
    const error = (JSON.parse(refused.body) as { error: { code: string; message: string } }).error;
    assert.equal(error.code, 'invalid_api_key');
    assert.ok(!refused.body.includes(OPENAI_KEY));
    await until(
      async () =>
        /OpenAI[^"]*invalid_api_key|invalid_api_key[^"]*OpenAI/i.test(
          (await call('/health', { label: 'health 2' })).body,
        ),
      10_000,
      100,
    ).catch(() => undefined);
  });

  it('check-config prints the effective config with secrets masked (valid and invalid)', () => {
    const okRun = spawnSync(process.execPath, ['dist/cli.js', 'check-config'], {
      cwd: ROOT,
      env: childEnv,
      encoding: 'utf8',
    });
    assert.equal(okRun.status, 0, okRun.stderr);
    sinks.push(
      { name: 'check-config stdout', text: okRun.stdout },
      { name: 'check-config stderr', text: okRun.stderr },
    );
    const badRun = spawnSync(process.execPath, ['dist/cli.js', 'check-config'], {
      cwd: ROOT,
      env: {
        ...childEnv,
        ADMIN_TOKEN: 'SECRETSECRETx',
        OPENAI_MODE: WORKER_AUTH,
        OPENAI_UPSTREAM_URL: `https://user:${WORKER_API_KEY}@api.example/v1`,
      },
      encoding: 'utf8',
    });
    assert.equal(badRun.status, 2);
    sinks.push(
      { name: 'check-config (invalid) stdout', text: badRun.stdout },
      { name: 'check-config (invalid) stderr', text: badRun.stderr },
    );
  });

  it('never writes a key, token or worker credential to logs, spans, metrics, answers or admin', async () => {
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0, logs.slice(-2000));
    assert.ok(otlp.length > 0, 'spans were exported');
    assert.ok(logs.split('\n').some((l) => l.includes('"level":"trace"') || l.includes('"level":"debug"')));
    sinks.push({ name: 'logs (stdout+stderr)', text: logs });
    otlp.forEach((text, i) => {
      sinks.push({ name: `OTLP payload ${i}`, text });
    });
    assert.deepEqual(findLeaks(sinks), []);
  });

  it('sends the sidecar’s key upstream and nothing the worker sent as a credential', () => {
    const seen = [...good.requests, ...bad.requests];
    assert.ok(seen.length > 10);
    for (const r of seen) {
      assert.ok(r.url.startsWith('/v1/') || r.url.startsWith('/api/'), `upstream path ${r.url}`);
      const expected = r.url.startsWith('/v1/') ? OPENAI_KEY : LLAMA_KEY;
      assert.equal(r.headers.authorization, `Bearer ${expected}`, `${r.method} ${r.url}`);
      for (const name of ['api-key', 'x-api-key', 'cookie']) assert.equal(r.headers[name], undefined, name);
      for (const [name, value] of Object.entries(r.headers)) {
        if (name === 'authorization') continue;
        assert.ok(!String(value).includes('SECRETSECRET'), `upstream header ${name}: ${value}`);
      }
      assert.ok(!r.body.toString('latin1').includes(WORKER_API_KEY));
    }
  });
});

describe('STATE_URL credentials', () => {
  it('masks a Redis password in check-config (and /admin/config, which prints the same maskedEnv)', {}, () => {
    const run = spawnSync(process.execPath, ['dist/cli.js', 'check-config'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, ENV_FILE: '', STATE_URL: 'redis://:redispw-SECRETSECRET@127.0.0.1:1/0' },
      encoding: 'utf8',
    });
    assert.equal(run.status, 0, run.stderr);
    assert.ok(!run.stdout.includes('redispw-SECRETSECRET'), run.stdout);
  });
});

describe('admin auth', () => {
  let guarded: TestTollgate;
  let open: TestTollgate;

  before(async () => {
    guarded = await startTestTollgate({ ADMIN_TOKEN });
    open = await startTestTollgate({});
  });
  after(async () => {
    await guarded?.close();
    await open?.close();
  });

  it('does not exist without ADMIN_TOKEN (404, whatever is presented)', async () => {
    for (const path of ['/admin/config', '/admin/mode', '/admin/costs', '/admin/limits']) {
      for (const headers of [{} as Record<string, string>, { authorization: `Bearer ${ADMIN_TOKEN}` }]) {
        const res = await fetch(`${open.url}${path}`, { headers });
        const body = (await res.json()) as { error: { code: string; message: string } };
        assert.equal(res.status, 404, path);
        assert.equal(body.error.code, 'not_found');
        assert.match(body.error.message, /admin API is off.*ADMIN_TOKEN/, 'says what turns it on');
      }
    }
    const put = await fetch(`${open.url}/admin/mode`, { method: 'PUT', body: '{"mode":"real"}' });
    await put.arrayBuffer();
    assert.equal(put.status, 404);
  });

  it('accepts the scheme in any case (RFC 9110), never a wrong token', async () => {
    const res = await fetch(`${guarded.url}/admin/mode`, { headers: { authorization: `bearer ${ADMIN_TOKEN}` } });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
  });

  it('answers 401 with one body for every missing, wrong or malformed token', async () => {
    const variants: (string | undefined)[] = [
      undefined,
      '',
      'Bearer',
      'Bearer ',
      `Bearer ${ADMIN_TOKEN.slice(0, -1)}`,
      `Bearer ${ADMIN_TOKEN}x`,
      `Bearer ${'x'.repeat(ADMIN_TOKEN.length)}`,
      `Bearer ${'x'.repeat(4096)}`,
      `Bearer  ${ADMIN_TOKEN}`,
      `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}`,
      ADMIN_TOKEN,
      `Token ${ADMIN_TOKEN}`,
    ];
    const answers = new Set<string>();
    for (const authorization of variants) {
      const res = await fetch(`${guarded.url}/admin/config`, {
        headers: authorization === undefined ? {} : { authorization },
      });
      const body = JSON.parse(await res.text()) as { error: Record<string, unknown> };
      assert.equal(res.status, 401, String(authorization));
      assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="tollgate-admin"');
      assert.ok(!JSON.stringify(body).includes(ADMIN_TOKEN));
      answers.add(JSON.stringify(body.error));
    }
    assert.equal(answers.size, 1, `one answer for every wrong form: ${[...answers].join(' | ')}`);
    const ok = await fetch(`${guarded.url}/admin/config`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(ok.status, 200);
    assert.ok(!(await ok.text()).includes(ADMIN_TOKEN));
  });

  it('compares fixed-length digests with timingSafeEqual (one code path for any length)', () => {
    const source = readFileSync(join(ROOT, 'src/admin/auth.ts'), 'utf8');
    assert.match(source, /createHash\('sha256'\)/);
    assert.match(source, /timingSafeEqual\(digest\(presented\), digest\(expected\)\)/);
    assert.doesNotMatch(source, /presented\s*===\s*expected|expected\s*===\s*presented/);
  });

  it('guards /admin whatever the Host header says (no loopback trust)', async () => {
    for (const host of ['evil.example', '10.0.0.5:8790', 'localhost', '127.0.0.1']) {
      const status = await new Promise<string>((resolve, reject) => {
        const socket = connect(guarded.port, '127.0.0.1');
        let answer = '';
        socket.on('data', (d: Buffer) => {
          answer += d.toString('latin1');
        });
        socket.on('error', reject);
        socket.on('close', () => resolve(answer.slice(0, 12)));
        socket.end(
          `GET /admin/config HTTP/1.1\r\nHost: ${host}\r\nX-Forwarded-For: 127.0.0.1\r\nConnection: close\r\n\r\n`,
        );
      });
      assert.equal(status, 'HTTP/1.1 401', host);
    }
  });

  it('binds to 127.0.0.1 when HOST is not set', async () => {
    const log = memoryLog();
    let t: Tollgate | undefined;
    try {
      t = await startTollgate({
        env: { PORT: '0', ENV_FILE: '', STATE_URL: 'memory:' },
        watch: false,
        logDestination: log.stream,
      });
      const address = t.server.address() as AddressInfo;
      assert.equal(address.address, '127.0.0.1');
      assert.equal(t.url, `http://127.0.0.1:${address.port}`);
    } finally {
      await t?.shutdown('test');
    }
  });
});

describe('container image', () => {
  it('runs the sidecar as a non-root user (last USER of the final stage)', () => {
    const lines = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')
      .split('\n')
      .map((l) => l.trim());
    const lastFrom = lines.findLastIndex((l) => /^FROM\s/i.test(l));
    assert.ok(lastFrom !== -1);
    assert.match(lines[lastFrom]!, /\bAS\s+runtime\b/i, 'the final stage is the runtime image');
    const users = lines
      .slice(lastFrom)
      .filter((l) => /^USER\s/i.test(l))
      .map((l) => l.split(/\s+/)[1]!);
    assert.ok(users.length > 0, 'the final stage sets USER');
    const user = users.at(-1)!;
    assert.ok(!/^(root|0)(:.*)?$/.test(user), `USER ${user}`);
    // Nothing after USER switches back.
    const cmd = lines.slice(lastFrom).join('\n');
    assert.doesNotMatch(cmd.slice(cmd.lastIndexOf('USER')), /^\s*USER\s+(root|0)\b/im);
  });
});
