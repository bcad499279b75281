/**
 * RedisStore against private redis-server children (never the shared one on 6379): the shared
 * conformance suite, the Redis clock, cross-sidecar contention, and the outage policy — Redis
 * killed mid-run and restarted, and a spool left by a crashed process.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { loadConfig } from '../src/config/index.js';
import { type AdmitRequest, Limiter } from '../src/limits/index.js';
import { RedisStore } from '../src/state/redis/index.js';
import type { LedgerRow, SpendIncrement, TransactRequest } from '../src/state/types.js';
import { freePort, startRedis, stopRedis } from './support/redis.js';
import { row, storeConformance } from './support/store-conformance.js';

const probe = spawnSync('redis-server', ['--version']);
const missing = probe.error !== undefined;
// In CI a missing binary is a broken environment, not a reason to skip: fail loudly there.
if (missing && process.env['CI'] === 'true') throw new Error('redis-server is not on PATH (required when CI=true)');
const skip = missing ? 'redis-server is not on PATH' : false;

const tmp = mkdtempSync(join(tmpdir(), 'tollgate-redis-'));

async function waitFor(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Bytes left in a spool folder's files (one file per store and writer; a replayed file is deleted). */
const spooledBytes = (dir: string): number =>
  readdirSync(dir).reduce((bytes, name) => bytes + statSync(join(dir, name)).size, 0);

const increment = (key: string): TransactRequest<number> => ({
  keys: [key],
  decide(values) {
    const n = ((values.get(key) as { n: number } | undefined)?.n ?? 0) + 1;
    return { writes: new Map<string, unknown>([[key, { n }]]), result: n };
  },
});

const spendOf = (r: LedgerRow, key: string): SpendIncrement[] => [
  { key, nanoUsd: r.costNanoUsd, expiresAt: Date.now() + 3_600_000 },
];

