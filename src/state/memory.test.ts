import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { row, storeConformance } from '../../test/support/store-conformance.js';
import { MemoryStore } from './memory.js';

storeConformance('memory', { make: async () => new MemoryStore() });

const MINUTE = 60_000;
const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);

describe('memory store: bounded ledger', () => {
  it('lists the recent rows and still totals every row of a window', async () => {
    const store = new MemoryStore({ recentRows: 100 });
    // 1,000 rows, one a minute: 900 of them leave the recent rows for 15-minute totals.
    for (let i = 0; i < 1000; i++) {
      const servedBy = i % 3 === 0 ? 'mock' : 'real';
      assert.equal(await store.record(row({ ts: T0 + i * MINUTE, costNanoUsd: i, pages: 1, servedBy }), []), true);
    }
    const all = await store.rows({ from: 0, to: Number.POSITIVE_INFINITY });
    assert.equal(all.length, 100);
    assert.deepEqual(
      all.map((r) => r.costNanoUsd),
      Array.from({ length: 100 }, (_, i) => 900 + i),
    );
    assert.deepEqual(
      all.slice(0, 3).map((r) => r.servedBy),
      ['mock', 'real', 'real'],
    );
    assert.equal(all[0]?.billable, true);
    assert.equal((await store.rows({ from: 0, to: Number.POSITIVE_INFINITY, limit: 3 })).length, 3);

    const sum = (groups: Awaited<ReturnType<MemoryStore['aggregate']>>) =>
      groups.reduce((t, g) => ({ requests: t.requests + g.requests, cost: t.cost + g.costNanoUsd }), {
        requests: 0,
        cost: 0,
      });
    // The whole day, and an hour long gone from the recent rows: exact.
    assert.deepEqual(sum(await store.aggregate({ from: T0, to: T0 + 24 * 60 * MINUTE })), {
      requests: 1000,
      cost: (999 * 1000) / 2,
    });
    const hour = await store.aggregate({ from: T0 + 60 * MINUTE, to: T0 + 120 * MINUTE });
    assert.deepEqual(sum(hour), { requests: 60, cost: (60 * (60 + 119)) / 2 });
    assert.deepEqual(hour.map((g) => g.servedBy).sort(), ['mock', 'real']);
    assert.equal(
      hour.reduce((n, g) => n + g.pages, 0),
      60,
    );
    // An hour that straddles the recent rows and the totals: exact too.
    assert.deepEqual(sum(await store.aggregate({ from: T0 + 15 * 60 * MINUTE, to: T0 + 16 * 60 * MINUTE })), {
      requests: 60,
      cost: (60 * (900 + 959)) / 2,
    });
  });

  it('refuses a LlamaParse job booked again long after, and a recent id again', async () => {
    const store = new MemoryStore({ recentRows: 10 });
    const job = row({ id: 'llamaparse:job:abc' });
    assert.equal(await store.record(job, []), true);
    const recentUuid = row({ id: randomUUID() });
    for (let i = 0; i < 50; i++) await store.record(row(), []);
    assert.equal(await store.record(recentUuid, []), true);
    assert.equal(await store.record(job, []), false, 'a job id is remembered past the recent rows');
    assert.equal(await store.record(recentUuid, []), false, 'any id is refused while its row is recent');
  });

  it('remembers a bounded number of repeatable ids', async () => {
    const store = new MemoryStore({ recentRows: 5, repeatableIds: 20 });
    for (let i = 0; i < 30; i++) await store.record(row({ id: `llamaparse:job:${i}` }), []);
    assert.equal(await store.record(row({ id: 'llamaparse:job:29' }), []), false);
    assert.equal(await store.record(row({ id: 'llamaparse:job:15' }), []), false);
    assert.equal(await store.record(row({ id: 'llamaparse:job:0' }), []), true, 'the oldest were forgotten');
  });

  it('keeps its spend counters exact whatever happens to the rows', async () => {
    const store = new MemoryStore({ recentRows: 3 });
    const spend = [{ key: 'spent:day', nanoUsd: 5, expiresAt: Date.now() + 60_000 }];
    for (let i = 0; i < 20; i++) await store.record(row(), spend);
    assert.equal((await store.counters(['spent:day'])).get('spent:day'), 100);
  });

  it('stays the same size after 150,000 bookings', async () => {
    const store = new MemoryStore({ recentRows: 1000 });
    const base = row();
    for (let i = 0; i < 150_000; i++) {
      store.recordSync({ ...base, id: randomUUID(), ts: T0 + i * 100 }, []);
    }
    assert.equal((await store.rows({ from: 0, to: Number.POSITIVE_INFINITY })).length, 1000);
    assert.match(store.health().output, /^memory store, 150000 ledger rows/);
    const groups = await store.aggregate({ from: T0, to: T0 + DAY });
    assert.equal(
      groups.reduce((n, g) => n + g.requests, 0),
      150_000,
    );
  });
});
