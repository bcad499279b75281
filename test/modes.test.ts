/**
 * Mode switching (contract sections 1, 3 and 7): `PUT /admin/mode`, the env file, SIGHUP, and
 * graceful shutdown on SIGTERM. The next request after a switch uses the new mode.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type AnthropicStandin, startAnthropicStandin } from './support/anthropic-standin.js';
import { type Standin, startStandin } from './support/standin.js';
import { startTestTollgate, type TestTollgate, until } from './support/tollgate.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'src', 'cli.ts');
const TSX = import.meta.resolve('tsx');

const KEY = 'sk-test-modes-SECRETKEY-0123456789';
const LLAMA_KEY = 'llx-test-modes-SECRETLLAMA-0123456789';
const ANTHROPIC_KEY = 'sk-ant-test-modes-0123456789';
const ADMIN = 'admin-SECRETTOKEN-0123456789abcdef';
const CHAT = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] });

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-modes-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

const chat = async (base: string) => {
  const res = await fetch(`${base}/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: CHAT,
  });
  const body = (await res.json()) as { object?: string };
  return {
    status: res.status,
    object: body.object,
    mode: res.headers.get('x-tollgate-mode'),
    servedBy: res.headers.get('x-tollgate-served-by'),
    fallback: res.headers.get('x-tollgate-fallback'),
  };
};

const admin = (base: string, method: 'GET' | 'PUT', path: string, body?: string, token: string | null = ADMIN) =>
  fetch(`${base}/admin${path}`, {
    method,
    headers: {
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body,
  });

describe('admin routes without ADMIN_TOKEN', () => {
  let tg: TestTollgate;
  before(async () => {
    tg = await startTestTollgate({ SERVICE_MODE: 'mock' });
  });
  after(async () => {
    await tg.close();
  });

  for (const [method, path, body] of [
    ['GET', '/mode', undefined],
    ['PUT', '/mode', '{"mode":"hybrid"}'],
    ['GET', '/config', undefined],
  ] as const) {
    it(`answers ${method} /admin${path} with 404, whatever token is sent`, async () => {
      const res = await admin(tg.url, method, path, body, 'anything-at-all-0123456789');
      assert.equal(res.status, 404);
      await res.arrayBuffer();
    });
  }

  it('logs the address it actually listens on, not the configured port 0', () => {
    const line = tg
      .logText()
      .split('\n')
      .find((l) => l.includes('tollgate listening'));
    assert.ok(line, 'a listening line was logged');
    const { url } = JSON.parse(line) as { url: string };
    assert.equal(url, tg.url);
  });

  it('leaves the mode alone after a refused PUT', async () => {
    assert.equal(tg.modes.get('openai'), 'mock');
    const r = await chat(tg.url);
    assert.equal(r.mode, 'mock');
  });
});

describe('PUT /admin/mode', () => {
  let standin: Standin;
  let anthropic: AnthropicStandin;
  let tg: TestTollgate;

  before(async () => {
    standin = await startStandin({ expectOpenAIKey: KEY, expectLlamaKey: LLAMA_KEY, quiet: true });
    anthropic = await startAnthropicStandin({ expectKey: ANTHROPIC_KEY });
    tg = await startTestTollgate({
      SERVICE_MODE: 'mock',
      ADMIN_TOKEN: ADMIN,
      OPENAI_API_KEY: KEY,
      LLAMA_CLOUD_API_KEY: LLAMA_KEY,
      ANTHROPIC_API_KEY: ANTHROPIC_KEY,
      OPENAI_UPSTREAM_URL: standin.openaiBase,
      LLAMAPARSE_UPSTREAM_URL: standin.llamaparseBase,
      ANTHROPIC_UPSTREAM_URL: anthropic.url,
    });
  });
  after(async () => {
    await tg.close();
    await standin.close();
    await anthropic.close();
  });
  beforeEach(() => {
    tg.modes.set('mock');
    standin.reset();
  });

  it('answers GET /admin/mode in exactly the contract’s shape', async () => {
    const res = await admin(tg.url, 'GET', '/mode');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    assert.deepEqual(await res.json(), {
      default: 'mock',
      providers: { openai: 'mock', llamaparse: 'mock', anthropic: 'mock' },
    });
  });

  for (const [name, token] of [
    ['no token', null],
    ['a wrong token', 'admin-WRONGTOKEN-0123456789abcdef'],
    ['a prefix of the token', ADMIN.slice(0, 20)],
    ['the token plus a character', `${ADMIN}x`],
    ['an empty token', ''],
  ] as const) {
    it(`answers 401 to ${name}`, async () => {
      const get = await admin(tg.url, 'GET', '/mode', undefined, token);
      assert.equal(get.status, 401);
      await get.arrayBuffer();
      const put = await admin(tg.url, 'PUT', '/mode', '{"mode":"real"}', token);
      assert.equal(put.status, 401);
      await put.arrayBuffer();
      assert.equal(tg.modes.get('openai'), 'mock', 'a refused PUT changes nothing');
    });
  }

  it('answers 401 to the right token with another scheme', async () => {
    const res = await fetch(`${tg.url}/admin/mode`, { headers: { authorization: `Basic ${ADMIN}` } });
    assert.equal(res.status, 401);
    await res.arrayBuffer();
  });

  it('switches every provider with {"mode":"real"}, effective on the very next request', async () => {
    assert.equal((await chat(tg.url)).servedBy, 'mock');
    const res = await admin(tg.url, 'PUT', '/mode', '{"mode":"real"}');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {
      default: 'real',
      providers: { openai: 'real', llamaparse: 'real', anthropic: 'real' },
    });
    const next = await chat(tg.url);
    assert.deepEqual(next, { status: 200, object: 'chat.completion', mode: 'real', servedBy: 'real', fallback: null });
    assert.equal(standin.hits('/v1/chat/completions'), 1);
    const parse = await fetch(`${tg.url}/llamaparse/api/v1/parsing/job/nope`);
    assert.equal(parse.headers.get('x-tollgate-mode'), 'real');
    await parse.arrayBuffer();
  });

  it('switches one provider with {"provider":"openai","mode":"hybrid"}', async () => {
    const res = await admin(tg.url, 'PUT', '/mode', '{"provider":"openai","mode":"hybrid"}');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {
      default: 'mock',
      providers: { openai: 'hybrid', llamaparse: 'mock', anthropic: 'mock' },
    });
    const next = await chat(tg.url);
    assert.equal(next.mode, 'hybrid');
    assert.equal(next.servedBy, 'real');
    const get = await admin(tg.url, 'GET', '/mode');
    assert.deepEqual(await get.json(), {
      default: 'mock',
      providers: { openai: 'hybrid', llamaparse: 'mock', anthropic: 'mock' },
    });
  });

  it('switches back to mock and stops calling the provider at once', async () => {
    await (await admin(tg.url, 'PUT', '/mode', '{"mode":"real"}')).arrayBuffer();
    assert.equal((await chat(tg.url)).servedBy, 'real');
    await (await admin(tg.url, 'PUT', '/mode', '{"mode":"mock"}')).arrayBuffer();
    const next = await chat(tg.url);
    assert.equal(next.servedBy, 'mock');
    assert.equal(next.mode, 'mock');
    assert.equal(standin.hits('/v1/chat/completions'), 1);
  });

  for (const [name, body, code] of [
    ['a body that is not JSON', '{"mode":', 'invalid_json'],
    ['an unknown mode', '{"mode":"turbo"}', 'invalid_request'],
    ['a missing mode', '{"provider":"openai"}', 'invalid_request'],
    ['an unknown provider', '{"provider":"azure","mode":"real"}', 'invalid_request'],
    ['a JSON string', '"real"', 'invalid_request'],
    ['JSON null', 'null', 'invalid_request'],
    ['a JSON array', '["real"]', 'invalid_request'],
    ['a mode of the wrong type', '{"mode":1}', 'invalid_request'],
  ] as const) {
    it(`answers ${name} with 400 ${code} and changes nothing`, async () => {
      const res = await admin(tg.url, 'PUT', '/mode', body);
      assert.equal(res.status, 400);
      const parsed = (await res.json()) as { error?: { code?: string } };
      assert.equal(parsed.error?.code, code);
      assert.deepEqual(tg.modes.snapshot(), {
        default: 'mock',
        providers: { openai: 'mock', llamaparse: 'mock', anthropic: 'mock' },
      });
    });
  }

  it('answers GET /admin/config with the keys and the admin token masked', async () => {
    const res = await admin(tg.url, 'GET', '/config');
    assert.equal(res.status, 200);
    const text = await res.text();
    for (const secret of [KEY, LLAMA_KEY, ADMIN, 'SECRETKEY', 'SECRETLLAMA', 'SECRETTOKEN']) {
      assert.ok(!text.includes(secret), `/admin/config leaks ${secret}`);
    }
    const body = JSON.parse(text) as { env: Record<string, unknown> };
    assert.equal(typeof body.env['OPENAI_API_KEY'], 'string', 'shown as present, masked');
    assert.equal(typeof body.env['ADMIN_TOKEN'], 'string');
    assert.equal(body.env['OPENAI_UPSTREAM_URL'], standin.openaiBase);
  });

  it('keeps secrets out of the logs of all of the above', () => {
    const logs = tg.logText();
    for (const secret of [KEY, LLAMA_KEY, ADMIN]) assert.ok(!logs.includes(secret), `logs leak ${secret}`);
  });
});

describe('PUT /admin/mode for a provider without a key', () => {
  let tg: TestTollgate;
  before(async () => {
    tg = await startTestTollgate({ SERVICE_MODE: 'mock', ADMIN_TOKEN: ADMIN, OPENAI_API_KEY: KEY });
  });
  after(async () => {
    await tg.close();
  });

  it('refuses to switch that provider to real with 400', async () => {
    const res = await admin(tg.url, 'PUT', '/mode', '{"provider":"llamaparse","mode":"real"}');
    assert.equal(res.status, 400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'invalid_request');
    assert.match(body.error.message, /llamaparse/);
    assert.equal(tg.modes.get('llamaparse'), 'mock');
  });

  it('refuses {"mode":"real"} for all when one provider has no key, changing none', async () => {
    const res = await admin(tg.url, 'PUT', '/mode', '{"mode":"real"}');
    assert.equal(res.status, 400);
    await res.arrayBuffer();
    assert.deepEqual(tg.modes.snapshot(), {
      default: 'mock',
      providers: { openai: 'mock', llamaparse: 'mock', anthropic: 'mock' },
    });
  });

  it('still switches the provider that has a key', async () => {
    const res = await admin(tg.url, 'PUT', '/mode', '{"provider":"openai","mode":"real"}');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {
      default: 'mock',
      providers: { openai: 'real', llamaparse: 'mock', anthropic: 'mock' },
    });
  });

  it('lets the keyless provider go hybrid (served by the mock, reason no_api_key)', async () => {
    const res = await admin(tg.url, 'PUT', '/mode', '{"provider":"llamaparse","mode":"hybrid"}');
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    const form = new FormData();
    form.append('file', new Blob(['# Hi\n\nText.\n'], { type: 'text/markdown' }), 'a.md');
    const up = await fetch(`${tg.url}/llamaparse/api/v1/parsing/upload`, { method: 'POST', body: form });
    assert.equal(up.status, 200);
    await up.arrayBuffer();
    assert.equal(up.headers.get('x-tollgate-mode'), 'hybrid');
    assert.equal(up.headers.get('x-tollgate-served-by'), 'mock');
    assert.equal(up.headers.get('x-tollgate-fallback'), 'no_api_key');
  });
});

describe('switching by editing the env file', () => {
  let standin: Standin;
  let tg: TestTollgate;
  let envFile: string;

  before(async () => {
    standin = await startStandin({ expectOpenAIKey: KEY, quiet: true });
    envFile = join(dir, 'switch.env');
    writeFileSync(envFile, 'SERVICE_MODE=mock\n');
    tg = await startTestTollgate({ ENV_FILE: envFile, ADMIN_TOKEN: ADMIN }, { watch: true });
  });
  after(async () => {
    await tg.close();
    await standin.close();
  });

  it('serves the next request in the new mode within 1 s of the edit', async (t) => {
    const before = await chat(tg.url);
    assert.equal(before.mode, 'mock');
    assert.equal(before.servedBy, 'mock');
    // Let the watchers settle, so the edit is a distinct event.
    await new Promise((r) => setTimeout(r, 100));

    const start = performance.now();
    writeFileSync(
      envFile,
      `SERVICE_MODE=hybrid\nOPENAI_API_KEY=${KEY}\nOPENAI_UPSTREAM_URL=${standin.openaiBase}\nLLAMAPARSE_UPSTREAM_URL=${standin.llamaparseBase}\n`,
    );
    let last = before;
    await until(
      async () => {
        last = await chat(tg.url);
        return last.mode === 'hybrid';
      },
      3000,
      5,
    );
    const ms = performance.now() - start;
    t.diagnostic(`env file edit to first request served in the new mode: ${ms.toFixed(1)} ms`);
    assert.ok(ms < 1000, `took ${ms.toFixed(0)} ms`);
    assert.equal(last.servedBy, 'real', 'the new key and upstream apply together with the mode');
    assert.equal(last.fallback, null);
    assert.ok(standin.hits('/v1/chat/completions') >= 1);
  });

  it('reports the new SERVICE_MODE as the default on GET /admin/mode after the edit', async () => {
    const res = await admin(tg.url, 'GET', '/mode');
    assert.deepEqual(await res.json(), {
      default: 'hybrid',
      providers: { openai: 'hybrid', llamaparse: 'hybrid', anthropic: 'hybrid' },
    });
  });

  it('keeps the mode in force when an edit is invalid, and logs why', async () => {
    // Parsed from logText(): the helper's `logs` is a snapshot taken at start (Object.assign copies getters' values).
    const errors = () =>
      tg
        .logText()
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => l['level'] === 'error' || l['level'] === 50);
    const errorsBefore = errors().length;
    writeFileSync(envFile, 'SERVICE_MODE=sideways\n');
    await until(() => errors().length > errorsBefore, 3000);
    assert.match(JSON.stringify(errors().at(-1)), /SERVICE_MODE/);
    const r = await chat(tg.url);
    assert.equal(r.mode, 'hybrid');
    assert.equal(r.servedBy, 'real');
  });
});

/** A port that was free a moment ago (listen on 0, read it, close). */
const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });

