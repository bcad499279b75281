/**
 * The configuration explains itself (issue 21): unknown keys name the closest known one, a variable
 * the environment overrides is said once, and every problem names the value read, where it came
 * from and what is expected.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  ConfigError,
  ConfigSource,
  closestName,
  editDistance,
  KNOWN_VARS,
  loadConfig,
  type ReloadLog,
} from '../src/config/index.js';
import { cli as runCli } from './support/cli.js';

const FILE_KEY = 'sk-proj-FILESECRET0123456789';
const ENV_KEY = 'sk-proj-ENVSECRET0123456789';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-explain-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const write = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

const problems = (env: NodeJS.ProcessEnv): string[] => {
  try {
    loadConfig({ env, cwd: dir });
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    return e.issues;
  }
  assert.fail('expected a ConfigError');
};

/** A ConfigSource over an env file holding `text`, with a log that keeps what it was told. */
function sourceOver(name: string, text: string, env: Record<string, string> = {}) {
  const envFile = write(name, text);
  const options = { env: { ENV_FILE: envFile, ...env }, cwd: dir };
  const { log, lines } = recordingLog();
  return { envFile, lines, source: new ConfigSource(loadConfig(options), options, log) };
}

function recordingLog() {
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const at = (level: string) => (obj: object, msg: string) => lines.push({ level, obj: obj as never, msg });
  const log: ReloadLog = { info: at('info'), warn: at('warn'), error: at('error') };
  return { log, lines };
}

describe('edit distance', () => {
  it('counts insertions, deletions and substitutions', () => {
    assert.equal(editDistance('kitten', 'sitting'), 3);
    assert.equal(editDistance('', 'abc'), 3);
    assert.equal(editDistance('BUGDET', 'BUDGET'), 2);
  });

  it('suggests a known name only for a likely typo', () => {
    assert.equal(closestName('OPENAI_BUGDET_DAILY_USD', KNOWN_VARS), 'OPENAI_BUDGET_DAILY_USD');
    assert.equal(closestName('SERVCE_MODE', KNOWN_VARS), 'SERVICE_MODE');
    assert.equal(closestName('FOO', KNOWN_VARS), undefined);
  });
});

describe('unknown keys', () => {
  it('warns about an unknown env-file key with its line and the closest known name', () => {
    const envFile = write('typo.env', 'SERVICE_MODE=mock\n# a comment\nOPENAI_BUGDET_DAILY_USD=5\n');
    const { warnings } = loadConfig({ env: { ENV_FILE: envFile }, cwd: dir });
    assert.equal(warnings.length, 1, JSON.stringify(warnings));
    const [w] = warnings;
    assert.equal(w?.variable, 'OPENAI_BUGDET_DAILY_USD');
    assert.equal(w?.suggestion, 'OPENAI_BUDGET_DAILY_USD');
    assert.equal(w?.source, 'typo.env:3');
    assert.match(w?.message ?? '', /did you mean OPENAI_BUDGET_DAILY_USD\?/);
  });

  it('leaves the process environment alone except for typos of our own variables', () => {
    const { warnings } = loadConfig({
      env: {
        ENV_FILE: '',
        PATH: '/usr/bin',
        HOME: '/root',
        OPENAI_BASE_URL: 'http://x',
        OTEL_RESOURCE_ATTRIBUTES: 'a=b',
        BUDGET_DAYLY_USD: '3',
      },
      cwd: dir,
    });
    assert.deepEqual(
      warnings.map((w) => [w.variable, w.source, w.suggestion]),
      [['BUDGET_DAYLY_USD', 'environment', 'BUDGET_DAILY_USD']],
    );
  });

  it('warns about an unknown CONFIG_FILE key, names the nearest one, and loads the rest', () => {
    const configFile = write('extra.yaml', 'budgets:\n  total:\n    daily_usdd: 5\n    hourly_usd: 1\n');
    const loaded = loadConfig({ env: { ENV_FILE: '', CONFIG_FILE: configFile }, cwd: dir });
    const w = loaded.warnings.find((x) => x.variable === 'budgets.total.daily_usdd');
    assert.ok(w, JSON.stringify(loaded.warnings));
    assert.equal(w.suggestion, 'daily_usd');
    assert.equal(loaded.config.budgets.extra?.['total']?.hourly_usd, 1);
  });
});

