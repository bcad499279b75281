import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { admitCall } from '../../test/support/admit.js';
import { row } from '../../test/support/store-conformance.js';
import { type Config, loadConfig } from '../config/index.js';
import { TollgateError } from '../errors.js';
import { MemoryStore } from '../state/memory.js';
import type { LedgerRow, SettleOp, Store, TransactRequest } from '../state/types.js';
import { type HoldState, Limiter, toNano } from './index.js';

const T0 = Date.UTC(2026, 10, 28, 12, 30);

function configWith(env: Record<string, string>): Config {
  return loadConfig({ env: { ENV_FILE: '', STATE_URL: 'memory:', ...env } }).config;
}

/** A limiter over a memory store, both on one settable clock. */
function setup(env: Record<string, string>, holdTtlMs?: number) {
  const clock = { t: T0 };
  const store = new MemoryStore({ now: () => clock.t });
  const config = configWith(env);
  const limiter = new Limiter({
    store,
    config: () => config,
    now: () => clock.t,
    holdTtlMs: holdTtlMs === undefined ? undefined : () => holdTtlMs,
  });
  return { clock, store, limiter };
}

const call = admitCall;

/** A refine() that counts how often it is asked. */
function refiner(tokens: number, worstUsd = 0.001) {
  const spy = { calls: 0, refine: () => ({ tokens, worstUsd }) };
  spy.refine = () => {
    spy.calls += 1;
    return { tokens, worstUsd };
  };
  return spy;
}

const settled = (id: string, over: Partial<LedgerRow> = {}) => row({ id, ts: T0, provider: 'openai', ...over });

async function refusal(p: Promise<unknown>): Promise<TollgateError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof TollgateError);
    return e;
  }
  assert.fail('expected a refusal');
}

