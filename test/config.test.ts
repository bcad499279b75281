/**
 * Configuration (contract sections 1 and 2): defaults, validation that names every bad variable,
 * the env file and CONFIG_FILE, the `check-config` and `serve` commands, and hot reload.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError, ConfigSource, type Loaded, loadConfig, type ReloadLog } from '../src/config/index.js';
import { cli as runCli } from './support/cli.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-config-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

let fileSerial = 0;
/** Writes a file in the test's temp dir and returns its path. */
const file = (name: string, text: string) => {
  fileSerial += 1;
  const path = join(dir, `${fileSerial}-${name}`);
  writeFileSync(path, text);
  return path;
};

/** Loads with exactly these variables: no env file unless ENV_FILE is given. */
const load = (env: Record<string, string>, cwd = dir) => loadConfig({ env: { ENV_FILE: '', ...env }, cwd });

/** An issue about `name`: `NAME=value (where): why`, or `NAME (not set): why`. */
const isAbout = (issue: string, name: string) => new RegExp(`^${name}[=: (]`).test(issue);

const configError = (env: Record<string, string>, cwd = dir): ConfigError => {
  try {
    load(env, cwd);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected loadConfig to throw a ConfigError');
};

describe('loadConfig', () => {
  it('uses the defaults of contract section 2 when nothing is set', () => {
    const { config, envFile } = load({});
    assert.equal(envFile, undefined);
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.port, 8790);
    assert.equal(config.defaultMode, 'mock');
    assert.deepEqual(config.providers.openai, {
      mode: 'mock',
      apiKey: undefined,
      upstreamUrl: 'https://api.openai.com/v1',
    });
    assert.deepEqual(config.providers.llamaparse, {
      mode: 'mock',
      apiKey: undefined,
      upstreamUrl: 'https://api.cloud.llamaindex.ai',
    });
    assert.equal(config.forwardClientAuth, false);
    assert.deepEqual(config.upstream, { connectTimeoutMs: 2000, timeoutMs: 120000 });
    assert.equal(config.limits.openai.requests, undefined, 'unlimited by default');
    assert.equal(config.limits.openai.tokens, undefined);
    assert.equal(config.limits.llamaparse.requests, undefined);
    assert.equal(config.limits.llamaparse.pages, undefined);
    assert.deepEqual(config.budgets.caps, { total: {}, openai: {}, llamaparse: {}, anthropic: {} });
    assert.equal(config.budgets.timezone, 'UTC');
    assert.equal(config.budgets.exceededAction, 'reject');
    assert.equal(config.budgets.warnRatio, 0.8);
    assert.equal(config.budgets.includeMock, false);
    assert.equal(config.reserveOutputTokens, 4096);
    assert.equal(config.stateUrl, 'sqlite:./data/tollgate.db');
    assert.equal(config.pricesFile, undefined);
    assert.deepEqual(config.health, { intervalMs: 30000, timeoutMs: 5000 });
    assert.deepEqual(config.circuit, { failureThreshold: 5, resetMs: 15000 });
    assert.equal(config.maxBodyBytes, 20971520);
    assert.equal(config.maxUploadBytes, 104857600);
    assert.equal(config.adminToken, undefined);
    assert.equal(config.allowModeHeader, false);
    assert.deepEqual(config.mock, {
      latencyMs: [0, 0],
      streamChunkDelayMs: 0,
      errorRate: 0,
      seed: 0,
      parseDelayMs: 500,
    });
    assert.equal(config.shutdownGraceMs, 10000);
    assert.equal(config.logLevel, 'info');
    assert.deepEqual(config.otel, { serviceName: 'tollgate', endpoint: undefined });
  });

  it('names every bad variable in one ConfigError', () => {
    const err = configError({
      PORT: 'abc',
      SERVICE_MODE: 'fast',
      MOCK_ERROR_RATE: '2',
      OPENAI_UPSTREAM_URL: 'ftp://x',
    });
    for (const name of ['PORT', 'SERVICE_MODE', 'MOCK_ERROR_RATE', 'OPENAI_UPSTREAM_URL']) {
      assert.ok(
        err.issues.some((i) => isAbout(i, name)),
        `${name} is named: ${err.issues.join(' | ')}`,
      );
      assert.match(err.message, new RegExp(`\\b${name}\\b`));
    }
    assert.equal(err.issues.length, 4, err.issues.join(' | '));
  });

  it('says why each variable is bad', () => {
    const err = configError({ SERVICE_MODE: 'fast', MOCK_ERROR_RATE: '2' });
    const why = (name: string) => err.issues.find((i) => isAbout(i, name)) ?? '';
    assert.match(why('SERVICE_MODE'), /mock, real, hybrid/);
    assert.match(why('MOCK_ERROR_RATE'), /between 0 and 1|at most 1|<=\s*1/);
  });

  it('requires OPENAI_API_KEY when OpenAI runs in real mode', () => {
    const err = configError({ SERVICE_MODE: 'real', LLAMA_CLOUD_API_KEY: 'llx-abc' });
    assert.ok(
      err.issues.some((i) => isAbout(i, 'OPENAI_API_KEY')),
      err.issues.join(' | '),
    );
    assert.ok(!err.issues.some((i) => isAbout(i, 'LLAMA_CLOUD_API_KEY')));
  });

  it('requires OPENAI_API_KEY when only OPENAI_MODE is real', () => {
    const err = configError({ OPENAI_MODE: 'real' });
    assert.ok(err.issues.some((i) => isAbout(i, 'OPENAI_API_KEY')));
  });

  it('does not require a key in hybrid mode', () => {
    const { config } = load({ SERVICE_MODE: 'hybrid' });
    assert.equal(config.providers.openai.mode, 'hybrid');
    assert.equal(config.providers.openai.apiKey, undefined);
  });

  it('lets per-provider modes override SERVICE_MODE', () => {
    const { config } = load({ SERVICE_MODE: 'hybrid', LLAMAPARSE_MODE: 'mock' });
    assert.equal(config.providers.openai.mode, 'hybrid');
    assert.equal(config.providers.llamaparse.mode, 'mock');
  });

  it('parses MOCK_LATENCY_MS=50-200 to a range and a single number to a point', () => {
    assert.deepEqual(load({ MOCK_LATENCY_MS: '50-200' }).config.mock.latencyMs, [50, 200]);
    assert.deepEqual(load({ MOCK_LATENCY_MS: '75' }).config.mock.latencyMs, [75, 75]);
  });

  it('rejects MOCK_LATENCY_MS=200-50', () => {
    const err = configError({ MOCK_LATENCY_MS: '200-50' });
    assert.ok(err.issues.some((i) => isAbout(i, 'MOCK_LATENCY_MS')));
  });

  it('rejects MOCK_LATENCY_MS that is not milliseconds', () => {
    const err = configError({ MOCK_LATENCY_MS: 'soon' });
    assert.ok(err.issues.some((i) => isAbout(i, 'MOCK_LATENCY_MS')));
  });

  it('gives a bucket one minute’s worth of burst, at least 1', () => {
    const { config } = load({ OPENAI_REQUESTS_PER_HOUR: '600', OPENAI_TOKENS_PER_HOUR: '30' });
    assert.deepEqual(config.limits.openai.requests, { limit: 600, burst: 10 });
    assert.deepEqual(config.limits.openai.tokens, { limit: 30, burst: 1 });
  });

  it('refuses an ADMIN_TOKEN shorter than 16 characters', () => {
    const err = configError({ ADMIN_TOKEN: 'short' });
    assert.ok(err.issues.some((i) => isAbout(i, 'ADMIN_TOKEN')));
  });

  it('reads the env file, and the process environment wins', () => {
    const envFile = file('.env', 'SERVICE_MODE=hybrid\nMOCK_SEED=7\nLOG_LEVEL=debug\n');
    const { config, envFile: read } = load({ ENV_FILE: envFile, SERVICE_MODE: 'mock' });
    assert.equal(read, envFile);
    assert.equal(config.defaultMode, 'mock', 'process env wins');
    assert.equal(config.mock.seed, 7, 'from the file');
    assert.equal(config.logLevel, 'debug', 'from the file');
  });

  it('reads .env.development from the working directory when ENV_FILE is not set', () => {
    const cwd = mkdtempSync(join(dir, 'cwd-'));
    writeFileSync(join(cwd, '.env.development'), 'MOCK_SEED=3\n');
    const loaded = loadConfig({ env: {}, cwd });
    assert.equal(loaded.config.mock.seed, 3);
    assert.equal(loaded.envFile, join(cwd, '.env.development'));
  });

  it('names ENV_FILE when the env file cannot be read', () => {
    const err = configError({ ENV_FILE: join(dir, 'does-not-exist.env') });
    assert.ok(err.issues.some((i) => i.startsWith('ENV_FILE')));
  });

  it('names bad variables from the env file as well', () => {
    const envFile = file('.env', 'PORT=99999\n');
    const err = configError({ ENV_FILE: envFile });
    assert.ok(err.issues.some((i) => isAbout(i, 'PORT')));
  });

  for (const [kind, name, text] of [
    ['YAML', 'limits.yaml', 'limits:\n  openai:\n    models:\n      gpt-4o-mini:\n        requests_per_hour: -5\n'],
    [
      'JSON',
      'limits.json',
      JSON.stringify({ limits: { openai: { models: { 'gpt-4o-mini': { tokens_per_hour: -1 } } } } }),
    ],
  ] as const) {
    it(`rejects a ${kind} CONFIG_FILE with a negative limit, naming the field`, () => {
      const path = file(name, text);
      const err = configError({ CONFIG_FILE: path });
      const field = kind === 'YAML' ? 'requests_per_hour' : 'tokens_per_hour';
      const issue = err.issues.find((i) => i.includes(field));
      assert.ok(issue, err.issues.join(' | '));
      assert.match(issue, /CONFIG_FILE/);
      assert.match(issue, /limits\.openai\.models\.gpt-4o-mini/);
    });
  }

  it('rejects a negative budget in CONFIG_FILE, naming the field', () => {
    const path = file('budgets.yaml', 'budgets:\n  openai:\n    daily_usd: -2\n');
    const err = configError({ CONFIG_FILE: path });
    assert.ok(
      err.issues.some((i) => i.includes('budgets.openai.daily_usd')),
      err.issues.join(' | '),
    );
  });

  it('reports CONFIG_FILE issues together with bad variables', () => {
    const path = file('bad.json', JSON.stringify({ limits: { openai: { models: { m: { pages_burst: -3 } } } } }));
    const err = configError({ CONFIG_FILE: path, PORT: 'abc' });
    assert.ok(err.issues.some((i) => isAbout(i, 'PORT')));
    assert.ok(err.issues.some((i) => i.includes('pages_burst')));
  });

  it('accepts a valid YAML CONFIG_FILE', () => {
    const path = file(
      'ok.yaml',
      'limits:\n  openai:\n    models:\n      gpt-4o:\n        requests_per_hour: 100\n  llamaparse:\n    models: {}\nbudgets:\n  openai:\n    daily_usd: 2.5\n',
    );
    const { config } = load({ CONFIG_FILE: path });
    assert.deepEqual(config.limits.models?.openai?.models['gpt-4o'], { requests_per_hour: 100 });
    assert.deepEqual(config.budgets.extra?.['openai'], { daily_usd: 2.5 });
  });

  it('accepts a CONFIG_FILE that sets per-model limits for one provider only', () => {
    const path = file(
      'one-provider.yaml',
      'limits:\n  openai:\n    models:\n      gpt-4o:\n        requests_per_hour: 100\nbudgets:\n  openai:\n    daily_usd: 2.5\n',
    );
    const { config } = load({ CONFIG_FILE: path });
    assert.deepEqual(config.limits.models?.openai?.models['gpt-4o'], { requests_per_hour: 100 });
    assert.deepEqual(config.budgets.extra?.['openai'], { daily_usd: 2.5 });
  });

  it('names CONFIG_FILE when it is not valid YAML or JSON', () => {
    const path = file('broken.json', '{"limits": ');
    const err = configError({ CONFIG_FILE: path });
    assert.ok(err.issues.some((i) => i.startsWith('CONFIG_FILE')));
  });
});

