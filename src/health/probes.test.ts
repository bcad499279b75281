import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Standin, startStandin } from '../../test/support/standin.js';
import { until } from '../../test/support/tollgate.js';
import { type Config, loadConfig, type Mode, type Provider } from '../config/index.js';
import { type Check, keyFormWarnings, type ProbeFetcher, ProviderProbes } from './index.js';

const OPENAI_KEY = 'sk-probe-test-key-0123456789abcdef';
const LLAMA_KEY = 'llx-probe-test-key-0123456789abcdef';
const INTERVAL = 200;
const TIMEOUT = 100;
/** Timers and loopback I/O under a loaded test runner: what a deadline may overrun by. */
const SLACK = 1000;

function makeConfig(vars: Record<string, string>): Config {
  return loadConfig({ env: { ENV_FILE: '', ...vars }, cwd: process.cwd() }).config;
}

interface LogLine {
  level: 'warn' | 'info';
  obj: object;
  msg: string;
}

function memoryLog() {
  const lines: LogLine[] = [];
  return {
    lines,
    warn: (obj: object, msg: string) => lines.push({ level: 'warn', obj, msg }),
    info: (obj: object, msg: string) => lines.push({ level: 'info', obj, msg }),
  };
}

describe('ProviderProbes against the stand-in', () => {
  let standin: Standin;
  let config: Config;
  let log: ReturnType<typeof memoryLog>;
  let probes: ProviderProbes | undefined;

  before(async () => {
    standin = await startStandin({ expectOpenAIKey: OPENAI_KEY, expectLlamaKey: LLAMA_KEY, quiet: true });
    // The first undici request of a process loads and compiles a lot: keep that out of timed tests.
    const warm = makeConfig({
      OPENAI_MODE: 'real',
      OPENAI_API_KEY: OPENAI_KEY,
      OPENAI_UPSTREAM_URL: standin.openaiBase,
    });
    const warmup = new ProviderProbes({ config: () => warm, log: memoryLog() });
    await warmup.probeNow('openai');
    await warmup.stop();
  });
  after(async () => {
    await standin.close();
  });
  beforeEach(async () => {
    await standin.setFault(null);
    standin.reset();
    log = memoryLog();
    config = makeConfig({
      SERVICE_MODE: 'real',
      ANTHROPIC_MODE: 'mock',
      OPENAI_API_KEY: OPENAI_KEY,
      LLAMA_CLOUD_API_KEY: LLAMA_KEY,
      OPENAI_UPSTREAM_URL: standin.openaiBase,
      LLAMAPARSE_UPSTREAM_URL: standin.llamaparseBase,
      HEALTH_CHECK_INTERVAL_MS: String(INTERVAL),
      HEALTH_CHECK_TIMEOUT_MS: String(TIMEOUT),
    });
  });
  afterEach(async () => {
    await probes?.stop();
    probes = undefined;
  });

  const create = (extra: { mode?: (p: Provider) => Mode; fetcher?: ProbeFetcher } = {}) => {
    probes = new ProviderProbes({ config: () => config, log, ...extra });
    return probes;
  };
  const statusOf = (p: Provider) => probes?.check(p).status;

  it('passes on a 200 from each free endpoint, with the latency in ms and the key sent upstream', async () => {
    config.health.timeoutMs = 5000; // about what is sent, not how fast
    const pr = create();
    const [openai, llama] = await Promise.all([pr.probeNow('openai'), pr.probeNow('llamaparse')]);
    for (const check of [openai, llama]) {
      assert.equal(check.status, 'pass');
      assert.equal(check.observedUnit, 'ms');
      assert.equal(typeof check.observedValue, 'number');
      assert.ok((check.observedValue as number) >= 0 && (check.observedValue as number) < 5000);
      assert.ok(Math.abs(Date.parse(check.time) - Date.now()) < 5000);
    }
    assert.match(openai.output ?? '', /GET \/models: HTTP 200/);
    assert.match(llama.output ?? '', /GET \/api\/v1\/projects: HTTP 200/);
    const seen = standin.requests.map((r) => [r.method, r.url, r.headers.authorization]);
    assert.deepEqual(
      seen.sort(),
      [
        ['GET', '/api/v1/projects', `Bearer ${LLAMA_KEY}`],
        ['GET', '/v1/models', `Bearer ${OPENAI_KEY}`],
      ],
      'exactly the two free listings, nothing billed',
    );
    assert.equal(pr.up('openai'), true);
    assert.equal(pr.up('llamaparse'), true);
  });

  it('turns to fail within one interval + timeout when the provider refuses connections, and back to pass', async () => {
    const pr = create();
    await pr.start();
    assert.equal(statusOf('openai'), 'pass');

    await standin.setFault({ kind: 'refuse' });
    const downAfter = await until(() => statusOf('openai') === 'fail', INTERVAL + TIMEOUT + SLACK * 2, 5);
    assert.ok(downAfter <= INTERVAL + TIMEOUT + SLACK, `failed after ${downAfter.toFixed(0)} ms`);
    const down = pr.check('openai');
    assert.equal(down.output, 'unreachable: ECONNREFUSED');
    assert.equal(typeof down.observedValue, 'number');
    assert.equal(pr.up('openai'), false);
    assert.equal(pr.up('llamaparse'), false, 'one stand-in serves both providers');

    await standin.setFault(null);
    const upAfter = await until(() => statusOf('openai') === 'pass', INTERVAL + TIMEOUT + SLACK * 2, 5);
    assert.ok(upAfter <= INTERVAL + TIMEOUT + SLACK, `recovered after ${upAfter.toFixed(0)} ms`);
    assert.equal(pr.up('openai'), true);

    const transitions = log.lines.filter((l) => (l.obj as { provider?: string }).provider === 'openai');
    assert.deepEqual(
      transitions.map((l) => [l.level, l.msg]),
      [
        ['info', 'OpenAI probe passing'],
        ['warn', 'OpenAI probe failing'],
        ['info', 'OpenAI probe passing'],
      ],
      'logs changes only, not every tick',
    );
  });

  it('fails a hanging provider with "timed out after N ms" and does not overlap probes', async () => {
    await standin.setFault({ kind: 'hang' });
    const pr = create();
    const started = performance.now();
    const check = await pr.probeNow('openai');
    const took = performance.now() - started;
    assert.equal(check.status, 'fail');
    assert.equal(check.output, `timed out after ${TIMEOUT} ms`);
    assert.ok(took >= TIMEOUT - 5 && took < TIMEOUT + SLACK, `gave up after ${took.toFixed(0)} ms`);
    assert.equal(pr.up('openai'), false);
  });

  it('skips a tick while the previous probe still runs', async () => {
    let active = 0;
    let peak = 0;
    let calls = 0;
    const slow: ProbeFetcher = async ({ signal }) => {
      calls += 1;
      active += 1;
      peak = Math.max(peak, active);
      try {
        await sleep(3 * INTERVAL, undefined, { signal });
        return { status: 200, body: '' };
      } finally {
        active -= 1;
      }
    };
    config.health.timeoutMs = 10 * INTERVAL;
    config.providers.llamaparse.mode = 'mock';
    const pr = create({ fetcher: slow });
    void pr.start();
    await sleep(7 * INTERVAL);
    assert.equal(peak, 1);
    assert.ok(calls >= 2 && calls <= 3, `${calls} probes in 7 intervals of 3-interval probes`);
  });

  it('fails a rejected key with invalid_api_key and never shows the key', async () => {
    config.providers.openai.apiKey = 'sk-wrong-secret-value-987654321';
    config.providers.llamaparse.apiKey = 'llx-wrong-secret-value-987654321';
    const pr = create();
    const [openai, llama] = await Promise.all([pr.probeNow('openai'), pr.probeNow('llamaparse')]);
    assert.equal(openai.status, 'fail');
    assert.equal(llama.status, 'fail');
    assert.equal(openai.output, 'invalid_api_key: the provider rejected OPENAI_API_KEY (HTTP 401)');
    assert.equal(llama.output, 'invalid_api_key: the provider rejected LLAMA_CLOUD_API_KEY (HTTP 401)');
    const shown = JSON.stringify([openai, llama, log.lines]);
    for (const secret of ['sk-wrong-secret-value-987654321', 'llx-wrong-secret-value-987654321', 'wrong-secret']) {
      assert.ok(!shown.includes(secret), `${secret} leaked`);
    }
    assert.ok(!shown.includes('sk-wr'), "not even the masked start OpenAI's message repeats");
  });

  it('warns on 429 (still up) and fails on 5xx with the status', async () => {
    const pr = create();
    await standin.setFault({ kind: 'status', status: 429 }, { times: 1 });
    const limited = await pr.probeNow('openai');
    assert.equal(limited.status, 'warn');
    assert.match(limited.output ?? '', /^rate limited by provider/);
    assert.equal(pr.up('openai'), true);

    await standin.setFault({ kind: 'status', status: 503 }, { times: 1 });
    const broken = await pr.probeNow('llamaparse');
    assert.equal(broken.status, 'fail');
    assert.equal(broken.output, 'HTTP 503');
    assert.equal(pr.up('llamaparse'), false);
  });

  it('fails with a hint when the probe path is not found (a wrong upstream URL)', async () => {
    config.providers.openai.upstreamUrl = standin.url; // missing /v1
    const check = await create().probeNow('openai');
    assert.equal(check.status, 'fail');
    assert.equal(check.output, 'HTTP 404: GET /models not found; check OPENAI_UPSTREAM_URL');
  });

  it('does not probe providers in mock mode and reports them as passing', async () => {
    config.providers.openai.mode = 'mock';
    config.providers.llamaparse.mode = 'mock';
    const pr = create();
    await pr.start();
    await sleep(INTERVAL * 2);
    assert.equal(await pr.probeNow('openai').then((c) => c.status), 'pass');
    assert.equal(standin.hits(), 0);
    for (const p of ['openai', 'llamaparse'] as const) {
      const check = pr.check(p);
      assert.equal(check.status, 'pass');
      assert.equal(check.output, 'mock mode: upstream not used');
      assert.equal(pr.up(p), true);
    }
  });

  it('follows the effective mode it is given (a switch through /admin/mode)', async () => {
    const modes: Record<Provider, Mode> = { openai: 'mock', llamaparse: 'mock', anthropic: 'mock' };
    const pr = create({ mode: (p) => modes[p] });
    await pr.start();
    assert.equal(standin.hits(), 0);
    modes.openai = 'hybrid';
    await until(() => statusOf('openai') === 'pass' && standin.hits('/v1/models') > 0, INTERVAL + SLACK * 2);
    assert.equal(standin.hits('/api/'), 0);
  });

  it('warns without probing when a hybrid provider has no key', async () => {
    config.providers.openai.mode = 'hybrid';
    config.providers.openai.apiKey = undefined;
    const pr = create();
    await pr.start();
    const check = pr.check('openai');
    assert.equal(check.status, 'warn');
    assert.equal(check.output, 'no API key: served by the mock');
    assert.equal(pr.up('openai'), true);
    assert.equal(standin.hits('/v1/'), 0);
    assert.equal(standin.hits('/api/v1/projects'), 1, 'the other provider is still probed');
  });

  it('counts a failing provider as degraded, not down, in hybrid mode', async () => {
    config.providers.openai.mode = 'hybrid';
    await standin.setFault({ kind: 'status', status: 500 }, { times: 1 });
    const check: Check = await create().probeNow('openai');
    assert.equal(check.status, 'fail');
    assert.equal(check.overall, 'warn');
  });

  it('re-reads config every tick: a new key or URL applies within one interval', async () => {
    config.providers.openai.apiKey = 'sk-not-the-right-one';
    const pr = create();
    await pr.start();
    assert.equal(statusOf('openai'), 'fail');
    config.providers.openai.apiKey = OPENAI_KEY; // a reload fixed it
    assert.equal(pr.up('openai'), true, 'a result for another key no longer counts');
    assert.equal(pr.check('openai').output, 'not probed yet');
    const took = await until(() => statusOf('openai') === 'pass', INTERVAL + SLACK * 2, 5);
    assert.ok(took <= INTERVAL + SLACK, `applied after ${took.toFixed(0)} ms`);

    config.health.intervalMs = 60_000;
    await sleep(INTERVAL); // the tick in flight picks up the longer interval
    const hits = standin.hits('/v1/models');
    await sleep(INTERVAL * 3);
    assert.equal(standin.hits('/v1/models'), hits, 'no probes once the interval is a minute');
  });

  it('stops promptly with a probe hanging, and probes no more', async () => {
    await standin.setFault({ kind: 'hang' });
    config.health.timeoutMs = 5000;
    const pr = create();
    void pr.start();
    await until(() => standin.hits('/v1/models') === 1);
    const started = performance.now();
    await pr.stop();
    assert.ok(performance.now() - started < 500, 'stop does not wait for the timeout');
    const hits = standin.hits();
    await sleep(INTERVAL * 2);
    assert.equal(standin.hits(), hits);
  });
});

