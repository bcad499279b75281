/**
 * The behaviour every Store must show, as a reusable node:test suite. Each store's own test file
 * calls `storeConformance` with a factory; stores that can be shared (sqlite file, Redis) also pass
 * `peer`, a second instance on the same backing state, to prove compare-and-set across instances.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { decideAdmit, decideRelease, type HoldState } from '../../src/limits/index.js';
import { seededRandom } from '../../src/random.js';
import {
  type AdmitOp,
  type AdmitVerdict,
  type BucketLimit,
  type BudgetLimit,
  type LedgerRow,
  MemoryStore,
  type SettleOp,
  type SpendIncrement,
  type Store,
  type TransactRequest,
} from '../../src/state/index.js';

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

/** An admission as the limiter asks for it: the store's native `admit` when it has one, else `transact`. */
export function admitThrough(store: Store, op: AdmitOp): Promise<AdmitVerdict> {
  const request: TransactRequest<AdmitVerdict> = {
    keys: [...op.buckets.map((b) => b.key), ...op.budgets.map((g) => g.holdKey)],
    counters: op.budgets.map((g) => g.spentKey),
    expiresAt: (key, now) => op.budgets.find((g) => g.holdKey === key)?.expiresAt ?? now + 7_200_000,
    decide: (values, now) => decideAdmit(op, values, now),
  };
  return store.admit ? store.admit(op, request) : store.transact(request);
}

/** A settlement as the limiter asks for it: the store's native `settle` when it has one, else `record` + `transact`. */
export async function settleThrough(store: Store, op: SettleOp): Promise<boolean> {
  const keys = [...op.adjust.map((b) => b.key), ...op.holdKeys];
  const release: TransactRequest<void> | undefined =
    keys.length === 0 ? undefined : { keys, decide: (values, now) => decideRelease(op, values, now) };
  if (store.settle) return store.settle(op, release);
  const fresh = op.row === undefined ? false : await store.record(op.row, op.spend);
  if (release !== undefined) await store.transact(release);
  return fresh;
}

/** Live holds of a hold state as [id, amount] pairs, sorted, and their total. */
export function liveHolds(state: HoldState | undefined, now: number): { ids: [string, number][]; held: number } {
  const ids = Object.entries(state?.holds ?? {})
    .filter(([, [, e]]) => e > now)
    .map(([id, [a]]): [string, number] => [id, a])
    .sort((x, y) => (x[0] < y[0] ? -1 : 1));
  return { ids, held: ids.reduce((t, [, a]) => t + a, 0) };
}

/** A budget window under keys no other test uses, ending in an hour. */
function freshBudget(name: string, limitNano: number): BudgetLimit {
  const p = `${name}:${randomUUID()}:`;
  return { holdKey: `${p}h`, spentKey: `${p}s`, limitNano, expiresAt: Date.now() + 3_600_000 };
}

/** The store a suite runs against, opened in before() and closed, with any peers, in after(). */
interface Suite {
  store: Store;
  extra: Store[];
}

/** Keys and values through `transact`, alone and under contention. */
function transactCases(suite: Suite, options: ConformanceOptions): void {
  it('gives decide undefined for absent keys and keeps what it writes', async () => {
    const seen = await suite.store.transact({
      keys: ['k:absent'],
      decide: (v) => ({ writes: new Map([['k:absent', { a: 1 }]]), result: v.get('k:absent') }),
    });
    assert.equal(seen, undefined);
    const again = await suite.store.transact({
      keys: ['k:absent'],
      decide: (v) => ({ writes: new Map(), result: v.get('k:absent') }),
    });
    assert.deepEqual(again, { a: 1 });
  });

  it('passes a plausible clock to decide', async () => {
    const now = await suite.store.transact({
      keys: ['k:clock'],
      decide: (_v, n) => ({ writes: new Map(), result: n }),
    });
    assert.ok(Math.abs(now - Date.now()) < 5000);
  });

  it('deletes a key written as undefined', async () => {
    await suite.store.transact({ keys: ['k:del'], decide: () => ({ writes: new Map([['k:del', 1]]), result: 0 }) });
    await suite.store.transact({
      keys: ['k:del'],
      decide: () => ({ writes: new Map([['k:del', undefined]]), result: 0 }),
    });
    const v = await suite.store.transact({
      keys: ['k:del'],
      decide: (x) => ({ writes: new Map(), result: x.get('k:del') }),
    });
    assert.equal(v, undefined);
  });

  it('never loses an update under 200 concurrent read-decide-writes', async () => {
    const others = options.peer ? [await options.peer()] : [];
    for (const o of others) {
      await o.open();
      suite.extra.push(o);
    }
    const all = [suite.store, ...others];
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => all[i % all.length]!.transact(increment('k:count'))),
    );
    assert.equal(Math.max(...results), 200);
    assert.equal(new Set(results).size, 200, 'each writer saw a distinct state');
  });
}