/** Runs the real CLI in the test's temp dir with exactly these variables. */
const cli = (args: string[], env: Record<string, string>) => runCli(args, env, dir);

describe('tollgate check-config and serve', () => {
  const OPENAI_KEY = 'sk-proj-VERYSECRETcheckconfig0123456789';
  const LLAMA_KEY = 'llx-VERYSECRETllama0123456789';
  const ADMIN = 'admin-token-VERYSECRET-0123456789';

  it('exits 0 and prints the effective config with the keys masked', async () => {
    const envFile = file(
      'ok.env',
      `SERVICE_MODE=hybrid\nOPENAI_API_KEY=${OPENAI_KEY}\nLLAMA_CLOUD_API_KEY=${LLAMA_KEY}\nADMIN_TOKEN=${ADMIN}\n`,
    );
    const run = await cli(['check-config'], { ENV_FILE: envFile });
    assert.equal(run.code, 0, run.stderr);
    for (const secret of [OPENAI_KEY, LLAMA_KEY, ADMIN, 'VERYSECRET']) {
      assert.ok(!run.stdout.includes(secret), `stdout leaks ${secret}`);
      assert.ok(!run.stderr.includes(secret), `stderr leaks ${secret}`);
    }
    const printed = JSON.parse(run.stdout) as { env_file: string; config: Record<string, unknown> };
    assert.equal(printed.env_file, envFile);
    assert.equal(printed.config['SERVICE_MODE'], 'hybrid');
    assert.equal(typeof printed.config['OPENAI_API_KEY'], 'string', 'the key is shown as present');
    assert.match(String(printed.config['OPENAI_API_KEY']), /\*/);
    assert.match(String(printed.config['ADMIN_TOKEN']), /\*/);
  });

  it('exits 2 naming each bad variable on stderr, without a stack trace', async () => {
    const envFile = file('bad.env', 'PORT=abc\nSERVICE_MODE=fast\n');
    const run = await cli(['check-config'], {
      ENV_FILE: envFile,
      MOCK_ERROR_RATE: '2',
      OPENAI_UPSTREAM_URL: 'ftp://x',
    });
    assert.equal(run.code, 2);
    for (const name of ['PORT', 'SERVICE_MODE', 'MOCK_ERROR_RATE', 'OPENAI_UPSTREAM_URL']) {
      assert.match(run.stderr, new RegExp(`\\b${name}\\b`), `stderr names ${name}`);
    }
    assert.ok(!run.stderr.includes('    at '), `no stack trace:\n${run.stderr}`);
    assert.equal(run.stdout, '');
  });

  it('exits 2 with a missing key named when real mode has none', async () => {
    const run = await cli(['check-config'], { ENV_FILE: '', SERVICE_MODE: 'real', LLAMA_CLOUD_API_KEY: LLAMA_KEY });
    assert.equal(run.code, 2);
    assert.match(run.stderr, /OPENAI_API_KEY/);
    assert.ok(!run.stderr.includes(LLAMA_KEY), 'the other key is not echoed');
  });

  it('serve exits 2 on bad config, without a stack trace', async () => {
    const run = await cli(['serve'], { ENV_FILE: '', PORT: 'abc', STATE_URL: 'memory:', SERVICE_MODE: 'fast' });
    assert.equal(run.code, 2);
    assert.match(run.stderr, /\bPORT\b/);
    assert.match(run.stderr, /\bSERVICE_MODE\b/);
    assert.ok(!run.stderr.includes('    at '), `no stack trace:\n${run.stderr}`);
  });

  it('exits 2 on an unknown command', async () => {
    const run = await cli(['frobnicate'], { ENV_FILE: '' });
    assert.equal(run.code, 2);
    assert.match(run.stderr, /frobnicate/);
  });
});

