import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type AnthropicStandin, startAnthropicStandin } from './support/anthropic-standin.js';
import { type Standin, startStandin } from './support/standin.js';
import { startTestTollgate, type TestTollgate, until } from './support/tollgate.js';

/**
 * /health, /readyz and the background provider probes, end to end through a sidecar on a
 * socket, with the loopback stand-in as both providers.
 */

const OPENAI_KEY = 'sk-health-e2e-secret-0123456789abcdef';
const LLAMA_KEY = 'llx-health-e2e-secret-0123456789abcdef';
const ANTHROPIC_KEY = 'sk-ant-health-e2e-secret-0123456789';
const INTERVAL = 200;
const TIMEOUT = 100;
/** Timers, loopback I/O and a sidecar under a loaded test runner: what a deadline may overrun by. */
const SLACK = 1000;
const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
  .version;
const CHAT = { model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'how healthy are you?' }] };

interface HealthCheck {
  status: string;
  observedValue?: unknown;
  observedUnit?: string;
  time?: string;
  output?: string;
}

interface Health {
  httpStatus: number;
  contentType: string | null;
  status: string;
  version: string;
  checks: Record<string, HealthCheck[]>;
  raw: string;
}

async function health(tg: TestTollgate): Promise<Health> {
  const res = await fetch(`${tg.url}/health`, { signal: AbortSignal.timeout(5000) });
  const raw = await res.text();
  const body = JSON.parse(raw) as Omit<Health, 'httpStatus' | 'contentType' | 'raw'>;
  return { ...body, httpStatus: res.status, contentType: res.headers.get('content-type'), raw };
}

const upstream = async (tg: TestTollgate, provider: 'openai' | 'llamaparse') =>
  (await health(tg)).checks[`${provider}:upstream`]?.[0];

