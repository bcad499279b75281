/**
 * The behaviour every Store must show, as a reusable node:test suite. Each store's own test file
 * calls `storeConformance` with a factory; stores that can be shared (sqlite file, Redis) also pass
 * `peer`, a second instance on the same backing state, to prove compare-and-set across instances.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { LedgerRow, Store } from './types.js';

export interface ConformanceOptions {
  /** A fresh, empty store (opened by the suite). */
  make: () => Promise<Store>;
  /** A second instance over the same state as the last one `make` returned. */
  peer?: () => Promise<Store>;
}

export const row = (over: Partial<LedgerRow> = {}): LedgerRow => ({
  id: randomUUID(),
  ts: Date.now(),
  correlationId: 'c-1',
  traceId: '0'.repeat(32),
  provider: 'openai',
  operation: 'chat',
  model: 'gpt-4o-mini',
  servedBy: 'real',
  inputTokens: 10,
  cachedInputTokens: 2,
  outputTokens: 5,
  pages: 0,
  costNanoUsd: 1234,
  billable: true,
  ...over,
});

const increment = (key: string) => ({
  keys: [key],
  decide(values: ReadonlyMap<string, unknown>) {
    const n = ((values.get(key) as { n: number } | undefined)?.n ?? 0) + 1;
    return { writes: new Map<string, unknown>([[key, { n }]]), result: n };
  },
});

export function storeConformance(name: string, options: ConformanceOptions): void {
  describe(`${name} store conformance`, () => {
    let store: Store;
    const extra: Store[] = [];
    before(async () => {
      store = await options.make();
      await store.open();
    });
    after(async () => {
      for (const s of extra) await s.close();
      await store.close();
    });

    it('gives decide undefined for absent keys and keeps what it writes', async () => {
      const seen = await store.transact({
        keys: ['k:absent'],
        decide: (v) => ({ writes: new Map([['k:absent', { a: 1 }]]), result: v.get('k:absent') }),
      });
      assert.equal(seen, undefined);
      const again = await store.transact({
        keys: ['k:absent'],
        decide: (v) => ({ writes: new Map(), result: v.get('k:absent') }),
      });
      assert.deepEqual(again, { a: 1 });
    });

    it('passes a plausible clock to decide', async () => {
      const now = await store.transact({ keys: ['k:clock'], decide: (_v, n) => ({ writes: new Map(), result: n }) });
      assert.ok(Math.abs(now - Date.now()) < 5000);
    });

    it('deletes a key written as undefined', async () => {
      await store.transact({ keys: ['k:del'], decide: () => ({ writes: new Map([['k:del', 1]]), result: 0 }) });
      await store.transact({ keys: ['k:del'], decide: () => ({ writes: new Map([['k:del', undefined]]), result: 0 }) });
      const v = await store.transact({
        keys: ['k:del'],
        decide: (x) => ({ writes: new Map(), result: x.get('k:del') }),
      });
      assert.equal(v, undefined);
    });

    it('never loses an update under 200 concurrent read-decide-writes', async () => {
      const others = options.peer ? [await options.peer()] : [];
      for (const o of others) {
        await o.open();
        extra.push(o);
      }
      const all = [store, ...others];
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => all[i % all.length]!.transact(increment('k:count'))),
      );
      assert.equal(Math.max(...results), 200);
      assert.equal(new Set(results).size, 200, 'each writer saw a distinct state');
    });

    it('records a row exactly once and adds its spend to the counters once', async () => {
      const r = row({ costNanoUsd: 500 });
      const spend = [{ key: 'spent:a', nanoUsd: 500, expiresAt: Date.now() + 60_000 }];
      assert.equal(await store.record(r, spend), true);
      assert.equal(await store.record(r, spend), false);
      assert.equal((await store.counters(['spent:a', 'spent:none'])).get('spent:a'), 500);
      assert.equal((await store.counters(['spent:none'])).get('spent:none'), 0);
    });

    it('aggregates and lists rows by time range', async () => {
      const t = Date.now() + 10_000_000;
      await store.record(row({ ts: t, model: 'm1', costNanoUsd: 100, inputTokens: 1 }), []);
      await store.record(row({ ts: t + 1, model: 'm1', costNanoUsd: 200, inputTokens: 2 }), []);
      await store.record(row({ ts: t + 2, model: 'm2', servedBy: 'mock', costNanoUsd: 7 }), []);
      await store.record(row({ ts: t + 10_000, model: 'm1', costNanoUsd: 999 }), []);
      const groups = await store.aggregate({ from: t, to: t + 100 });
      const m1 = groups.find((g) => g.model === 'm1')!;
      assert.equal(m1.requests, 2);
      assert.equal(m1.costNanoUsd, 300);
      assert.equal(m1.inputTokens, 3);
      assert.equal(groups.find((g) => g.model === 'm2')?.servedBy, 'mock');
      const rows = await store.rows({ from: t, to: t + 100 });
      assert.deepEqual(
        rows.map((x) => x.costNanoUsd),
        [100, 200, 7],
      );
      assert.equal(rows[0]!.correlationId, 'c-1');
    });

    it('shows counters to decide, read in the same step as the keys', async () => {
      await store.record(row(), [{ key: 'spent:c', nanoUsd: 42, expiresAt: Date.now() + 60_000 }]);
      const seen = await store.transact({
        keys: ['k:withcounter'],
        counters: ['spent:c', 'spent:c-none'],
        decide: (v) => ({ writes: new Map(), result: [v.get('spent:c'), v.get('spent:c-none')] }),
      });
      assert.deepEqual(seen, [42, 0]);
    });

    it('re-decides when a counter it read changes before the commit', async () => {
      let runs = 0;
      const key = 'spent:race';
      const result = await store.transact({
        keys: ['k:race'],
        counters: [key],
        decide: (v) => {
          runs += 1;
          return { writes: new Map([['k:race', { seen: v.get(key) }]]), result: v.get(key) };
        },
      });
      assert.equal(result, 0);
      assert.ok(runs >= 1);
      // Interleave a record between many concurrent transacts: the final decision must see the final spend.
      const writers = Array.from({ length: 20 }, (_, i) =>
        store.record(row(), [{ key, nanoUsd: 1, expiresAt: Date.now() + 60_000 }]).then(() => i),
      );
      await Promise.all(writers);
      const last = await store.transact({
        keys: ['k:race'],
        counters: [key],
        decide: (v) => ({ writes: new Map(), result: v.get(key) }),
      });
      assert.equal(last, 20);
    });

    it('reports its health', () => {
      assert.ok(['pass', 'warn', 'fail'].includes(store.health().status));
    });
  });
}