/** A ReloadLog that keeps what it was told. */
function recordingLog() {
  const lines: { level: 'info' | 'warn' | 'error'; obj: object; msg: string }[] = [];
  const log: ReloadLog = {
    info: (obj, msg) => lines.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => lines.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => lines.push({ level: 'error', obj, msg }),
  };
  return { log, lines };
}

describe('hot reload (ConfigSource)', () => {
  const sources: ConfigSource[] = [];
  after(() => {
    for (const s of sources) s.close();
  });

  const watched = (initial: string) => {
    const envFile = file('watched.env', initial);
    const options = { env: { ENV_FILE: envFile }, cwd: dir };
    const { log, lines } = recordingLog();
    const source = new ConfigSource(loadConfig(options), options, log).watch();
    sources.push(source);
    return { envFile, source, lines };
  };

  const nextChange = (source: ConfigSource, timeoutMs = 3000) =>
    new Promise<{ loaded: Loaded; changed: string[] }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no change event within ${timeoutMs} ms`)), timeoutMs);
      source.once('change', ({ next, changed }) => {
        clearTimeout(timer);
        resolve({ loaded: next, changed });
      });
    });

  const until = async (predicate: () => boolean, timeoutMs = 3000) => {
    const start = performance.now();
    while (!predicate()) {
      if (performance.now() - start > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return performance.now() - start;
  };

  it('reloads a changed env file within 1 s and emits change', async (t) => {
    const { envFile, source } = watched('SERVICE_MODE=mock\nMOCK_SEED=1\n');
    // Let the watchers settle, so the edit is a distinct event.
    await new Promise((r) => setTimeout(r, 100));
    const change = nextChange(source);
    const start = performance.now();
    writeFileSync(envFile, 'SERVICE_MODE=hybrid\nMOCK_SEED=2\n');
    const { loaded, changed } = await change;
    const ms = performance.now() - start;
    t.diagnostic(`env file reload latency: ${ms.toFixed(1)} ms`);
    assert.ok(ms < 1000, `reload took ${ms.toFixed(0)} ms`);
    assert.equal(loaded.config.defaultMode, 'hybrid');
    assert.equal(loaded.config.mock.seed, 2);
    assert.deepEqual([...changed].sort(), ['MOCK_SEED', 'SERVICE_MODE']);
    assert.equal(source.config.defaultMode, 'hybrid');
  });

  it('keeps the old config and logs an error when an edit is invalid', async () => {
    const { envFile, source, lines } = watched('SERVICE_MODE=mock\nMOCK_SEED=1\n');
    await new Promise((r) => setTimeout(r, 100));
    let changes = 0;
    source.on('change', () => {
      changes += 1;
    });
    writeFileSync(envFile, 'SERVICE_MODE=fast\nMOCK_SEED=9\n');
    await until(() => lines.some((l) => l.level === 'error'));
    const error = lines.find((l) => l.level === 'error')!;
    assert.match(JSON.stringify(error.obj), /SERVICE_MODE/);
    assert.equal(source.config.defaultMode, 'mock');
    assert.equal(source.config.mock.seed, 1);
    assert.equal(changes, 0);

    // A later valid edit still takes effect.
    const change = nextChange(source);
    writeFileSync(envFile, 'SERVICE_MODE=hybrid\nMOCK_SEED=3\n');
    const { loaded } = await change;
    assert.equal(loaded.config.mock.seed, 3);
  });

  it('logs a restart-only warning for PORT and keeps the old port', async () => {
    const { envFile, source, lines } = watched('PORT=18790\nMOCK_SEED=1\n');
    await new Promise((r) => setTimeout(r, 100));
    const change = nextChange(source);
    writeFileSync(envFile, 'PORT=18791\nMOCK_SEED=4\n');
    const { loaded } = await change;
    const warning = lines.find((l) => l.level === 'warn');
    assert.ok(warning, 'a warning was logged');
    assert.match(JSON.stringify(warning.obj), /PORT/);
    assert.equal(loaded.config.port, 18790);
    assert.equal(source.config.port, 18790);
    assert.equal(source.config.mock.seed, 4, 'the hot settings still apply');
  });

  it('reloads on forceReload (SIGHUP) even when the watcher is off', () => {
    const envFile = file('sighup.env', 'MOCK_SEED=1\n');
    const options = { env: { ENV_FILE: envFile }, cwd: dir };
    const { log } = recordingLog();
    const source = new ConfigSource(loadConfig(options), options, log);
    sources.push(source);
    writeFileSync(envFile, 'MOCK_SEED=5\n');
    assert.equal(source.forceReload('SIGHUP'), true);
    assert.equal(source.config.mock.seed, 5);
    assert.equal(source.forceReload('SIGHUP'), false, 'nothing changed the second time');
  });
});
