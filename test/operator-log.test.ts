/**
 * Every operator action is a log line (issue 21): the listening line names the pid, the files, the
 * modes and the store; `PUT /admin/mode`, reloads and circuit transitions say who or why, the old
 * and the new value.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { requestReload } from '../src/admin/index.js';
import { MemoryStore } from '../src/state/index.js';
import { startTollgate, type Tollgate } from '../src/wire.js';
import { memoryLog, until } from './support/tollgate.js';

const ADMIN = 'admin-SECRETTOKEN-operator-0123456789';
const KEY = 'sk-proj-OPERATORSECRET0123456789';

let dir: string;
let tg: Tollgate;
const log = memoryLog();
const lines = () => log.lines();
const find = (msg: RegExp) => lines().find((l) => msg.test(String(l['msg'])));

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-operator-'));
  const envFile = join(dir, 'op.env');
  writeFileSync(envFile, `SERVICE_MODE=mock\nOPENAI_BUGDET_DAILY_USD=5\nLOG_LEVEL=debug\nOPENAI_API_KEY=${KEY}\n`);
  tg = await startTollgate({
    env: {
      ENV_FILE: envFile,
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
      ADMIN_TOKEN: ADMIN,
      CIRCUIT_FAILURE_THRESHOLD: '2',
      STATE_URL: 'redis://tollgate:hunter2-SECRET@127.0.0.1:1/0',
    },
    cwd: dir,
    watch: false,
    store: new MemoryStore(),
    pidFile: join(dir, 'tollgate.pid'),
    logDestination: log.stream,
  });
});
after(async () => {
  await tg.shutdown('test');
  rmSync(dir, { recursive: true, force: true });
});

const admin = (method: string, path: string, body?: string) =>
  fetch(`${tg.url}/admin${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body,
  });

describe('startup', () => {
  it('logs one listening line with the pid, the files, the modes and the store without its password', () => {
    const listening = lines().filter((l) => l['msg'] === 'tollgate listening');
    assert.equal(listening.length, 1);
    const [line] = listening;
    assert.equal(line?.['pid'], process.pid);
    assert.equal(line?.['pid_file'], join(dir, 'tollgate.pid'));
    assert.equal(line?.['env_file'], join(dir, 'op.env'));
    assert.equal(line?.['config_file'], null);
    assert.equal(line?.['default_mode'], 'mock');
    assert.deepEqual(line?.['modes'], { openai: 'mock', llamaparse: 'mock', anthropic: 'mock' });
    assert.equal(line?.['store'], 'redis://tollgate:****@127.0.0.1:1/0');
  });

  it('logs the configuration warnings: the unknown key with its nearest name, the overridden variable', () => {
    const typo = lines().find((l) => l['variable'] === 'OPENAI_BUGDET_DAILY_USD');
    assert.equal(typo?.['level'], 'warn');
    assert.equal(typo?.['did_you_mean'], 'OPENAI_BUDGET_DAILY_USD');
    assert.equal(typo?.['source'], 'op.env:2');
    const overridden = lines().find((l) => l['variable'] === 'LOG_LEVEL');
    assert.match(String(overridden?.['msg']), /op\.env:3 \(debug\) and in the environment \(info\)/);
  });
});

describe('operator actions', () => {
  it('logs PUT /admin/mode: who, from where, the old and the new modes', async () => {
    const res = await admin('PUT', '/mode', '{"provider":"llamaparse","mode":"hybrid"}');
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    const line = find(/^mode set to hybrid for llamaparse$/);
    assert.ok(line, log.text());
    assert.equal(line['by'], 'admin api');
    assert.match(String(line['remote_address']), /127\.0\.0\.1/);
    assert.deepEqual(line['from'], {
      default: 'mock',
      providers: { openai: 'mock', llamaparse: 'mock', anthropic: 'mock' },
    });
    assert.deepEqual(line['to'], {
      default: 'mock',
      providers: { openai: 'mock', llamaparse: 'hybrid', anthropic: 'mock' },
    });
  });

  it('reloads on POST /admin/reload and logs the trigger, even when nothing changed', async () => {
    const res = await admin('POST', '/reload');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { reloaded: true, changed: false });
    const line = find(/^config reloaded; nothing changed$/);
    assert.match(String(line?.['trigger']), /^admin api \(.*127\.0\.0\.1\)$/);
  });

  it('tollgate reload asks over the admin API when the pid file names no running process', async () => {
    const stale = () => {
      throw Object.assign(new Error('kill ESRCH'), { code: 'ESRCH' });
    };
    const before = lines().length;
    const result = await requestReload({
      pidFile: join(dir, 'gone.pid'),
      pid: 999999,
      host: '0.0.0.0',
      port: tg.port,
      adminToken: ADMIN,
      signal: stale,
    });
    assert.deepEqual(result, { ok: true, message: `reload requested over http://127.0.0.1:${tg.port}/admin/reload` });
    assert.ok(
      lines()
        .slice(before)
        .some((l) => String(l['trigger']).startsWith('admin api')),
    );
  });

  it('logs each circuit transition with the provider, the old and new state and why', async () => {
    tg.circuits.openai.failure();
    tg.circuits.openai.failure();
    await until(() => find(/^openai circuit closed -> open/) !== undefined);
    const open = find(/^openai circuit closed -> open/);
    assert.equal(open?.['provider'], 'openai');
    assert.equal(open?.['from'], 'closed');
    assert.equal(open?.['to'], 'open');
    assert.match(String(open?.['why']), /2 consecutive failures/);
    tg.circuits.openai.reset();
    assert.ok(find(/^openai circuit open -> closed: reset$/), log.text());
  });

  it('keeps the key, the admin token and the store password out of every line', () => {
    for (const secret of [KEY, ADMIN, 'hunter2']) assert.ok(!log.text().includes(secret), `logs leak ${secret}`);
  });
});