describe('RedisStore', { skip }, () => {
  let port = 0;
  let server: ChildProcess | undefined;
  let url = '';
  let made = 0;
  let lastPrefix = '';
  const opened: RedisStore[] = [];

  /** A store on the shared private server, closed in after(). */
  function store(prefix: string, extra: ConstructorParameters<typeof RedisStore>[1] = {}): RedisStore {
    const s = new RedisStore(url, { keyPrefix: prefix, spoolDir: join(tmp, `spool-${made++}`), ...extra });
    opened.push(s);
    return s;
  }

  before(async () => {
    port = await freePort();
    server = await startRedis(port);
    url = `redis://127.0.0.1:${port}`;
  });

  after(async () => {
    for (const s of opened) await s.close();
    await stopRedis(server);
  });

  describe('against a private redis-server', () => {
    storeConformance('redis', {
      make: async () => {
        lastPrefix = `conf${made}:`;
        return store(lastPrefix);
      },
      peer: async () => store(lastPrefix),
    });
  });

  it('passes Redis TIME to decide as the fleet clock', async () => {
    const s = store('clock:');
    await s.open();
    const raw = new Redis(url);
    try {
      const toMs = ([sec, usec]: (number | string)[]) => Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
      const before = toMs(await raw.time());
      const now = await s.transact({ keys: ['c'], decide: (_v, n) => ({ writes: new Map(), result: n }) });
      const afterMs = toMs(await raw.time());
      assert.ok(before <= now && now <= afterMs, `${before} <= ${now} <= ${afterMs}`);
      assert.ok(Math.abs(now - Date.now()) < 1000);
    } finally {
      raw.disconnect();
    }
  });

  it('ends at exactly 600 after 3 sidecars x 200 concurrent increments of one key', async (t) => {
    const stores = [store('race:'), store('race:'), store('race:')];
    for (const s of stores) await s.open();
    const started = performance.now();
    const results = await Promise.all(
      stores.flatMap((s) => Array.from({ length: 200 }, () => s.transact(increment('hot')))),
    );
    const ms = performance.now() - started;
    assert.equal(Math.max(...results), 600);
    assert.equal(new Set(results).size, 600, 'each increment saw a distinct state');
    const retries = stores.map((s) => s.stats().retries);
    t.diagnostic(`600 increments in ${ms.toFixed(0)} ms; CAS retries per sidecar: ${retries.join(', ')}`);
    // Per-process queuing leaves at most 3 CAS in flight at once (one per sidecar), so a commit costs
    // well under two conflicts on average; without it, 600 in flight would conflict quadratically.
    assert.ok(retries.reduce((a, b) => a + b, 0) < 1200, `retries ${retries.join(',')}`);
  });

  it('measures transact and record latency against local Redis', async (t) => {
    const s = store('latency:');
    await s.open();
    const n = 500;
    let started = performance.now();
    for (let i = 0; i < n; i++) await s.transact(increment(`lat:${i % 10}`));
    const transactUs = ((performance.now() - started) * 1000) / n;
    started = performance.now();
    for (let i = 0; i < n; i++) {
      const r = row();
      await s.record(r, spendOf(r, 'lat:spent'));
    }
    const recordUs = ((performance.now() - started) * 1000) / n;
    started = performance.now();
    await Promise.all(Array.from({ length: n }, (_, i) => s.transact(increment(`par:${i}`))));
    const parallelUs = ((performance.now() - started) * 1000) / n;
    t.diagnostic(
      `sequential: transact ${transactUs.toFixed(0)} us, record ${recordUs.toFixed(0)} us; ` +
        `${n} transacts on distinct keys in parallel: ${parallelUs.toFixed(0)} us each`,
    );
    assert.equal((await s.counters(['lat:spent'])).get('lat:spent'), n * 1234);
  });

  it('admits and settles a call in one round trip each (ADMIT, then SETTLE)', async (t) => {
    const s = store('trips:');
    await s.open();
    const config = loadConfig({
      env: {
        ENV_FILE: '',
        STATE_URL: 'memory:',
        OPENAI_REQUESTS_PER_HOUR: '1000000',
        OPENAI_TOKENS_PER_HOUR: '100000000',
        BUDGET_DAILY_USD: '1000',
        OPENAI_BUDGET_HOURLY_USD: '100',
      },
    }).config;
    const limiter = new Limiter({ store: s, config: () => config });
    const raw = new Redis(url);
    const calls = async () => {
      const stats = await raw.info('commandstats');
      return Object.fromEntries([...stats.matchAll(/cmdstat_([^:]+):calls=(\d+)/g)].map((m) => [m[1], Number(m[2])]));
    };
    const admit = (): AdmitRequest => ({
      id: randomUUID(),
      provider: 'openai',
      model: 'gpt-4o-mini',
      tokens: 120,
      pages: 0,
      worstUsd: 0.0002,
      budgeted: true,
      mayDegrade: false,
    });
    try {
      const n = 50;
      // The first call loads the scripts (EVAL); after that every call is EVALSHA.
      await (await limiter.admit(admit())).settle({ row: row({ costNanoUsd: 1000 }), tokens: 60, pages: 0 });
      const before = await calls();
      const started = performance.now();
      for (let i = 0; i < n; i++) {
        const a = await limiter.admit(admit());
        await a.settle({ row: row({ costNanoUsd: 1000 }), tokens: 60, pages: 0 });
      }
      const us = ((performance.now() - started) * 1000) / n;
      const after = await calls();
      // Redis counts the commands a script runs too: the round trips are the EVALSHA calls.
      assert.equal(after['evalsha']! - (before['evalsha'] ?? 0), 2 * n);
      assert.equal(after['eval'] ?? 0, before['eval'] ?? 0);
      assert.equal(s.stats().transacts, 0, 'no generic READ/CAS transaction');
      assert.equal(s.stats().admits, n + 1);
      assert.equal(s.stats().settles, n + 1);
      const snap = await limiter.snapshot();
      assert.ok(snap.budgets.every((b) => b.heldUsd === 0 && Math.abs(b.spentUsd - (n + 1) * 1e-6) < 1e-12));
      t.diagnostic(`admission + settlement at one connection: ${us.toFixed(0)} us per call`);
    } finally {
      raw.disconnect();
    }
  });

  it('seeds the fallback with the holds in flight, so an outage neither forgets nor keeps them', async () => {
    const outagePort = await freePort();
    let outage: ChildProcess | undefined = await startRedis(outagePort);
    const config = loadConfig({ env: { ENV_FILE: '', STATE_URL: 'memory:', BUDGET_DAILY_USD: '1' } }).config;
    const sidecar = (name: string) =>
      new RedisStore(`redis://127.0.0.1:${outagePort}`, {
        keyPrefix: 'holds:',
        spoolDir: join(tmp, `holds-${name}`),
        recoveryPollMs: 60_000,
      });
    const [a, b] = [sidecar('a'), sidecar('b')];
    const call = (worstUsd: number): AdmitRequest => ({
      id: randomUUID(),
      provider: 'openai',
      model: 'gpt-4o-mini',
      tokens: 1,
      pages: 0,
      worstUsd,
      budgeted: true,
      mayDegrade: false,
    });
    try {
      await a.open();
      await b.open();
      const [la, lb] = [a, b].map((store) => new Limiter({ store, config: () => config }));
      const a1 = await la!.admit(call(0.3));
      await lb!.admit(call(0.3));
      await la!.admit(call(0.3));
      await assert.rejects(la!.admit(call(0.2)), { code: 'budget_exceeded' });
      await stopRedis(outage);
      outage = undefined;
      // On the fallback: 0.9 held (this sidecar's two, the other's one) — 0.2 more does not fit.
      await assert.rejects(la!.admit(call(0.2)), { code: 'budget_exceeded' });
      assert.equal(a.degraded, true);
      // Its own hold settles on the fallback and frees its share.
      await a1.settle({ tokens: 0, pages: 0 });
      const fits = await la!.admit(call(0.4));
      await assert.rejects(la!.admit(call(0.01)), { code: 'budget_exceeded' });
      assert.equal(fits.budgetExceeded, undefined);
      assert.ok(a.stats().fallbackTransacts >= 4);
    } finally {
      await a.close();
      await b.close();
      await stopRedis(outage);
    }
  });

  it('aggregates a whole day from hour totals and the partial hours from rows', async () => {
    const s = store('agg:');
    await s.open();
    const day = Math.floor(Date.now() / 86_400_000) * 86_400_000 - 86_400_000;
    for (let h = 0; h < 24; h++) {
      await s.record(row({ ts: day + h * 3_600_000 + 5, costNanoUsd: 10 }), []);
    }
    await s.record(row({ ts: day - 1, costNanoUsd: 1000 }), []);
    await s.record(row({ ts: day + 86_400_000, costNanoUsd: 1000 }), []);
    const whole = await s.aggregate({ from: day, to: day + 86_400_000 });
    assert.equal(whole.length, 1);
    assert.equal(whole[0]!.requests, 24);
    assert.equal(whole[0]!.costNanoUsd, 240);
    const partial = await s.aggregate({ from: day + 6, to: day + 3_600_000 * 2 + 5 });
    assert.equal(partial[0]?.requests, 1, 'only the row of hour 1 lies in the range');
    assert.equal((await s.rows({ from: 0, to: Number.POSITIVE_INFINITY })).length, 26);
    assert.equal((await s.rows({ from: 0, to: Number.POSITIVE_INFINITY, limit: 3 })).length, 3);
  });

  it('keeps serving through a SIGKILLed Redis and books every spooled row exactly once after', async (t) => {
    const outagePort = await freePort();
    const dir = mkdtempSync(join(tmp, 'aof-'));
    let outage: ChildProcess | undefined = await startRedis(outagePort, dir);
    const spoolDir = join(tmp, 'outage-spool');
    const warnings: string[] = [];
    const infos: string[] = [];
    const s = new RedisStore(`redis://127.0.0.1:${outagePort}`, {
      keyPrefix: 'outage:',
      spoolDir,
      recoveryPollMs: 100,
      log: { warn: (_o, m) => warnings.push(m), info: (_o, m) => infos.push(m) },
    });
    try {
      await s.open();
      for (let i = 0; i < 5; i++) await s.transact(increment('bucket'));

      const recorded: LedgerRow[] = [];
      let stop = false;
      /** Eight writers booking rows back to back until `stop`. */
      const startWriters = () =>
        Array.from({ length: 8 }, async () => {
          while (!stop) {
            const r = row({ costNanoUsd: 1 + recorded.length });
            recorded.push(r);
            assert.equal(await s.record(r, spendOf(r, 'spent')), true);
          }
        });
      const sum = () => recorded.reduce((total, r) => total + r.costNanoUsd, 0);

      let writers = startWriters();
      await waitFor('rows before the kill', () => recorded.length >= 200);
      await stopRedis(outage);
      outage = undefined;
      await waitFor('the switch to the fallback', () => s.degraded);
      const atKill = recorded.length;
      await waitFor('rows spooled during the outage', () => recorded.length >= atKill + 200);
      stop = true;
      await Promise.all(writers);

      const health = s.health();
      assert.equal(health.status, 'fail');
      assert.equal(health.degraded, true);
      assert.match(health.output, /^redis unreachable: .*local fallback active, \d+ rows spooled/);
      assert.equal(await s.transact(increment('bucket')), 6, 'the fallback starts from the last known state');
      assert.equal(
        (await s.counters(['spent'])).get('spent'),
        sum(),
        'last known spend plus the spend booked locally, rows in flight at the kill counted once',
      );

      // Writers keep booking across the restart and the replay.
      stop = false;
      writers = startWriters();
      outage = await startRedis(outagePort, dir);
      await waitFor('recovery', () => !s.degraded);
      await sleep(20);
      stop = true;
      await Promise.all(writers);
      assert.equal(s.health().status, 'pass');
      // Rows whose append waited for the replay's lock are replayed right after it, asynchronously.
      await waitFor('the spool is truncated', () => spooledBytes(spoolDir) === 0);

      const rows = await s.rows({ from: 0, to: Number.POSITIVE_INFINITY });
      const seen = new Map<string, number>();
      for (const r of rows) seen.set(r.id, (seen.get(r.id) ?? 0) + 1);
      for (const r of recorded) assert.equal(seen.get(r.id), 1, `row ${r.id} booked exactly once`);
      assert.equal(rows.length, recorded.length);
      const total = sum();
      assert.equal((await s.counters(['spent'])).get('spent'), total);

      for (const r of recorded.slice(0, 50)) assert.equal(await s.record(r, spendOf(r, 'spent')), false);
      assert.equal((await s.counters(['spent'])).get('spent'), total);
      assert.equal((await s.rows({ from: 0, to: Number.POSITIVE_INFINITY })).length, recorded.length);
      assert.ok(warnings.some((m) => m.startsWith('redis unreachable')));
      assert.ok(infos.some((m) => m.startsWith('redis reachable again')));
      const stats = s.stats();
      t.diagnostic(
        `${recorded.length} rows, ${recorded.length - atKill} after the kill; replayed ${stats.replayed}; ` +
          `${stats.fallbackTransacts} fallback transacts`,
      );
    } finally {
      await s.close();
      await stopRedis(outage);
    }
  });

  it('replays at open() the spool a crashed store left behind', async (t) => {
    const spoolDir = join(tmp, 'crash-spool');
    const deadPort = await freePort();
    const crashed = new RedisStore(`redis://127.0.0.1:${deadPort}`, { keyPrefix: 'crash:', spoolDir });
    await crashed.open();
    assert.equal(crashed.health().degraded, true, 'starts degraded rather than refusing to start');
    const rows = Array.from({ length: 5 }, (_, i) => row({ costNanoUsd: 100 + i }));
    for (const r of rows) assert.equal(await crashed.record(r, spendOf(r, 'spent')), true);
    assert.equal((await crashed.counters(['spent'])).get('spent'), 510, 'local budgets see the spend');
    await crashed.close();
    const spool = join(spoolDir, readdirSync(spoolDir)[0]!);
    // The process died mid-write: a torn line that no caller was ever told was durable.
    writeFileSync(spool, `${readFileSync(spool, 'utf8')}{"row":{"id":"torn`);

    // Its Redis comes back: the rows go there (never into another store, see redis-spool.test.ts).
    const back = await startRedis(deadPort);
    t.after(() => stopRedis(back));
    const next = new RedisStore(`redis://127.0.0.1:${deadPort}`, { keyPrefix: 'crash:', spoolDir });
    opened.push(next);
    await next.open();
    assert.equal(next.health().status, 'pass');
    const booked = await next.rows({ from: 0, to: Number.POSITIVE_INFINITY });
    assert.deepEqual(booked.map((r) => r.id).sort(), rows.map((r) => r.id).sort());
    assert.equal((await next.counters(['spent'])).get('spent'), 510);
    assert.equal(spooledBytes(spoolDir), 0);
    assert.equal(await next.record(rows[0]!, spendOf(rows[0]!, 'spent')), false);
  });

  it('rejects non-integer money before touching Redis', async () => {
    const s = store('int:');
    await s.open();
    const r = row({ costNanoUsd: 1.5 });
    await assert.rejects(s.record(r, []), RangeError);
    assert.equal(await s.record({ ...r, costNanoUsd: 2 }, []), true, 'the id was not burned');
  });

  after(() => rmSync(tmp, { recursive: true, force: true }));
});