describe('a variable set in the file and in the environment', () => {
  it('is one warning at load, both values shown with secrets masked', () => {
    const envFile = write('both.env', `LOG_LEVEL=debug\nOPENAI_API_KEY=${FILE_KEY}\n`);
    const { warnings, overridden } = loadConfig({
      env: { ENV_FILE: envFile, LOG_LEVEL: 'warn', OPENAI_API_KEY: ENV_KEY },
      cwd: dir,
    });
    assert.deepEqual([...overridden].sort(), ['LOG_LEVEL', 'OPENAI_API_KEY']);
    const level = warnings.find((w) => w.kind === 'overridden' && w.variable === 'LOG_LEVEL');
    assert.match(level?.message ?? '', /both\.env:1 \(debug\).*environment \(warn\)/);
    const text = JSON.stringify(warnings);
    assert.ok(!text.includes('FILESECRET') && !text.includes('ENVSECRET'), text);
    assert.match(text, /sk-proj-\*\*\*\*/);
  });

  it('is a warning on reload when the file edits a value the environment overrides', () => {
    const { envFile, source, lines } = sourceOver('shadow.env', 'MOCK_SEED=1\nLOG_LEVEL=info\n', { MOCK_SEED: '7' });
    writeFileSync(envFile, 'MOCK_SEED=2\nLOG_LEVEL=info\n');
    source.forceReload('SIGHUP');
    const w = lines.find((l) => l.level === 'warn' && l.obj['variable'] === 'MOCK_SEED');
    assert.ok(w, JSON.stringify(lines));
    assert.match(w.msg, /1 -> 2.*overrides it \(7\)/);
    assert.equal(w.obj['trigger'], 'SIGHUP');
    assert.equal(source.config.mock.seed, 7);
  });
});

describe('problems name the value, where it came from, and what is expected', () => {
  it('reads `BUDGET_DAILY_USD=twelve (file:7): must be a number`', () => {
    const envFile = write('.env.development', 'HOST=127.0.0.1\n\n\n\n\n# budgets\nBUDGET_DAILY_USD=twelve\n');
    const issues = problems({ ENV_FILE: envFile });
    assert.deepEqual(issues, ['BUDGET_DAILY_USD=twelve (.env.development:7): must be a number']);
  });

  it('names the environment as the source and masks a secret value', () => {
    const issues = problems({ ENV_FILE: '', PORT: 'abc', ADMIN_TOKEN: 'short-SECRET' });
    assert.ok(issues.includes('PORT=abc (environment): must be a number'), issues.join(' | '));
    const admin = issues.find((i) => i.startsWith('ADMIN_TOKEN'));
    assert.match(admin ?? '', /^ADMIN_TOKEN=\*\*\*\* \(environment\): must be at least 16 characters$/);
  });

  it('says a required variable is not set', () => {
    const issues = problems({ ENV_FILE: '', SERVICE_MODE: 'real', LLAMA_CLOUD_API_KEY: 'llx-abc' });
    assert.match(issues[0] ?? '', /^OPENAI_API_KEY \(not set\): is required when openai runs in real mode/);
  });

  it('names a CONFIG_FILE field with its value and file', () => {
    write('neg.yaml', 'budgets:\n  total:\n    daily_usd: -1\n');
    const issues = problems({ ENV_FILE: '', CONFIG_FILE: 'neg.yaml' });
    assert.match(issues[0] ?? '', /^CONFIG_FILE budgets\.total\.daily_usd=-1 \(neg\.yaml\): /);
  });

  it('logs a rejected reload with each problem and its trigger', () => {
    const { envFile, source, lines } = sourceOver('reject.env', 'MOCK_SEED=1\n');
    writeFileSync(envFile, 'MOCK_SEED=one\n');
    assert.equal(source.forceReload('SIGHUP'), false);
    const error = lines.find((l) => l.level === 'error');
    assert.deepEqual(error?.obj['issues'], ['MOCK_SEED=one (reject.env:1): must be a number']);
    assert.match(error?.msg ?? '', /MOCK_SEED=one \(reject\.env:1\): must be a number/);
  });
});

