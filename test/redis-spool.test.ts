/**
 * The Redis store's spool when sidecars share a spool folder (contract section 6: spooled rows
 * are replayed exactly once, into the store they were booked for, never another), against
 * private redis-server children.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisStore } from '../src/state/redis/index.js';
import type { LedgerRow } from '../src/state/types.js';
import { freePort, startRedis, stopRedis } from './support/redis.js';
import { leaveSpoolFile, ownerOf, spendOf, spoolFiles } from './support/spool.js';
import { row } from './support/store-conformance.js';

const missing = spawnSync('redis-server', ['--version']).error !== undefined;
if (missing && process.env['CI'] === 'true') throw new Error('redis-server is not on PATH (required when CI=true)');
const skip = missing ? 'redis-server is not on PATH' : false;

const tmp = mkdtempSync(join(tmpdir(), 'tollgate-spool-'));
const servers: ChildProcess[] = [];
const stores: RedisStore[] = [];

after(async () => {
  for (const s of stores) await s.close();
  for (const s of servers) await stopRedis(s);
  rmSync(tmp, { recursive: true, force: true });
});

async function redisOn(port: number): Promise<ChildProcess> {
  const server = await startRedis(port);
  servers.push(server);
  return server;
}

function storeOf(url: string, spoolDir: string, extra: ConstructorParameters<typeof RedisStore>[1] = {}): RedisStore {
  const s = new RedisStore(url, { spoolDir, connectTimeoutMs: 1000, ...extra });
  stores.push(s);
  return s;
}

const all = { from: 0, to: Number.POSITIVE_INFINITY };
const ids = (rows: readonly LedgerRow[]) => rows.map((r) => r.id).sort();
const sum = (rows: readonly LedgerRow[]) => rows.reduce((n, r) => n + r.costNanoUsd, 0);

async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Books `rows` on a store whose Redis is down, then closes it as a sidecar that exits would. */
async function spoolWhileDown(url: string, spoolDir: string, rows: readonly LedgerRow[], prefix?: string) {
  const s = storeOf(url, spoolDir, prefix === undefined ? {} : { keyPrefix: prefix });
  await s.open();
  assert.equal(s.degraded, true);
  for (const r of rows) assert.equal(await s.record(r, spendOf(r)), true);
  await s.close();
}