/** Rows, their spend counters, and counters seen by `transact`. */
function ledgerCases(suite: Suite): void {
  it('records a row exactly once and adds its spend to the counters once', async () => {
    const r = row({ costNanoUsd: 500 });
    const spend = [{ key: 'spent:a', nanoUsd: 500, expiresAt: Date.now() + 60_000 }];
    assert.equal(await suite.store.record(r, spend), true);
    assert.equal(await suite.store.record(r, spend), false);
    assert.equal((await suite.store.counters(['spent:a', 'spent:none'])).get('spent:a'), 500);
    assert.equal((await suite.store.counters(['spent:none'])).get('spent:none'), 0);
  });

  it('aggregates and lists rows by time range', async () => {
    const t = Date.now() + 10_000_000;
    await suite.store.record(row({ ts: t, model: 'm1', costNanoUsd: 100, inputTokens: 1 }), []);
    await suite.store.record(row({ ts: t + 1, model: 'm1', costNanoUsd: 200, inputTokens: 2 }), []);
    await suite.store.record(row({ ts: t + 2, model: 'm2', servedBy: 'mock', costNanoUsd: 7 }), []);
    await suite.store.record(row({ ts: t + 10_000, model: 'm1', costNanoUsd: 999 }), []);
    const groups = await suite.store.aggregate({ from: t, to: t + 100 });
    const m1 = groups.find((g) => g.model === 'm1')!;
    assert.equal(m1.requests, 2);
    assert.equal(m1.costNanoUsd, 300);
    assert.equal(m1.inputTokens, 3);
    assert.equal(groups.find((g) => g.model === 'm2')?.servedBy, 'mock');
    const rows = await suite.store.rows({ from: t, to: t + 100 });
    assert.deepEqual(
      rows.map((x) => x.costNanoUsd),
      [100, 200, 7],
    );
    assert.equal(rows[0]!.correlationId, 'c-1');
  });

  it('shows counters to decide, read in the same step as the keys', async () => {
    await suite.store.record(row(), [{ key: 'spent:c', nanoUsd: 42, expiresAt: Date.now() + 60_000 }]);
    const seen = await suite.store.transact({
      keys: ['k:withcounter'],
      counters: ['spent:c', 'spent:c-none'],
      decide: (v) => ({ writes: new Map(), result: [v.get('spent:c'), v.get('spent:c-none')] }),
    });
    assert.deepEqual(seen, [42, 0]);
  });

  it('re-decides when a counter it read changes before the commit', async () => {
    let runs = 0;
    const key = 'spent:race';
    const result = await suite.store.transact({
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
      suite.store.record(row(), [{ key, nanoUsd: 1, expiresAt: Date.now() + 60_000 }]).then(() => i),
    );
    await Promise.all(writers);
    const last = await suite.store.transact({
      keys: ['k:race'],
      counters: [key],
      decide: (v) => ({ writes: new Map(), result: v.get(key) }),
    });
    assert.equal(last, 20);
  });
}

/** Admission and settlement against the limiter's own decisions. */
function admitSettleCases(suite: Suite): void {
  it('admits and settles exactly as the limiter decides over a reference store', async (t) => {
    // Buckets that refill ~nothing during the test, so two clocks (Redis TIME, Date.now) agree.
    const p = `adm:${randomUUID()}:`;
    const end = Date.now() + 3_600_000;
    const buckets: BucketLimit[] = [
      { key: `${p}b:requests`, limit: 1, burst: 1000 },
      { key: `${p}b:tokens`, limit: 1, burst: 2000 },
    ];
    const budgets: BudgetLimit[] = [
      { holdKey: `${p}h:total`, spentKey: `${p}s:total`, limitNano: 9000, expiresAt: end },
      { holdKey: `${p}h:openai`, spentKey: `${p}s:openai`, limitNano: 6000, expiresAt: end },
    ];
    const ref = new MemoryStore();
    const random = seededRandom(0x7011);
    const open: { id: string; tokens: number; holdKeys: string[] }[] = [];
    const seen = { admitted: 0, degraded: 0, bucket: 0, budget: 0, settled: 0 };
    for (let step = 0; step < 80; step++) {
      if (open.length > 0 && random() < 0.45) {
        const call = open.splice(Math.floor(random() * open.length), 1)[0]!;
        // Mostly less than reserved (a refund), sometimes more (a debt).
        const actual = Math.floor(random() * (call.tokens * 0.6 + 20));
        const cost = Math.floor(random() * 900);
        const r = random() < 0.8 ? row({ costNanoUsd: cost }) : undefined;
        const spend: SpendIncrement[] = budgets.map((g) => ({ key: g.spentKey, nanoUsd: cost, expiresAt: end }));
        const op: SettleOp = {
          row: r,
          spend: r === undefined ? [] : spend,
          holdId: call.id,
          holdKeys: call.holdKeys,
          adjust: [buckets[1]!],
          deltas: [call.tokens - actual],
        };
        const [mine, theirs] = [await settleThrough(suite.store, op), await settleThrough(ref, op)];
        assert.equal(mine, theirs, `step ${step}: settle`);
        seen.settled += 1;
        continue;
      }
      const id = randomUUID();
      const dice = random();
      const tokens = dice < 0.08 ? 2001 : dice < 0.2 ? 900 : 1 + Math.floor(random() * 150);
      const op: AdmitOp = {
        holdId: id,
        buckets,
        amounts: [1, tokens],
        budgets,
        holdNano: Math.floor(random() * 1500),
        holdTtlMs: 60_000,
        degrade: random() < 0.3,
      };
      if (random() < 0.25) {
        op.spares = [0, Math.floor(random() * 800)];
        op.holdSpare = Math.floor(random() * 2000);
      }
      const mine = await admitThrough(suite.store, op);
      const theirs = await admitThrough(ref, op);
      assert.equal(mine.admitted, theirs.admitted, `step ${step}: admitted`);
      assert.deepEqual(mine.budget, theirs.budget, `step ${step}: budget`);
      assert.equal(mine.bucket?.index, theirs.bucket?.index, `step ${step}: bucket`);
      assert.equal(mine.bucket?.exceedsCapacity, theirs.bucket?.exceedsCapacity, `step ${step}: capacity`);
      const [waitA, waitB] = [mine.bucket?.retryAfterMs ?? 0, theirs.bucket?.retryAfterMs ?? 0];
      assert.ok(waitA === waitB || Math.abs(waitA - waitB) < 60_000, `step ${step}: retry after ${waitA} vs ${waitB}`);
      assert.equal(mine.levels.length, theirs.levels.length);
      mine.levels.forEach((l, i) => {
        assert.ok(Math.abs(l - theirs.levels[i]!) < 0.01, `step ${step}: level ${i}`);
      });
      seen[mine.bucket ? 'bucket' : !mine.admitted ? 'budget' : mine.budget ? 'degraded' : 'admitted'] += 1;
      if (mine.admitted) {
        open.push({
          id,
          tokens,
          holdKeys: mine.budget === undefined && op.holdNano > 0 ? budgets.map((g) => g.holdKey) : [],
        });
      }
    }
    t.diagnostic(JSON.stringify(seen));
    for (const [outcome, n] of Object.entries(seen)) assert.ok(n > 0, `the sequence has no ${outcome} step`);
    const keys = [...buckets.map((b) => b.key), ...budgets.map((g) => g.holdKey)];
    const counters = budgets.map((g) => g.spentKey);
    const read = (s: Store) =>
      s.transact({ keys, counters, decide: (values, now) => ({ writes: new Map(), result: { values, now } }) });
    const [a, b] = [await read(suite.store), await read(ref)];
    for (const k of counters) assert.equal(a.values.get(k), b.values.get(k), k);
    for (const bucket of buckets) {
      const [x, y] = [a.values.get(bucket.key), b.values.get(bucket.key)] as { tokens: number }[];
      assert.ok(Math.abs(x!.tokens - y!.tokens) < 0.01, bucket.key);
    }
    for (const g of budgets) {
      const [x, y] = [a.values.get(g.holdKey), b.values.get(g.holdKey)] as HoldState[];
      assert.deepEqual(liveHolds(x, a.now), liveHolds(y, b.now), g.holdKey);
      assert.equal(x?.held, liveHolds(x, a.now).held, `${g.holdKey}: the running total`);
    }
  });
}

/** Holds: expiry, older hold states, and release on settlement. */
function holdCases(suite: Suite): void {
  it('drops expired holds, and reads hold states written before the running total existed', async () => {
    const budget = freshBudget('exp', 100);
    const op = (holdId: string, holdNano: number, holdTtlMs: number): AdmitOp => ({
      holdId,
      buckets: [],
      amounts: [],
      budgets: [budget],
      holdNano,
      holdTtlMs,
      degrade: false,
    });
    assert.equal((await admitThrough(suite.store, op('short', 60, 150))).admitted, true);
    assert.deepEqual((await admitThrough(suite.store, op('refused', 60, 60_000))).budget, {
      index: 0,
      spent: 0,
      held: 60,
      tooLarge: false,
    });
    await new Promise((resolve) => setTimeout(resolve, 250));
    assert.equal((await admitThrough(suite.store, op('after', 60, 60_000))).admitted, true, 'the expired hold is gone');

    // A hold map as an older tollgate wrote it, through the generic path.
    const legacy: HoldState = { holds: { old: [70, Date.now() + 60_000], stale: [30, Date.now() - 1] } };
    await suite.store.transact({
      keys: [budget.holdKey],
      decide: () => ({ writes: new Map([[budget.holdKey, legacy]]), result: 0 }),
    });
    assert.deepEqual((await admitThrough(suite.store, op('x', 40, 60_000))).budget?.held, 70);
    assert.equal((await admitThrough(suite.store, op('y', 30, 60_000))).admitted, true);
    await settleThrough(suite.store, {
      row: undefined,
      spend: [],
      holdId: 'old',
      holdKeys: [budget.holdKey],
      adjust: [],
      deltas: [],
    });
    const seen = await suite.store.transact({
      keys: [budget.holdKey],
      decide: (values, now) => ({
        writes: new Map(),
        result: liveHolds(values.get(budget.holdKey) as HoldState, now),
      }),
    });
    assert.deepEqual(seen, { ids: [['y', 30]], held: 30 });
  });

  it('settles a row exactly once and releases its holds either way', async () => {
    const budget = freshBudget('settle', 1000);
    const hold = (holdId: string, holdNano = 400) =>
      admitThrough(suite.store, {
        holdId,
        buckets: [],
        amounts: [],
        budgets: [budget],
        holdNano,
        holdTtlMs: 60_000,
        degrade: false,
      });
    const r = row({ costNanoUsd: 300 });
    const spend = [{ key: budget.spentKey, nanoUsd: 300, expiresAt: budget.expiresAt }];
    assert.equal((await hold('a')).admitted, true);
    assert.equal((await hold('b')).admitted, true);
    const settle = (holdId: string) =>
      settleThrough(suite.store, { row: r, spend, holdId, holdKeys: [budget.holdKey], adjust: [], deltas: [] });
    assert.equal(await settle('a'), true);
    assert.equal(await settle('b'), false, 'the same row again books nothing');
    assert.equal((await suite.store.counters([budget.spentKey])).get(budget.spentKey), 300);
    assert.equal((await suite.store.rows({ from: r.ts, to: r.ts + 1 })).filter((x) => x.id === r.id).length, 1);
    // Both holds went: 300 spent + 700 fits, 701 does not.
    assert.equal((await hold('c', 701)).admitted, false);
    assert.equal((await hold('c', 700)).admitted, true);
  });
}

export function storeConformance(name: string, options: ConformanceOptions): void {
  describe(`${name} store conformance`, () => {
    const suite: Suite = { store: undefined as unknown as Store, extra: [] };
    before(async () => {
      suite.store = await options.make();
      await suite.store.open();
    });
    after(async () => {
      for (const s of suite.extra) await s.close();
      await suite.store.close();
    });

    transactCases(suite, options);
    ledgerCases(suite);
    admitSettleCases(suite);
    holdCases(suite);

    it('reports its health', () => {
      assert.ok(['pass', 'warn', 'fail'].includes(suite.store.health().status));
    });
  });
}