describe('keyFormWarnings', () => {
  const base = { SERVICE_MODE: 'hybrid' };

  it('names the variable and the expected prefix, never the value', () => {
    const warnings = keyFormWarnings(
      makeConfig({ ...base, OPENAI_API_KEY: 'llx-swapped-secret-1', LLAMA_CLOUD_API_KEY: 'sk-swapped-secret-2' }),
    );
    assert.deepEqual(warnings, [
      'OPENAI_API_KEY does not look like an OpenAI key: expected it to start with "sk-"',
      'LLAMA_CLOUD_API_KEY does not look like a LlamaCloud key: expected it to start with "llx-"',
    ]);
    assert.ok(!warnings.join('\n').includes('swapped-secret'));
  });

  it('accepts keys of the right form and absent keys', () => {
    assert.deepEqual(
      keyFormWarnings(makeConfig({ ...base, OPENAI_API_KEY: 'sk-proj-abc', LLAMA_CLOUD_API_KEY: 'llx-abc' })),
      [],
    );
    assert.deepEqual(keyFormWarnings(makeConfig(base)), []);
  });

  it('points out quotes or whitespace pasted around a key', () => {
    const warnings = keyFormWarnings(makeConfig({ ...base, OPENAI_API_KEY: '"sk-quoted-secret"' }));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /^OPENAI_API_KEY has surrounding whitespace or quotes/);
    assert.ok(!warnings[0]?.includes('quoted-secret'));
  });
});