describe('the Redis spool shared by several stores', { skip }, () => {
  it('never replays one Redis spool into another, and replays it into its own exactly once when it returns', async () => {
    const spoolDir = join(tmp, 'two-servers');
    const [downPort, otherPort] = [await freePort(), await freePort()];
    await redisOn(otherPort);
    const rows = Array.from({ length: 3 }, (_, i) => row({ costNanoUsd: 1000 + i }));
    await spoolWhileDown(`redis://127.0.0.1:${downPort}/1`, spoolDir, rows);

    // Sidecars of other stores start on the same folder: another server, another db, another prefix.
    await redisOn(downPort);
    const strangers = [
      storeOf(`redis://127.0.0.1:${otherPort}/1`, spoolDir),
      storeOf(`redis://127.0.0.1:${downPort}/0`, spoolDir),
      storeOf(`redis://127.0.0.1:${downPort}/1`, spoolDir, { keyPrefix: 'other:' }),
    ];
    for (const s of strangers) {
      await s.open();
      assert.equal(s.degraded, false);
      assert.deepEqual(await s.rows(all), [], 'no row of another store');
      assert.equal((await s.counters(['spent'])).get('spent'), 0);
      assert.deepEqual(
        s.spooled().map((g) => [g.store, g.prefix, g.rows, g.costNanoUsd]),
        [[`redis://127.0.0.1:${downPort}/1`, 'tollgate:', 3, sum(rows)]],
        'the rows stay on disk, shown under their own store',
      );
    }

    const own = storeOf(`redis://127.0.0.1:${downPort}/1`, spoolDir);
    await own.open();
    assert.deepEqual(ids(await own.rows(all)), ids(rows));
    assert.equal((await own.counters(['spent'])).get('spent'), sum(rows));
    assert.deepEqual(spoolFiles(spoolDir), [], 'the replayed file is gone');
    assert.deepEqual(own.spooled(), []);

    const again = storeOf(`redis://127.0.0.1:${downPort}/1`, spoolDir);
    await again.open();
    assert.equal((await again.rows(all)).length, 3, 'booked once');
    assert.equal((await again.counters(['spent'])).get('spent'), sum(rows));
  });

  it('lets two stores write one folder during an outage and two replay it at once, booking each row once', async () => {
    const spoolDir = join(tmp, 'concurrent');
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    // Two live writers at once: each appends to its own file.
    const writers = [storeOf(url, spoolDir), storeOf(url, spoolDir)];
    await Promise.all(writers.map((w) => w.open()));
    const written: LedgerRow[] = [];
    await Promise.all(
      writers.map(async (w) => {
        for (let i = 0; i < 100; i++) {
          const r = row({ costNanoUsd: 1 + written.length });
          written.push(r);
          assert.equal(await w.record(r, spendOf(r)), true);
        }
      }),
    );
    await Promise.all(writers.map((w) => w.close()));
    // And files that sidecars which died left behind.
    for (let f = 0; f < 20; f++) {
      const rows = Array.from({ length: 25 }, () => row({ costNanoUsd: 7 }));
      written.push(...rows);
      leaveSpoolFile(spoolDir, url, 'tollgate:', rows, { writer: ownerOf(undefined, f.toString(16).padStart(8, '0')) });
    }

    await redisOn(port);
    const replayers = [storeOf(url, spoolDir), storeOf(url, spoolDir), storeOf(url, spoolDir)];
    await Promise.all(replayers.map((r) => r.open()));
    const booked = await replayers[0]!.rows(all);
    assert.deepEqual(ids(booked), ids(written), 'every row booked once');
    assert.equal((await replayers[0]!.counters(['spent'])).get('spent'), sum(written));
    const sent = replayers.reduce((n, r) => n + r.stats().replayed, 0);
    assert.equal(sent, written.length, 'no file was taken by two replayers');
    assert.deepEqual(spoolFiles(spoolDir), []);
  });

  it('recovers the claim of a replayer killed mid-replay, and leaves a live one to its claimer', async () => {
    const spoolDir = join(tmp, 'claims');
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    await redisOn(port);
    const rows = Array.from({ length: 10 }, (_, i) => row({ costNanoUsd: 10 + i }));
    // The killed replayer had booked the first half before it died.
    const first = storeOf(url, spoolDir);
    await first.open();
    for (const r of rows.slice(0, 5)) await first.record(r, spendOf(r));
    leaveSpoolFile(spoolDir, url, 'tollgate:', rows, { claimer: ownerOf() });

    // A claimer that still runs keeps its claim until it is gone.
    const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
    const liveExit = new Promise((resolve) => live.once('exit', resolve));
    const held = Array.from({ length: 4 }, () => row({ costNanoUsd: 1000 }));
    leaveSpoolFile(spoolDir, url, 'tollgate:', held, {
      claimer: ownerOf(live.pid!),
      writer: ownerOf(undefined, 'cafecafe'),
    });

    const next = storeOf(url, spoolDir, { spoolSweepMs: 50 });
    await next.open();
    let booked = await next.rows(all);
    assert.deepEqual(ids(booked), ids(rows), 'the dead claim is replayed, every row once; the live one is not');
    assert.equal((await next.counters(['spent'])).get('spent'), sum(rows));
    assert.equal(spoolFiles(spoolDir).length, 1);

    live.kill('SIGKILL');
    await liveExit;
    // The running store's sweep finds the claim its claimer left.
    await waitFor('the sweep to replay the orphaned claim', async () => (await next.rows(all)).length === 14);
    booked = await next.rows(all);
    assert.deepEqual(ids(booked), ids([...rows, ...held]));
    assert.equal((await next.counters(['spent'])).get('spent'), sum(rows) + sum(held));
    await waitFor('the claim file to go', () => spoolFiles(spoolDir).length === 0);
  });
});