describe('every reload is a log line', () => {
  it('logs the trigger and each change, old and new, secrets masked', () => {
    const { envFile, source, lines } = sourceOver('changes.env', `MOCK_SEED=1\nOPENAI_API_KEY=${FILE_KEY}\n`);
    writeFileSync(envFile, `MOCK_SEED=2\nOPENAI_API_KEY=${ENV_KEY}\n`);
    assert.equal(source.forceReload('admin api'), true);
    const line = lines.find((l) => l.msg === 'config reloaded');
    assert.deepEqual(line?.obj, {
      trigger: 'admin api',
      changed: ['OPENAI_API_KEY', 'MOCK_SEED'],
      changes: { OPENAI_API_KEY: { from: 'sk-proj-****', to: 'sk-proj-****' }, MOCK_SEED: { from: 1, to: 2 } },
    });
  });

  it('logs a reload that changed nothing, with its trigger', () => {
    const { source, lines } = sourceOver('same.env', 'MOCK_SEED=1\n');
    assert.equal(source.forceReload('SIGHUP'), false);
    assert.deepEqual(lines, [
      { level: 'info', obj: { trigger: 'SIGHUP', changed: [] }, msg: 'config reloaded; nothing changed' },
    ]);
  });

  it('repeats unknown-key warnings on reload', () => {
    const { envFile, source, lines } = sourceOver('later-typo.env', 'MOCK_SEED=1\n');
    writeFileSync(envFile, 'MOCK_SEED=1\nMOCK_SEEED=2\n');
    source.forceReload('file changed: later-typo.env');
    const w = lines.find((l) => l.level === 'warn');
    assert.equal(w?.obj['did_you_mean'], 'MOCK_SEED');
    assert.equal(w?.obj['source'], 'later-typo.env:2');
  });
});

const cli = (args: string[], env: Record<string, string>) => runCli(args, env, dir);

describe('tollgate check-config', () => {
  it('exits 2 printing each problem with the value, the file and line, and what is expected', async () => {
    write('bad-cli.env', `ADMIN_TOKEN=tooshortSECRET\nMOCK_SEED=1\nBUDGET_DAILY_USD=twelve\n`);
    const run = await cli(['check-config'], { ENV_FILE: 'bad-cli.env', SERVICE_MODE: 'fast' });
    assert.equal(run.code, 2);
    assert.match(run.stderr, /BUDGET_DAILY_USD=twelve \(bad-cli\.env:3\): must be a number/);
    assert.match(run.stderr, /SERVICE_MODE=fast \(environment\): must be one of mock, real, hybrid/);
    assert.match(run.stderr, /ADMIN_TOKEN=\*\*\*\* \(bad-cli\.env:1\)/);
    assert.ok(!run.stderr.includes('SECRET'), run.stderr);
  });

  it('prints unknown-key warnings on stderr and still exits 0', async () => {
    write('warn-cli.env', 'SERVICE_MODE=mock\nOPENAI_BUGDET_DAILY_USD=5\n');
    const run = await cli(['check-config'], { ENV_FILE: 'warn-cli.env' });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /OPENAI_BUGDET_DAILY_USD \(warn-cli\.env:2\).*did you mean OPENAI_BUDGET_DAILY_USD\?/);
  });
});
