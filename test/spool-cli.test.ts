/**
 * What an operator sees of spooled rows no store took yet: `tollgate spool list|export|replay`,
 * the line under `tollgate costs`, and `state:spool` in /health (contract sections 1, 6 and 7).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { RedisStore } from '../src/state/redis/index.js';
import type { LedgerRow } from '../src/state/types.js';
import { freePort, startRedis, stopRedis } from './support/redis.js';
import { leaveOldSpoolFile, leaveSpoolFile, spoolFiles } from './support/spool.js';
import { row } from './support/store-conformance.js';
import { startTestTollgate } from './support/tollgate.js';

const missing = spawnSync('redis-server', ['--version']).error !== undefined;
if (missing && process.env['CI'] === 'true') throw new Error('redis-server is not on PATH (required when CI=true)');
const skip = missing ? 'redis-server is not on PATH' : false;

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'src', 'cli.ts');
const TSX = import.meta.resolve('tsx');
const tmp = mkdtempSync(join(tmpdir(), 'tollgate-spool-cli-'));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const sum = (rows: readonly LedgerRow[]) => rows.reduce((n, r) => n + r.costNanoUsd, 0);

describe('spooled rows an operator can see and replay', { skip }, () => {
  const spoolDir = join(tmp, 'spool');
  let ownPort = 0;
  let otherPort = 0;
  let own: ChildProcess | undefined;
  let other: ChildProcess | undefined;
  const rows = Array.from({ length: 3 }, (_, i) => row({ costNanoUsd: 2_000_000 + i }));
  const old = Array.from({ length: 2 }, () => row({ costNanoUsd: 500 }));

  const tollgate = (args: string[], env: Record<string, string> = {}): Run => {
    const run = spawnSync(process.execPath, ['--import', TSX, CLI, ...args], {
      cwd: tmp,
      encoding: 'utf8',
      timeout: 60_000,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        ENV_FILE: '',
        STATE_URL: `redis://127.0.0.1:${ownPort}/0`,
        STATE_SPOOL_DIR: spoolDir,
        ...env,
      },
    });
    return { code: run.status, stdout: run.stdout, stderr: run.stderr };
  };

  /** The rows a private server's ledger holds. */
  async function booked(port: number): Promise<LedgerRow[]> {
    const s = new RedisStore(`redis://127.0.0.1:${port}/0`, { spoolDir: join(tmp, `reader-${port}`) });
    await s.open();
    try {
      return await s.rows({ from: 0, to: Number.POSITIVE_INFINITY });
    } finally {
      await s.close();
    }
  }

  before(async () => {
    [ownPort, otherPort] = [await freePort(), await freePort()];
    other = await startRedis(otherPort);
    mkdirSync(spoolDir, { recursive: true });
    // A sidecar of the own store died while its Redis was down; an older version left its single file.
    leaveSpoolFile(spoolDir, `redis://127.0.0.1:${ownPort}/0`, 'tollgate:', rows);
    leaveOldSpoolFile(spoolDir, 'tollgate:', old);
  });

  after(async () => {
    await stopRedis(own);
    await stopRedis(other);
    rmSync(tmp, { recursive: true, force: true });
  });

  it('lists the unreplayed rows per store and exports them as JSON lines', () => {
    const list = tollgate(['spool', 'list', '--json']);
    assert.equal(list.code, 0, list.stderr);
    const listed = JSON.parse(list.stdout) as { rows: number; stores: Record<string, unknown>[] };
    assert.equal(listed.rows, 5);
    const byStore = new Map(listed.stores.map((s) => [s['store'], s]));
    assert.deepEqual(
      [
        byStore.get(`redis://127.0.0.1:${ownPort}/0`)?.['rows'],
        byStore.get(`redis://127.0.0.1:${ownPort}/0`)?.['cost_usd'],
      ],
      [3, sum(rows) / 1e9],
    );
    assert.equal(byStore.get(null)?.['rows'], 2, 'the old file, under no store');
    assert.equal(byStore.get(null)?.['old_file'], 'redis-tollgate_.jsonl');
    assert.match(
      tollgate(['spool', 'list']).stdout,
      new RegExp(`redis://127\\.0\\.0\\.1:${ownPort}/0 prefix tollgate:\\n  3 rows`),
    );

    const exported = tollgate(['spool', 'export', '--format', 'jsonl']);
    assert.equal(exported.code, 0, exported.stderr);
    const lines = exported.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { store: { port: number } | null; row: LedgerRow });
    assert.deepEqual(lines.map((l) => l.row.id).sort(), [...rows, ...old].map((r) => r.id).sort());
    assert.equal(lines.filter((l) => l.store?.port === ownPort).length, 3);
  });

  it('says under `tollgate costs` what waits in the spool while its store is down', () => {
    const text = tollgate(['costs']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /Unreplayed spooled ledger rows \(not in the report above\): 5,/);
    const json = tollgate(['costs', '--json']);
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout) as { unreplayed: { rows: number; cost_usd: number } };
    assert.equal(report.unreplayed.rows, 5);
    assert.equal(report.unreplayed.cost_usd, (sum(rows) + sum(old)) / 1e9);
  });

  it('shows the unreplayed rows of another store in /health as state:spool', async () => {
    const tg = await startTestTollgate({ STATE_URL: `redis://127.0.0.1:${otherPort}/0`, STATE_SPOOL_DIR: spoolDir });
    try {
      const res = await fetch(`${tg.url}/health`);
      const health = (await res.json()) as {
        status: string;
        checks: Record<string, { status: string; observedValue: number; output: string }[]>;
      };
      const spool = health.checks['state:spool']?.[0];
      assert.equal(spool?.status, 'warn');
      assert.equal(spool?.observedValue, 5);
      assert.match(spool?.output ?? '', new RegExp(`redis://127\\.0\\.0\\.1:${ownPort}/0 prefix tollgate:: 3 rows`));
      assert.equal(health.status, 'warn');
      assert.equal(health.checks['state:store']?.[0]?.status, 'pass');
    } finally {
      await tg.close();
    }
    assert.equal((await booked(otherPort)).length, 0, 'a sidecar of another store took none of them');
  });

  it('replays into the matching store only: refuses another, takes the old file on --store --include-old', async () => {
    const wrong = tollgate(['spool', 'replay', '--store', `redis://127.0.0.1:${otherPort}/0`]);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /no spooled rows belong to redis:\/\/127\.0\.0\.1:\d+\/0 prefix tollgate:; refusing/);
    assert.equal((await booked(otherPort)).length, 0);

    const down = tollgate(['spool', 'replay']);
    assert.equal(down.code, 1, 'its store is still down');
    assert.match(down.stderr, /redis unreachable/);

    own = await startRedis(ownPort);
    const replay = tollgate(['spool', 'replay']);
    assert.equal(replay.code, 0, replay.stderr);
    assert.match(replay.stdout, /^replayed 3 spooled rows into redis:\/\/127\.0\.0\.1:\d+\/0 prefix tollgate:\n$/);
    assert.deepEqual(
      (await booked(ownPort)).map((r) => r.id).sort(),
      rows.map((r) => r.id).sort(),
      'the old file, which names no store, waits for an operator to name one',
    );
    assert.deepEqual(spoolFiles(spoolDir), ['redis-tollgate_.jsonl']);
    assert.equal(tollgate(['spool', 'replay', '--include-old']).code, 2, '--include-old needs --store');

    const adopt = tollgate(['spool', 'replay', '--store', `redis://127.0.0.1:${ownPort}/0`, '--include-old']);
    assert.equal(adopt.code, 0, adopt.stderr);
    assert.match(adopt.stdout, /^replayed 2 spooled rows/);
    assert.equal((await booked(ownPort)).length, 5);
    assert.deepEqual(spoolFiles(spoolDir), []);
    const none = tollgate(['spool', 'list']);
    assert.match(none.stdout, /^No unreplayed ledger rows in /);
  });
});