describe('Limiter: an upper bound refined only when it would be refused', () => {
  it('admits with the exact count a bound the tokens bucket refuses, and refunds against what it reserved', async () => {
    const { limiter } = setup({ OPENAI_TOKENS_PER_HOUR: '60000', OPENAI_TOKENS_BURST: '1000' });
    const spy = refiner(800);
    const a = await limiter.admit(call({ tokens: 1500, refine: spy.refine }));
    assert.equal(spy.calls, 1);
    assert.equal(a.buckets.find((b) => b.kind === 'tokens')?.remaining, 200, '800 taken, not 1500');
    await a.settle({ row: settled(randomUUID()), tokens: 500, pages: 0 });
    // 300 of the 800 reserved come back (relative to the bound it would have been capped at 1000).
    const snap = await limiter.snapshot();
    assert.equal(snap.buckets.find((b) => b.kind === 'tokens')?.remaining, 500);
  });

  it('admits with the exact cost a bound the budget refuses, and holds only that', async () => {
    const { limiter } = setup({ BUDGET_DAILY_USD: '0.01' });
    const spy = refiner(100, 0.004);
    const a = await limiter.admit(call({ worstUsd: 0.02, refine: spy.refine }));
    assert.equal(spy.calls, 1);
    const daily = (await limiter.snapshot()).budgets.find((b) => b.window === 'daily')!;
    assert.equal(daily.heldUsd, 0.004);
    await a.settle({ tokens: 0, pages: 0 });
    assert.equal((await limiter.snapshot()).budgets[0]!.heldUsd, 0);
  });

  it('never asks refine() while there is headroom for the bound', async () => {
    const { limiter } = setup({
      OPENAI_TOKENS_PER_HOUR: '6000000',
      OPENAI_TOKENS_BURST: '100000',
      OPENAI_REQUESTS_PER_HOUR: '3600',
      BUDGET_DAILY_USD: '10',
    });
    const spy = refiner(10);
    for (let i = 0; i < 20; i++) {
      const a = await limiter.admit(call({ tokens: 400, refine: spy.refine }));
      await a.settle({ row: settled(randomUUID()), tokens: 30, pages: 0 });
    }
    assert.equal(spy.calls, 0);
  });

  it('asks refine() near a limit even where the bound itself would fit, so bounds in flight crowd out nobody', async () => {
    // 7 exact worst cases fit; bounds are 3x that. Calls in flight hold what they reserved.
    const { limiter } = setup({ BUDGET_DAILY_USD: String(7.5 * 0.001) });
    const spy = refiner(100, 0.001);
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, () => limiter.admit(call({ worstUsd: 0.003, refine: spy.refine }))),
    );
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 7);
    assert.equal(spy.calls, 12);
    assert.equal((await limiter.snapshot()).budgets[0]!.heldUsd, 0.007);
  });

  it('does not ask refine() when a requests bucket refuses, and throws that refusal', async () => {
    const { limiter } = setup({
      OPENAI_REQUESTS_PER_HOUR: '60',
      OPENAI_REQUESTS_BURST: '1',
      OPENAI_TOKENS_PER_HOUR: '6000',
    });
    await limiter.admit(call());
    const spy = refiner(1);
    const e = await refusal(limiter.admit(call({ refine: spy.refine })));
    assert.equal(e.code, 'rate_limit_exceeded');
    assert.equal(spy.calls, 0);
  });

  it('throws the refusal of the exact count when even that does not fit', async () => {
    const { limiter } = setup({ OPENAI_TOKENS_PER_HOUR: '60000', OPENAI_TOKENS_BURST: '1000' });
    const spy = refiner(1200);
    const e = await refusal(limiter.admit(call({ tokens: 5000, refine: spy.refine })));
    assert.equal(spy.calls, 1);
    assert.match(e.message, /needs 1200 tokens/);
  });

  it('refines a budget shortfall before sending the call to the mock (BUDGET_EXCEEDED_ACTION=mock)', async () => {
    const { limiter } = setup({
      BUDGET_DAILY_USD: '0.01',
      BUDGET_EXCEEDED_ACTION: 'mock',
      OPENAI_REQUESTS_PER_HOUR: '3600',
      OPENAI_REQUESTS_BURST: '10',
    });
    const fits = await limiter.admit(call({ worstUsd: 0.05, mayDegrade: true, refine: refiner(10, 0.002).refine }));
    assert.equal(fits.budgetExceeded, undefined, 'the exact cost fits: served for real');
    const spy = refiner(10, 0.02);
    const degraded = await limiter.admit(call({ worstUsd: 0.05, mayDegrade: true, refine: spy.refine }));
    assert.deepEqual(degraded.budgetExceeded, { scope: 'total', window: 'daily' });
    assert.equal(spy.calls, 1);
    // Two calls admitted, each took one request: the refused first try took nothing.
    assert.equal(degraded.buckets.find((b) => b.kind === 'requests')?.remaining, 8);
  });
});

