import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { row } from '../../test/support/store-conformance.js';
import { loadConfig } from '../config/index.js';
import { MemoryStore } from '../state/memory.js';
import { type BudgetSnapshot, BudgetWatch, Limiter, type LimitsSnapshot, toNano } from './index.js';

const T0 = Date.UTC(2026, 10, 28, 12, 30);

const budget = (over: Partial<BudgetSnapshot> = {}): BudgetSnapshot => ({
  scope: 'total',
  window: 'daily',
  limitUsd: 1,
  spentUsd: 0,
  heldUsd: 0,
  remainingUsd: 1,
  windowStart: T0 - 3_600_000,
  windowEnd: T0 + 3_600_000,
  ...over,
});

/** A logger that keeps what it was told. */
function recorder() {
  const lines: { fields: Record<string, unknown>; message: string }[] = [];
  return {
    lines,
    log: { warn: (fields: Record<string, unknown>, message: string) => lines.push({ fields, message }) },
  };
}

/** A limiter stand-in whose snapshot answers what the test puts in `next` (or throws it). */
function fakeLimiter(first: BudgetSnapshot[]) {
  const state: { next: BudgetSnapshot[] | Error; calls: number } = { next: first, calls: 0 };
  const limiter = {
    snapshot: async (): Promise<LimitsSnapshot> => {
      state.calls += 1;
      if (state.next instanceof Error) throw state.next;
      return { buckets: [], budgets: state.next };
    },
  };
  return { state, limiter };
}

/** A timer stand-in: the test fires ticks itself. */
function manualTimer() {
  const t: { tick: (() => void) | undefined; ms: number | undefined; stops: number; starts: number } = {
    tick: undefined,
    ms: undefined,
    stops: 0,
    starts: 0,
  };
  const every = (tick: () => void, ms: number) => {
    t.starts += 1;
    t.tick = tick;
    t.ms = ms;
    return () => {
      t.stops += 1;
      t.tick = undefined;
    };
  };
  return { t, every };
}

describe('BudgetWatch: the near-limit warning', () => {
  it('warns once per budget window when spending crosses the ratio, with scope, window, spent and limit', async () => {
    const { lines, log } = recorder();
    const { state, limiter } = fakeLimiter([budget({ spentUsd: 0.5 })]);
    const watch = new BudgetWatch({ limiter, warnRatio: () => 0.8, log });
    await watch.refresh();
    assert.equal(lines.length, 0, 'below the ratio');
    state.next = [budget({ spentUsd: 0.8 })];
    await watch.refresh();
    await watch.refresh();
    assert.deepEqual(lines, [
      {
        fields: { scope: 'total', window: 'daily', spent_usd: 0.8, limit_usd: 1 },
        message: 'budget near its limit',
      },
    ]);
    // The next window of the same budget warns again.
    state.next = [budget({ spentUsd: 0.9, windowStart: T0 + 3_600_000 })];
    await watch.refresh();
    assert.equal(lines.length, 2);
    assert.equal(lines[1]!.message, 'budget near its limit');
  });

  it('tells budgets apart by scope and window, and never warns for a zero limit', async () => {
    const { lines, log } = recorder();
    const { limiter } = fakeLimiter([
      budget({ spentUsd: 0.9 }),
      budget({ scope: 'openai', spentUsd: 0.9 }),
      budget({ window: 'monthly', spentUsd: 0.9 }),
      budget({ scope: 'llamaparse', limitUsd: 0, spentUsd: 0 }),
    ]);
    await new BudgetWatch({ limiter, warnRatio: () => 0.8, log }).refresh();
    assert.deepEqual(
      lines.map((l) => [l.fields.scope, l.fields.window]),
      [
        ['total', 'daily'],
        ['openai', 'daily'],
        ['total', 'monthly'],
      ],
    );
  });

  it('reads the warning ratio on every refresh (a config reload applies at the next one)', async () => {
    const { lines, log } = recorder();
    const { limiter } = fakeLimiter([budget({ spentUsd: 0.5 })]);
    let ratio = 0.8;
    const watch = new BudgetWatch({ limiter, warnRatio: () => ratio, log });
    await watch.refresh();
    assert.equal(lines.length, 0);
    ratio = 0.5;
    await watch.refresh();
    assert.equal(lines.length, 1);
  });
});

