/**
 * What the Redis store does with each bad answer, against private redis-server children (never the
 * shared one on 6379): slow and paused servers wait (no fallback), NOSCRIPT reloads, LOADING and
 * BUSY wait and retry, READONLY falls back, OOM and WRONGTYPE fail clearly, and only probes that go
 * unanswered again and again declare an outage.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { RedisStore, type RedisStoreOptions } from '../src/state/redis/index.js';
import type { TransactRequest } from '../src/state/types.js';
import { freePort, startRedis, stopRedis } from './support/redis.js';
import { row } from './support/store-conformance.js';

if (spawnSync('redis-server', ['--version']).error) throw new Error('redis-server is required for these tests');

const tmp = mkdtempSync(join(tmpdir(), 'tollgate-replies-'));
const PASSWORD = 'pw-never-shown-0123';
const DEBUG = ['--enable-debug-command', 'yes', '--dir', tmp];

const increment = (key: string): TransactRequest<number> => ({
  keys: [key],
  decide(values) {
    const n = ((values.get(key) as { n: number } | undefined)?.n ?? 0) + 1;
    return { writes: new Map<string, unknown>([[key, { n }]]), result: n };
  },
});

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('RedisStore and the answers Redis gives', () => {
  let port = 0;
  let server: ChildProcess | undefined;
  let admin: Redis;
  let made = 0;
  const stores: RedisStore[] = [];
  const warnings: string[] = [];

  const open = async (options: RedisStoreOptions = {}, url = `redis://127.0.0.1:${port}`): Promise<RedisStore> => {
    const s = new RedisStore(url, {
      keyPrefix: `r${made}:`,
      spoolDir: join(tmp, `spool-${made++}`),
      log: { warn: (_o, m) => warnings.push(m), info() {} },
      ...options,
    });
    stores.push(s);
    await s.open();
    return s;
  };

  before(async () => {
    port = await freePort();
    server = await startRedis(port, undefined, DEBUG);
    admin = new Redis(port, { lazyConnect: true });
    await admin.connect();
  });
  after(async () => {
    for (const s of stores) await s.close();
    admin.disconnect();
    await stopRedis(server);
  });

  it('waits through a CLIENT PAUSE shorter than STATE_TIMEOUT_MS, with no fallback', async () => {
    const s = await open();
    await s.transact(increment('k'));
    await admin.client('PAUSE', 800, 'ALL');
    const started = performance.now();
    const results = await Promise.all(Array.from({ length: 20 }, () => s.transact(increment('k'))));
    assert.ok(performance.now() - started >= 500, 'the calls waited for the pause');
    assert.deepEqual(
      results.sort((a, b) => a - b),
      Array.from({ length: 20 }, (_, i) => i + 2),
    );
    assert.equal(s.degraded, false);
    assert.equal(s.stats().degradedSwitches, 0);
  });

  it('fails a call that gets no answer within STATE_TIMEOUT_MS with a clear error, still not an outage', async () => {
    const s = await open({ timeoutMs: 300 });
    await s.transact(increment('k'));
    const sleeping = admin.debug('SLEEP', '1.2');
    await sleep(50);
    await assert.rejects(s.transact(increment('k')), (err: Error & { reason?: string }) => {
      assert.equal(err.name, 'StoreUnavailableError');
      assert.equal(err.reason, 'timeout');
      assert.match(err.message, /did not answer within 300 ms \(STATE_TIMEOUT_MS\)/);
      return true;
    });
    await sleeping;
    assert.equal(s.degraded, false, 'a slow answer is not an outage');
    assert.equal(s.health().status, 'warn');
    assert.match(s.health().output, /reachable, refusing calls: .*did not answer within 300 ms/);
    // The call gave up at its READ: nothing was written for it, no CAS followed once it gave up.
    assert.equal(await s.transact(increment('k')), 2);
    assert.equal(s.stats().refusals, 1);
  });

  it('reloads the scripts after SCRIPT FLUSH and books each row once', async () => {
    const s = await open();
    const first = row({ costNanoUsd: 5 });
    assert.equal(await s.record(first, []), true);
    await admin.script('FLUSH');
    const rows = Array.from({ length: 10 }, () => row({ costNanoUsd: 7 }));
    const fresh = await Promise.all([...rows, first].map((r) => s.record(r, [])));
    assert.deepEqual(fresh, [...rows.map(() => true), false], 'every new row booked, the old one refused');
    await admin.script('FLUSH');
    assert.equal(await s.transact(increment('k')), 1);
    assert.equal((await s.rows({ from: 0, to: Number.POSITIVE_INFINITY })).length, 11);
    assert.equal(s.degraded, false);
  });

  it('waits out BUSY (a long script elsewhere) and retries, with no fallback', async () => {
    const s = await open();
    await s.transact(increment('k'));
    await admin.config('SET', 'busy-reply-threshold', '100');
    const other = new Redis(port);
    try {
      const busy = other.eval(
        "local t = redis.call('TIME') local s = t[1] * 1000 + t[2] / 1000 " +
          "while true do local n = redis.call('TIME') if n[1] * 1000 + n[2] / 1000 - s > 900 then break end end return 1",
        0,
      );
      await until('the script is busy', async () => (await admin.ping().catch((e: Error) => e.message)) !== 'PONG');
      assert.equal(await s.transact(increment('k')), 2);
      await busy;
      assert.ok(s.stats().waited > 0, 'the store saw BUSY and retried');
      assert.equal(s.degraded, false);
    } finally {
      other.disconnect();
      await admin.config('SET', 'busy-reply-threshold', '5000');
    }
  });

  it('waits out LOADING (DEBUG RELOAD) and retries, with no fallback', async () => {
    // Filled and saved before the store opens (both block Redis), so the reload only loads, and
    // while it loads Redis answers LOADING rather than going silent.
    await admin.config('SET', 'loading-process-events-interval-bytes', '1024');
    await admin.debug('POPULATE', 200_000, 'filler', 64);
    await admin.save();
    const s = await open({ timeoutMs: 30_000 });
    let reloaded = false;
    const reloading = admin.debug('RELOAD', 'NOSAVE').finally(() => {
      reloaded = true;
    });
    // Four callers keep a command queued at Redis until the reload is over: one meets LOADING.
    const counts = await Promise.all(
      ['a', 'b', 'c', 'd'].map(async (key) => {
        let n = 0;
        while (!reloaded) {
          n = await s.transact(increment(key));
          await sleep(1);
        }
        return n;
      }),
    );
    await reloading;
    assert.ok(s.stats().waited > 0, 'the store saw LOADING and retried');
    for (const [i, key] of ['a', 'b', 'c', 'd'].entries()) {
      assert.equal(await s.transact(increment(key)), counts[i]! + 1, 'every call counted once');
    }
    assert.equal(s.stats().degradedSwitches, 0, 'LOADING is an answer, not an outage');
    await admin.flushall();
  });

  it('answers OOM with a clear error, not a fallback, and goes on once memory is back', async () => {
    const s = await open();
    await s.transact(increment('k'));
    await admin.config('SET', 'maxmemory', '1');
    try {
      for (const write of [() => s.record(row({ costNanoUsd: 1 }), []), () => s.transact(increment('k'))]) {
        await assert.rejects(write(), (err: Error & { reason?: string }) => {
          assert.equal(err.name, 'StoreUnavailableError');
          assert.equal(err.reason, 'oom');
          assert.match(err.message, /out of memory/);
          return true;
        });
      }
      assert.equal(s.degraded, false);
      assert.equal(s.stats().refusals, 2);
      assert.match(s.health().output, /refusing calls: redis refused the write: out of memory/);
    } finally {
      await admin.config('SET', 'maxmemory', '0');
    }
    assert.equal(await s.transact(increment('k')), 2);
  });

  it('names the key of the wrong type, never the password of the URL', async () => {
    const authPort = await freePort();
    const locked = await startRedis(authPort, undefined, ['--requirepass', PASSWORD]);
    try {
      const s = await open({ keyPrefix: 'wt:' }, `redis://:${PASSWORD}@127.0.0.1:${authPort}`);
      const other = new Redis(authPort, { password: PASSWORD });
      await other.set('wt:kv:bucket', 'not a hash');
      other.disconnect();
      await assert.rejects(s.transact(increment('bucket')), (err: Error & { reason?: string }) => {
        assert.equal(err.reason, 'wrongtype');
        assert.match(err.message, /wt:kv:bucket holds a string, not a hash/);
        assert.ok(!err.message.includes(PASSWORD));
        return true;
      });
      assert.equal(await s.transact(increment('other')), 1, 'other keys still work');
      assert.equal(s.degraded, false);
      assert.ok(!s.health().output.includes(PASSWORD));
    } finally {
      await stopRedis(locked);
    }
  });

  it('falls back on READONLY (a replica after failover) and comes back only once it takes writes', async () => {
    const [aPort, bPort] = [await freePort(), await freePort()];
    const a = await startRedis(aPort);
    const b = await startRedis(bPort);
    const aAdmin = new Redis(aPort);
    try {
      const s = await open({ recoveryPollMs: 100 }, `redis://127.0.0.1:${aPort}`);
      await s.transact(increment('k'));
      await aAdmin.replicaof('127.0.0.1', String(bPort));
      assert.equal(await s.transact(increment('k')), 2, 'the fallback goes on from the last known state');
      assert.equal(s.degraded, true);
      assert.match(s.health().output, /read-only/);
      const r = row({ costNanoUsd: 3 });
      assert.equal(await s.record(r, []), true, 'spooled');
      await sleep(400);
      assert.equal(s.degraded, true, 'a replica answers PING but is not taken back');
      await aAdmin.replicaof('NO', 'ONE');
      await until('recovery', () => !s.degraded);
      assert.deepEqual(
        (await s.rows({ from: 0, to: Number.POSITIVE_INFINITY })).map((x) => x.id),
        [r.id],
        'the spooled row was replayed into the server once it took writes',
      );
    } finally {
      aAdmin.disconnect();
      await stopRedis(a);
      await stopRedis(b);
    }
  });

  it('declares an outage only after its probes go unanswered repeatedly (redis-server SIGSTOPped)', async () => {
    const stopPort = await freePort();
    const frozen = await startRedis(stopPort);
    try {
      const s = await open(
        { timeoutMs: 5_000, recoveryPollMs: 100, probe: { intervalMs: 100, timeoutMs: 300, failures: 3 } },
        `redis://127.0.0.1:${stopPort}`,
      );
      await s.transact(increment('k'));
      frozen.kill('SIGSTOP');
      const started = performance.now();
      // Waiting on the frozen server, this call turns to the fallback once the outage is declared.
      assert.equal(await s.transact(increment('k')), 2);
      const waited = performance.now() - started;
      assert.equal(s.degraded, true);
      assert.ok(waited >= 800, `declared after three missed probes, not at the first (${Math.round(waited)} ms)`);
      assert.match(s.health().output, /no answer to 3 probes in a row/);
      frozen.kill('SIGCONT');
      await until('recovery', () => !s.degraded);
      assert.equal(s.stats().degradedSwitches, 1);
    } finally {
      frozen.kill('SIGCONT');
      await stopRedis(frozen);
    }
  });
});