describe('Limiter: holds and caches', () => {
  it('keeps a running total of the holds in flight and releases each at settlement', async () => {
    const { limiter, store } = setup({ BUDGET_DAILY_USD: '1' });
    const admissions = await Promise.all(Array.from({ length: 9 }, () => limiter.admit(call({ worstUsd: 0.1 }))));
    await refusal(limiter.admit(call({ worstUsd: 0.11 })));
    const key = 'budget:total:day:2026-11-28';
    const state = await store.transact({
      keys: [key],
      decide: (v) => ({ writes: new Map(), result: v.get(key) as HoldState }),
    });
    assert.equal(Object.keys(state.holds).length, 9);
    assert.equal(state.held, toNano(0.9));
    for (const a of admissions.slice(0, 5))
      await a.settle({ row: settled(randomUUID(), { costNanoUsd: toNano(0.01) }), tokens: 1, pages: 0 });
    const daily = (await limiter.snapshot()).budgets[0]!;
    assert.equal(daily.heldUsd, 0.4);
    assert.equal(daily.spentUsd, 0.05);
    assert.equal(state.held, toNano(0.4));
  });

  it('lets a hold lapse after its TTL (a crashed call does not block the budget forever)', async () => {
    const { limiter, clock } = setup({ BUDGET_DAILY_USD: '1' }, 60_000);
    await limiter.admit(call({ worstUsd: 0.9 }));
    await refusal(limiter.admit(call({ worstUsd: 0.2 })));
    clock.t += 60_001;
    const a = await limiter.admit(call({ worstUsd: 0.2 }));
    assert.equal((await limiter.snapshot()).budgets[0]!.heldUsd, 0.2);
    await a.settle({ tokens: 0, pages: 0 });
  });

  it('follows a new config object and a new budget window', async () => {
    const clock = { t: T0 };
    const store = new MemoryStore({ now: () => clock.t });
    let config = configWith({
      OPENAI_REQUESTS_PER_HOUR: '3600',
      OPENAI_REQUESTS_BURST: '5',
      OPENAI_BUDGET_HOURLY_USD: '1',
    });
    const limiter = new Limiter({ store, config: () => config, now: () => clock.t });
    const first = await limiter.admit(call({ worstUsd: 0.6 }));
    assert.equal(first.headers['x-ratelimit-limit-requests'], '3600');
    await refusal(limiter.admit(call({ worstUsd: 0.6 })));
    config = configWith({
      OPENAI_REQUESTS_PER_HOUR: '7200',
      OPENAI_REQUESTS_BURST: '5',
      OPENAI_BUDGET_HOURLY_USD: '2',
    });
    const second = await limiter.admit(call({ worstUsd: 0.6 }));
    assert.equal(second.headers['x-ratelimit-limit-requests'], '7200');
    // The next hour is a new window: its budget starts from nothing held.
    clock.t += 3_600_000;
    await limiter.admit(call({ worstUsd: 1.9 }));
    const hourly = (await limiter.snapshot()).budgets.find((b) => b.window === 'hourly')!;
    assert.equal(hourly.heldUsd, 1.9);
    assert.equal(hourly.windowStart, Date.UTC(2026, 10, 28, 13));
  });

  it('reads hold states an older version wrote (no running total)', async () => {
    const { limiter, store } = setup({ BUDGET_DAILY_USD: '1' });
    const key = 'budget:total:day:2026-11-28';
    const legacy: HoldState = { holds: { a: [toNano(0.5), T0 + 60_000], gone: [toNano(0.5), T0 - 1] } };
    await store.transact({ keys: [key], decide: () => ({ writes: new Map([[key, legacy]]), result: 0 }) });
    await refusal(limiter.admit(call({ worstUsd: 0.6 })));
    await limiter.admit(call({ worstUsd: 0.5 }));
    assert.equal((await limiter.snapshot()).budgets[0]!.heldUsd, 1);
  });

  it('settles through a store’s settle() in one operation when it offers one', async () => {
    const inner = new MemoryStore({ now: () => T0 });
    const ops: string[] = [];
    const store: Store = {
      kind: 'memory',
      open: () => inner.open(),
      transact: <T>(r: TransactRequest<T>) => {
        ops.push('transact');
        return inner.transact(r);
      },
      record: (r, s) => {
        ops.push('record');
        return inner.record(r, s);
      },
      async settle(op: SettleOp, release: TransactRequest<void> | undefined) {
        ops.push('settle');
        const fresh = op.row !== undefined && inner.recordSync(op.row, op.spend);
        if (release !== undefined) inner.transactSync(release);
        return fresh;
      },
      counters: (k) => inner.counters(k),
      aggregate: (q) => inner.aggregate(q),
      rows: (q) => inner.rows(q),
      health: () => inner.health(),
      close: () => inner.close(),
    };
    const config = configWith({ OPENAI_TOKENS_PER_HOUR: '60000', BUDGET_DAILY_USD: '1' });
    const limiter = new Limiter({ store, config: () => config, now: () => T0 });
    const a = await limiter.admit(call());
    await a.settle({ row: settled(randomUUID(), { costNanoUsd: 5 }), tokens: 40, pages: 0 });
    assert.deepEqual(ops, ['transact', 'settle']);
    assert.equal((await inner.counters(['spent:total:day:2026-11-28'])).get('spent:total:day:2026-11-28'), 5);
    const snap = await limiter.snapshot();
    assert.equal(snap.budgets[0]!.heldUsd, 0);
    assert.equal(snap.buckets[0]!.remaining, 1000 - 40);
  });
});