function chat(tg: TestTollgate): Promise<Response> {
  return fetch(`${tg.url}/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer placeholder' },
    body: JSON.stringify(CHAT),
    signal: AbortSignal.timeout(10_000),
  });
}

const realVars = (standin: Standin): Record<string, string> => ({
  SERVICE_MODE: 'real',
  ANTHROPIC_MODE: 'mock',
  OPENAI_API_KEY: OPENAI_KEY,
  LLAMA_CLOUD_API_KEY: LLAMA_KEY,
  OPENAI_UPSTREAM_URL: standin.openaiBase,
  LLAMAPARSE_UPSTREAM_URL: standin.llamaparseBase,
  HEALTH_CHECK_INTERVAL_MS: String(INTERVAL),
  HEALTH_CHECK_TIMEOUT_MS: String(TIMEOUT),
});

describe('/health with providers in REAL mode', () => {
  let standin: Standin;
  let anthropic: AnthropicStandin;
  let tg: TestTollgate;

  before(async () => {
    standin = await startStandin({ expectOpenAIKey: OPENAI_KEY, expectLlamaKey: LLAMA_KEY, quiet: true });
    anthropic = await startAnthropicStandin({ expectKey: ANTHROPIC_KEY });
    tg = await startTestTollgate({
      ...realVars(standin),
      ANTHROPIC_MODE: 'real',
      ANTHROPIC_API_KEY: ANTHROPIC_KEY,
      ANTHROPIC_UPSTREAM_URL: anthropic.url,
      BUDGET_DAILY_USD: '100',
    });
  });
  after(async () => {
    await tg.close();
    await standin.close();
    await anthropic.close();
  });
  beforeEach(async () => {
    await standin.setFault(null);
    await until(async () => (await health(tg)).status === 'pass', 2000);
  });

  it('answers application/health+json with every check in the draft shape', async () => {
    const h = await health(tg);
    assert.equal(h.httpStatus, 200);
    assert.match(h.contentType ?? '', /^application\/health\+json/);
    assert.equal(h.status, 'pass');
    assert.equal(h.version, VERSION);
    for (const key of ['openai:upstream', 'llamaparse:upstream', 'anthropic:upstream', 'state:store', 'budget:daily']) {
      assert.ok(Array.isArray(h.checks[key]) && h.checks[key].length > 0, `${key} present`);
    }
    for (const [key, list] of Object.entries(h.checks)) {
      for (const check of list) {
        assert.ok(['pass', 'warn', 'fail'].includes(check.status), `${key} status`);
        assert.ok(check.observedValue !== undefined, `${key} observedValue`);
        assert.equal(typeof check.observedUnit, 'string', `${key} observedUnit`);
        assert.ok(!Number.isNaN(Date.parse(check.time ?? '')), `${key} time`);
        assert.equal(typeof check.output, 'string', `${key} output`);
        assert.ok(!('overall' in check), 'internal fields stay internal');
      }
    }
    const openai = h.checks['openai:upstream']?.[0];
    assert.equal(openai?.observedUnit, 'ms');
    assert.equal(typeof openai?.observedValue, 'number');
    assert.ok(Date.now() - Date.parse(openai?.time ?? '') < INTERVAL + TIMEOUT + SLACK, 'a recent probe');
    assert.ok(standin.hits('/v1/models') > 0 && standin.hits('/api/v1/projects') > 0, 'both providers probed');
    assert.equal(standin.hits('/v1/chat'), 0, 'probes never make a billed call');
  });

  it('turns to fail (503) within interval + timeout when a provider goes down, and back to pass', async () => {
    await standin.setFault({ kind: 'refuse' });
    const downAfter = await until(async () => (await health(tg)).httpStatus === 503, 3000, 5);
    assert.ok(downAfter <= INTERVAL + TIMEOUT + SLACK, `failed after ${downAfter.toFixed(0)} ms`);
    // A probe in flight when the listener closed sees its kept-alive socket reset; the next one is refused.
    await until(async () => (await upstream(tg, 'openai'))?.output !== 'unreachable: ECONNRESET', 3000, 5);
    const down = await health(tg);
    assert.equal(down.status, 'fail');
    assert.equal(down.checks['openai:upstream']?.[0]?.status, 'fail');
    assert.equal(down.checks['openai:upstream']?.[0]?.output, 'unreachable: ECONNREFUSED');

    await standin.setFault(null);
    const upAfter = await until(async () => (await health(tg)).httpStatus === 200, 3000, 5);
    assert.ok(upAfter <= INTERVAL + TIMEOUT + SLACK, `recovered after ${upAfter.toFixed(0)} ms`);
    assert.equal((await upstream(tg, 'openai'))?.status, 'pass');
  });

  it('fails a provider that times out, naming the timeout', async () => {
    await standin.setFault({ kind: 'hang' }, { paths: '/api/v1/projects' });
    await until(async () => (await upstream(tg, 'llamaparse'))?.status === 'fail', 3000);
    assert.equal((await upstream(tg, 'llamaparse'))?.output, `timed out after ${TIMEOUT} ms`);
    assert.equal((await health(tg)).httpStatus, 503);
  });

  it('never shows the keys in /health or the logs', async () => {
    const h = await health(tg);
    const shown = h.raw + tg.logText();
    for (const key of [OPENAI_KEY, LLAMA_KEY]) assert.ok(!shown.includes(key));
  });
});

describe('/health with a key the provider refuses', () => {
  let standin: Standin;
  let tg: TestTollgate;
  const WRONG = 'sk-health-e2e-WRONG-secret-0123456789';

  before(async () => {
    standin = await startStandin({ expectOpenAIKey: OPENAI_KEY, expectLlamaKey: LLAMA_KEY, quiet: true });
    tg = await startTestTollgate({ ...realVars(standin), OPENAI_API_KEY: WRONG });
  });
  after(async () => {
    await tg.close();
    await standin.close();
  });

  it('fails with invalid_api_key and never echoes the key', async () => {
    await until(async () => (await upstream(tg, 'openai'))?.status === 'fail', 3000);
    const h = await health(tg);
    assert.equal(h.httpStatus, 503);
    assert.match(h.checks['openai:upstream']?.[0]?.output ?? '', /invalid_api_key/);
    assert.match(h.checks['openai:upstream']?.[0]?.output ?? '', /OPENAI_API_KEY/);
    assert.equal(h.checks['llamaparse:upstream']?.[0]?.status, 'pass');
    await sleep(INTERVAL); // a few more probes, a few more chances to log something
    const shown = (await health(tg)).raw + tg.logText();
    assert.ok(!shown.includes(WRONG), 'the key leaked');
    assert.ok(!shown.includes('WRONG-secret'), 'part of the key leaked');
  });
});

describe('HYBRID with a failing probe', () => {
  let standin: Standin;
  let tg: TestTollgate;

  before(async () => {
    standin = await startStandin({ expectOpenAIKey: OPENAI_KEY, expectLlamaKey: LLAMA_KEY, quiet: true });
    tg = await startTestTollgate({ ...realVars(standin), SERVICE_MODE: 'hybrid' });
  });
  after(async () => {
    await tg.close();
    await standin.close();
  });

  it('answers from the mock with circuit_open without touching the upstream, then returns to the provider', async () => {
    await until(async () => (await upstream(tg, 'openai'))?.status === 'pass', 3000);
    const first = await chat(tg);
    assert.equal(first.status, 200);
    assert.equal(first.headers.get('x-tollgate-served-by'), 'real');
    await first.arrayBuffer();

    // Only the probe's endpoint fails: a chat reaching the stand-in would still succeed.
    await standin.setFault({ kind: 'status', status: 503 }, { paths: '/v1/models' });
    await until(async () => (await upstream(tg, 'openai'))?.status === 'fail', INTERVAL + TIMEOUT + SLACK * 2);
    const h = await health(tg);
    assert.equal(h.status, 'warn', 'in hybrid the mock keeps serving: degraded, not down');
    assert.equal(h.httpStatus, 200);

    const chats = standin.hits('/v1/chat/completions');
    const res = await chat(tg);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-tollgate-served-by'), 'mock');
    assert.equal(res.headers.get('x-tollgate-fallback'), 'circuit_open');
    const body = (await res.json()) as { object: string };
    assert.equal(body.object, 'chat.completion');
    assert.equal(standin.hits('/v1/chat/completions'), chats, 'the upstream was not touched');

    await standin.setFault(null);
    await until(async () => (await upstream(tg, 'openai'))?.status === 'pass', INTERVAL + TIMEOUT + SLACK * 2);
    const again = await chat(tg);
    assert.equal(again.headers.get('x-tollgate-served-by'), 'real');
    await again.arrayBuffer();
  });
});

describe('/health in MOCK mode', () => {
  let standin: Standin;
  let tg: TestTollgate;

  before(async () => {
    standin = await startStandin({ quiet: true });
    tg = await startTestTollgate({
      SERVICE_MODE: 'mock',
      OPENAI_UPSTREAM_URL: standin.openaiBase,
      LLAMAPARSE_UPSTREAM_URL: standin.llamaparseBase,
      HEALTH_CHECK_INTERVAL_MS: String(INTERVAL),
      HEALTH_CHECK_TIMEOUT_MS: String(TIMEOUT),
    });
  });
  after(async () => {
    await tg.close();
    await standin.close();
  });

  it('passes without probing anything', async () => {
    await sleep(INTERVAL * 2);
    const h = await health(tg);
    assert.equal(h.httpStatus, 200);
    assert.equal(h.status, 'pass');
    for (const p of ['openai', 'llamaparse']) {
      assert.equal(h.checks[`${p}:upstream`]?.[0]?.status, 'pass');
      assert.equal(h.checks[`${p}:upstream`]?.[0]?.output, 'mock mode: upstream not used');
    }
    assert.equal(h.checks['budget:daily'], undefined, 'no budget check without BUDGET_DAILY_USD');
    assert.equal(standin.hits(), 0);
  });
});

describe('budget:daily', () => {
  const mockVars = { SERVICE_MODE: 'mock', BUDGET_INCLUDE_MOCK: 'true', MOCK_SEED: '7' };
  let tg: TestTollgate | undefined;
  afterEach(async () => {
    await tg?.close();
    tg = undefined;
  });

  it('warns (still 200) once spend reaches BUDGET_WARN_RATIO of the daily budget', async () => {
    // The mock is deterministic: learn what one call costs, then give a budget it fills to 85 %.
    const probe = await startTestTollgate(mockVars);
    const first = await chat(probe);
    const cost = Number(first.headers.get('x-tollgate-cost-usd'));
    await first.arrayBuffer();
    await probe.close();
    assert.ok(cost > 0, 'the shadow cost of a mock call');

    tg = await startTestTollgate({ ...mockVars, BUDGET_DAILY_USD: String(cost / 0.85), BUDGET_WARN_RATIO: '0.8' });
    const fresh = await health(tg);
    assert.equal(fresh.checks['budget:daily']?.[0]?.status, 'pass');
    assert.equal(fresh.status, 'pass');

    const spent = await chat(tg);
    assert.equal(spent.status, 200);
    await spent.arrayBuffer();
    const started = tg;
    await until(async () => (await health(started)).checks['budget:daily']?.[0]?.status === 'warn', 8000, 50);
    const h = await health(tg);
    assert.equal(h.status, 'warn');
    assert.equal(h.httpStatus, 200);
    const budget = h.checks['budget:daily']?.[0];
    assert.ok(typeof budget?.observedValue === 'number' && budget.observedValue >= 0.8 && budget.observedValue < 1);
  });
});

describe('/readyz while draining', () => {
  let tg: TestTollgate;

  before(async () => {
    tg = await startTestTollgate({ SERVICE_MODE: 'mock', MOCK_LATENCY_MS: '1000', SHUTDOWN_GRACE_MS: '5000' });
  });
  after(async () => {
    await tg.close();
  });

  it('answers 503 on a kept-alive connection while a request drains, and refuses new connections', async () => {
    const socket = await open(tg.port);
    try {
      const ready = await ask(socket, 'GET /readyz HTTP/1.1\r\nhost: tollgate\r\n\r\n');
      assert.match(ready, /^HTTP\/1\.1 200 /);

      const slow = chat(tg); // keeps the drain going for MOCK_LATENCY_MS
      await until(() => tg.inFlight() >= 1);
      // A half-sent request keeps this connection from counting as idle when shutdown closes idle ones.
      socket.write('GET /readyz HTTP/1.1\r\nhost: tollgate\r\n');
      await sleep(50);
      const closing = tg.shutdown('test');

      await assert.rejects(fetch(`${tg.url}/readyz`, { signal: AbortSignal.timeout(2000) }), 'no new connections');
      const draining = await ask(socket, '\r\n');
      assert.match(draining, /^HTTP\/1\.1 503 /);
      assert.match(draining, /\r\nconnection: close\r\n/i);
      assert.deepEqual(JSON.parse(draining.slice(draining.indexOf('\r\n\r\n') + 4)), {
        status: 'fail',
        output: 'draining',
      });

      const finished = await slow;
      assert.equal(finished.status, 200, 'the in-flight request finished');
      await finished.arrayBuffer();
      await closing;
    } finally {
      socket.destroy();
    }
  });
});

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Writes to a kept-alive socket and reads one whole response (headers plus content-length body). */
function ask(socket: Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      const s = got.toString('latin1');
      const end = s.indexOf('\r\n\r\n');
      if (end === -1) return;
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(s)?.[1] ?? 0);
      if (got.length >= end + 4 + length) {
        socket.off('data', onData);
        socket.off('error', reject);
        resolve(got.toString('utf8'));
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(text);
  });
}

describe('startup warnings about the form of a key', () => {
  let standin: Standin;
  let tg: TestTollgate;
  const MISFORMED = 'llx-pasted-into-the-wrong-variable-42';

  before(async () => {
    standin = await startStandin({ quiet: true });
    tg = await startTestTollgate({
      SERVICE_MODE: 'hybrid',
      OPENAI_API_KEY: MISFORMED,
      OPENAI_UPSTREAM_URL: standin.openaiBase,
      LLAMAPARSE_UPSTREAM_URL: standin.llamaparseBase,
    });
  });
  after(async () => {
    await tg.close();
    await standin.close();
  });

  it('logs a warning naming the variable and the expected prefix, not the value', () => {
    const warnings = tg.logs.filter(
      (l) => (l['level'] === 'warn' || l['level'] === 40) && String(l['msg']).includes('OPENAI_API_KEY'),
    );
    assert.equal(warnings.length, 1, 'one warning at startup');
    assert.match(String(warnings[0]?.['msg']), /expected it to start with "sk-"/);
    assert.ok(!tg.logText().includes(MISFORMED));
  });
});