describe('BudgetWatch: the last snapshot', () => {
  it('keeps the budgets and the store latency of the last successful refresh', async () => {
    const { log } = recorder();
    const { limiter } = fakeLimiter([budget({ spentUsd: 0.25 })]);
    const clock = [10, 11.23456];
    const watch = new BudgetWatch({ limiter, warnRatio: () => 0.8, log, now: () => clock.shift()! });
    assert.deepEqual(watch.budgets, []);
    assert.equal(watch.storeLatencyMs, 0);
    await watch.refresh();
    assert.deepEqual(watch.budgets, [budget({ spentUsd: 0.25 })]);
    assert.equal(watch.storeLatencyMs, 1.23);
  });

  it("logs a failed snapshot without throwing, and keeps the previous one's figures", async () => {
    const { lines, log } = recorder();
    const { state, limiter } = fakeLimiter([budget({ spentUsd: 0.25 })]);
    const clock = [0, 2, 5];
    const watch = new BudgetWatch({ limiter, warnRatio: () => 0.8, log, now: () => clock.shift()! });
    await watch.refresh();
    const err = new Error('store down');
    state.next = err;
    await watch.refresh();
    assert.deepEqual(lines, [{ fields: { err }, message: 'budget snapshot failed' }]);
    assert.deepEqual(watch.budgets, [budget({ spentUsd: 0.25 })]);
    assert.equal(watch.storeLatencyMs, 2);
  });

  it('reads the budgets a real limiter reports, and warns when booked spend crosses the ratio', async () => {
    const { lines, log } = recorder();
    const store = new MemoryStore({ now: () => T0 });
    const config = loadConfig({ env: { ENV_FILE: '', STATE_URL: 'memory:', BUDGET_DAILY_USD: '1' } }).config;
    const limiter = new Limiter({ store, config: () => config, now: () => T0 });
    const watch = new BudgetWatch({ limiter, warnRatio: () => 0.8, log });
    await limiter.book(row({ ts: T0, costNanoUsd: toNano(0.85) }));
    await watch.refresh();
    assert.equal(watch.budgets.length, 1);
    assert.equal(watch.budgets[0]!.spentUsd, 0.85);
    assert.deepEqual(lines, [
      { fields: { scope: 'total', window: 'daily', spent_usd: 0.85, limit_usd: 1 }, message: 'budget near its limit' },
    ]);
  });
});

describe('BudgetWatch: the timer', () => {
  it('refreshes on every tick of intervalMs (default 5 s) until stopped; a second start() changes nothing', async () => {
    const { log } = recorder();
    const { state, limiter } = fakeLimiter([]);
    const { t, every } = manualTimer();
    const watch = new BudgetWatch({ limiter, warnRatio: () => 0.8, log, every });
    watch.start();
    watch.start();
    assert.equal(t.starts, 1);
    assert.equal(t.ms, 5000);
    t.tick!();
    t.tick!();
    assert.equal(state.calls, 2);
    watch.stop();
    assert.equal(t.stops, 1);
    assert.equal(t.tick, undefined);
    watch.stop();
    assert.equal(t.stops, 1, 'stopping twice stops once');
  });

  it('uses the interval it is given', () => {
    const { log } = recorder();
    const { t, every } = manualTimer();
    const watch = new BudgetWatch({
      limiter: fakeLimiter([]).limiter,
      warnRatio: () => 0.8,
      log,
      every,
      intervalMs: 250,
    });
    watch.start();
    assert.equal(t.ms, 250);
    watch.stop();
  });

  it('runs on a real, unref’d interval by default and stops cleanly', () => {
    const watch = new BudgetWatch({ limiter: fakeLimiter([]).limiter, warnRatio: () => 0.8, log: recorder().log });
    watch.start();
    watch.stop();
  });
});