interface Spawned {
  child: ChildProcess;
  base: string;
  port: number;
  stdout(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

/** Starts `tollgate serve` as its own process and waits until /readyz answers 200. */
async function spawnServe(envFile: string, extra: Record<string, string> = {}): Promise<Spawned> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', TSX, CLI, 'serve'], {
    cwd: dir,
    env: {
      PATH: process.env['PATH'] ?? '',
      ENV_FILE: envFile,
      HOST: '127.0.0.1',
      PORT: String(port),
      STATE_URL: 'memory:',
      LOG_LEVEL: 'info',
      ...extra,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal, at: performance.now() }));
  });
  const base = `http://127.0.0.1:${port}`;
  await until(
    async () => {
      if (child.exitCode !== null) throw new Error(`tollgate exited early (${child.exitCode}):\n${out}`);
      try {
        const res = await fetch(`${base}/readyz`);
        await res.arrayBuffer();
        return res.status === 200;
      } catch {
        return false;
      }
    },
    15000,
    50,
  );
  return { child, base, port, stdout: () => out, exited };
}

describe('the tollgate process: SIGHUP and SIGTERM', () => {
  let standin: Standin;
  const children: ChildProcess[] = [];

  before(async () => {
    standin = await startStandin({ expectOpenAIKey: KEY, quiet: true });
  });
  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await standin.close();
  });

  it('reloads the env file on SIGHUP and serves the next request in the new mode', async () => {
    const envFile = join(dir, 'sighup.env');
    writeFileSync(envFile, 'SERVICE_MODE=mock\nSHUTDOWN_GRACE_MS=2000\n');
    const proc = await spawnServe(envFile);
    children.push(proc.child);

    assert.equal((await chat(proc.base)).mode, 'mock');

    // A SIGHUP with nothing changed reloads nothing and does not stop the process.
    proc.child.kill('SIGHUP');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await chat(proc.base)).servedBy, 'mock');

    writeFileSync(
      envFile,
      `SERVICE_MODE=hybrid\nSHUTDOWN_GRACE_MS=2000\nOPENAI_API_KEY=${KEY}\nOPENAI_UPSTREAM_URL=${standin.openaiBase}\n`,
    );
    // Sent at once, so the signal beats the file watcher's settle delay and does the reload itself.
    proc.child.kill('SIGHUP');
    let last = await chat(proc.base);
    await until(
      async () => {
        last = await chat(proc.base);
        return last.mode === 'hybrid';
      },
      2000,
      10,
    );
    assert.equal(last.servedBy, 'real');
    assert.ok(standin.hits('/v1/chat/completions') >= 1);
    await until(() =>
      /"trigger":"SIGHUP"[^\n]*config reloaded|config reloaded[^\n]*"trigger":"SIGHUP"/.test(proc.stdout()),
    );
    assert.ok(!proc.stdout().includes(KEY), 'the key never appears in the logs');

    const start = performance.now();
    proc.child.kill('SIGTERM');
    const { code, at } = await proc.exited;
    assert.equal(code, 0, proc.stdout());
    assert.ok(at - start < 2000 + 2000, `exited ${(at - start).toFixed(0)} ms after SIGTERM`);
  });

  it('finishes an in-flight stream on SIGTERM, answers /readyz 503 while draining, and exits 0', async (t) => {
    const grace = 5000;
    const envFile = join(dir, 'drain.env');
    writeFileSync(envFile, `SERVICE_MODE=mock\nMOCK_STREAM_CHUNK_DELAY_MS=50\nSHUTDOWN_GRACE_MS=${grace}\n`);
    const proc = await spawnServe(envFile);
    children.push(proc.child);

    // The stream, on a raw socket: on the same connection a pipelined /readyz follows later.
    const body = JSON.stringify({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'tell me a long story' }],
      stream: true,
      max_tokens: 24,
    });
    const socket = connect(proc.port, '127.0.0.1');
    let received = '';
    let firstChunkAt = 0;
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.on('error', () => {});
    socket.on('data', (c: Buffer) => {
      received += c.toString('utf8');
      if (firstChunkAt === 0 && received.includes('data: ')) firstChunkAt = performance.now();
    });
    socket.write(
      `POST /openai/v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    // A second connection with a request half sent: busy, so draining does not close it as idle.
    const probe = connect(proc.port, '127.0.0.1');
    let probeText = '';
    const probeClosed = new Promise<void>((resolve) => probe.on('close', () => resolve()));
    probe.on('error', () => {});
    probe.on('data', (c: Buffer) => {
      probeText += c.toString('utf8');
    });
    probe.write('GET /readyz HTTP/1.1\r\nHost: localhost\r\n');

    await until(() => firstChunkAt > 0, 5000, 5);
    const sigterm = performance.now();
    proc.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 150));
    // Both requests arrive after draining began.
    probe.write('Connection: close\r\n\r\n');
    socket.write('GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');

    const { code, at } = await proc.exited;
    await Promise.race([Promise.all([closed, probeClosed]), new Promise((r) => setTimeout(r, 1000))]);
    socket.destroy();
    probe.destroy();
    t.diagnostic(`exit ${(at - sigterm).toFixed(0)} ms after SIGTERM`);

    assert.equal(code, 0, proc.stdout());
    assert.ok(at - sigterm < grace + 2000, `exited ${(at - sigterm).toFixed(0)} ms after SIGTERM`);

    assert.match(received, /^HTTP\/1\.1 200/);
    assert.ok(received.includes('data: [DONE]'), `the stream ran to its end:\n${received.slice(-400)}`);
    assert.match(received, /"finish_reason":"length"/);
    const contentChunks = received.match(/"delta":\{[^}]*"content":"[^"]/g) ?? [];
    assert.ok(contentChunks.length >= 10, `${contentChunks.length} content chunks`);
    assert.ok(at - sigterm > 200, 'the process waited for the stream instead of cutting it');

    const pipelined = received.slice(received.indexOf('data: [DONE]'));
    const readyz = probeText || pipelined;
    t.diagnostic(
      `/readyz on the half-sent connection: ${JSON.stringify(probeText.split('\r\n')[0])}; pipelined: ${JSON.stringify(pipelined.split('\r\n')[2] ?? '')}`,
    );
    assert.match(readyz, /HTTP\/1\.1 503/, `/readyz while draining answered:\n${probeText}\n---\n${pipelined}`);
  });
});
