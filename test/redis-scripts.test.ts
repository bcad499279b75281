/**
 * The Redis store's Lua arithmetic against the limiter's TypeScript, on a private redis-server:
 * random sequences of admissions, settlements (refunds, debts, releases, repeated rows) and clock
 * steps (forward, backward) must give the same verdicts, the same bucket states, the same live
 * holds and the same spend, step for step.
 *
 * The scripts run as the store sends them (codec.ts encodes and decodes), except that `clock` reads
 * a key the test sets instead of Redis TIME, so both sides decide at the same instant. Key expiry
 * stays on the real clock, which the test clock runs far ahead of (from 2100 on), so no key
 * expires under it and a run does not depend on when it runs.
 *
 * Reproduce a failure with DIFF_SEED=<seed printed by fast-check>.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { decideAdmit, decideRelease, type HoldState } from '../src/limits/index.js';
import * as codec from '../src/state/redis/codec.js';
import { RedisKeys } from '../src/state/redis/keys.js';
import { defineScripts, loadScripts, type ScriptedRedis } from '../src/state/redis/scripts.js';
import type { AdmitOp, AdmitVerdict, BucketLimit, BudgetLimit, SettleOp, SpendIncrement } from '../src/state/types.js';
import { freePort, startRedis, stopRedis } from './support/redis.js';
import { liveHolds, row } from './support/store-conformance.js';

if (spawnSync('redis-server', ['--version']).error) throw new Error('redis-server is required for the Lua tests');

const CLOCK_KEY = 'difftest:clock';
const TEST_CLOCK = `local function clock() return tonumber(redis.call('GET', '${CLOCK_KEY}')) end\n`;
const DAY = 86_400_000;
const BASE = Date.UTC(2100, 0, 1);

type Step =
  | { kind: 'clock'; ms: number }
  | {
      kind: 'admit';
      amounts: [number, number];
      holdNano: number;
      holdTtlMs: number;
      degrade: boolean;
      spares: [number, number] | undefined;
      holdSpare: number;
    }
  | { kind: 'settle'; call: number; actual: number; cost: number; hasRow: boolean; repeatRow: boolean };

interface Rules {
  buckets: [{ limit: number; burst: number }, { limit: number; burst: number }];
  budgets: [number, number];
}

/** A refill rate per hour: whole, or fractional so refills are inexact in floating point. */
const limitArb = (max: number) =>
  fc.oneof(fc.integer({ min: 1, max }), fc.double({ min: 0.5, max, noNaN: true, noDefaultInfinity: true }));

const rulesArb: fc.Arbitrary<Rules> = fc.record({
  buckets: fc.tuple(
    fc.record({ limit: limitArb(20_000), burst: fc.integer({ min: 3, max: 200 }) }),
    fc.record({ limit: limitArb(2_000_000), burst: fc.integer({ min: 500, max: 50_000 }) }),
  ),
  budgets: fc.tuple(fc.integer({ min: 2_000, max: 60_000 }), fc.integer({ min: 1, max: 20_000 })),
});

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('clock' as const),
      // Mostly partial refills (the arithmetic shows), sometimes full ones, sometimes a step back.
      ms: fc.oneof(
        { weight: 6, arbitrary: fc.integer({ min: 0, max: 2_000 }) },
        { weight: 3, arbitrary: fc.integer({ min: 2_000, max: 600_000 }) },
        { weight: 1, arbitrary: fc.integer({ min: 600_000, max: 3 * 3_600_000 }) },
        { weight: 1, arbitrary: fc.integer({ min: -5_000, max: -1 }) },
      ),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('admit' as const),
      amounts: fc.tuple(
        fc.integer({ min: 0, max: 2 }),
        fc.oneof(
          { weight: 12, arbitrary: fc.integer({ min: 0, max: 3_000 }) },
          { weight: 1, arbitrary: fc.constant(60_000) },
        ),
      ),
      holdNano: fc.oneof(
        { weight: 2, arbitrary: fc.constant(0) },
        { weight: 12, arbitrary: fc.integer({ min: 1, max: 3_000 }) },
        { weight: 1, arbitrary: fc.constant(100_000) },
      ),
      holdTtlMs: fc.oneof(fc.integer({ min: 1, max: 5_000 }), fc.integer({ min: 60_000, max: 3_600_000 })),
      degrade: fc.boolean(),
      spares: fc.option(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 1_000 })), {
        nil: undefined,
        freq: 3,
      }),
      holdSpare: fc.oneof(
        { weight: 3, arbitrary: fc.constant(0) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 2_000 }) },
      ),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('settle' as const),
      call: fc.nat(),
      actual: fc.integer({ min: 0, max: 4_000 }),
      cost: fc.integer({ min: 0, max: 2_000 }),
      hasRow: fc.boolean(),
      repeatRow: fc.boolean(),
    }),
  },
);

/** The TypeScript side: the limiter's decisions over plain values, keys never expiring. */
class Reference {
  readonly values = new Map<string, unknown>();
  readonly #booked = new Set<string>();

  /** Decides over a copy (decide may change hold states in place) and keeps only what it writes. */
  #apply<T>(decide: (values: Map<string, unknown>) => { writes: Map<string, unknown>; result: T }): T {
    const { writes, result } = decide(structuredClone(this.values));
    for (const [k, v] of writes) this.values.set(k, v);
    return result;
  }

  admit(op: AdmitOp, now: number): AdmitVerdict {
    return this.#apply((values) => decideAdmit(op, values, now));
  }

  settle(op: SettleOp, now: number): boolean {
    const fresh = op.row !== undefined && !this.#booked.has(op.row.id);
    if (fresh) {
      this.#booked.add(op.row!.id);
      for (const s of op.spend)
        this.values.set(s.key, ((this.values.get(s.key) as number | undefined) ?? 0) + s.nanoUsd);
    }
    this.#apply((values) => decideRelease(op, values, now));
    return fresh;
  }
}

/** Bucket states exactly, live holds and spend counters, as READ shows them. */
async function assertSameState(
  redis: ScriptedRedis,
  keys: RedisKeys,
  ref: Reference,
  buckets: BucketLimit[],
  budgets: BudgetLimit[],
  now: number,
  at: string,
): Promise<void> {
  const kv = [...buckets.map((b) => b.key), ...budgets.map((g) => g.holdKey)];
  const counters = budgets.map((g) => g.spentKey);
  const call = codec.readCall(keys, kv, counters);
  const state = codec.decodeState(kv.length, counters.length, await redis.tgRead(call.numKeys, ...call.args), 0);
  const value = (i: number) => (state.keys[i]!.data === '' ? undefined : JSON.parse(state.keys[i]!.data));
  buckets.forEach((b, i) => {
    assert.deepEqual(value(i), ref.values.get(b.key), `${at}: ${b.key}`);
  });
  budgets.forEach((g, j) => {
    const lua = value(buckets.length + j) as HoldState | undefined;
    const ts = ref.values.get(g.holdKey) as HoldState | undefined;
    assert.deepEqual(liveHolds(lua, now).ids, liveHolds(ts, now).ids, `${at}: ${g.holdKey}`);
    const spent = state.counters[j] === '' ? undefined : Number(state.counters[j]);
    assert.equal(spent, ref.values.get(g.spentKey), `${at}: ${g.spentKey}`);
  });
}

describe('Redis scripts decide as the limiter', () => {
  let server: ChildProcess | undefined;
  let redis: ScriptedRedis;
  let runs = 0;
  /** How often each outcome came up over all runs, so a run that exercises nothing shows. */
  const seen = { admitted: 0, degraded: 0, bucket: 0, budget: 0, fresh: 0, repeated: 0, released: 0 };

  before(async () => {
    const port = await freePort();
    server = await startRedis(port);
    redis = defineScripts(new Redis(port, '127.0.0.1'), loadScripts({ clock: TEST_CLOCK }));
  });

  after(async () => {
    redis?.disconnect();
    await stopRedis(server);
  });

  /** Runs one sequence on both sides; asserts after every step. */
  async function run(rules: Rules, steps: Step[]): Promise<void> {
    const keys = new RedisKeys(`d${runs++}:`);
    let now = BASE;
    const end = now + 30 * DAY;
    const buckets: BucketLimit[] = rules.buckets.map((b, i) => ({ key: `b${i}`, ...b }));
    const budgets: BudgetLimit[] = rules.budgets.map((limitNano, j) => ({
      holdKey: `h${j}`,
      spentKey: `s${j}`,
      limitNano,
      expiresAt: end,
    }));
    const ref = new Reference();
    const calls: { id: string; tokens: number }[] = [];
    const rowIds: string[] = [];
    for (const [n, step] of steps.entries()) {
      const at = `step ${n} (${step.kind})`;
      if (step.kind === 'clock') {
        now += step.ms;
        continue;
      }
      await redis.set(CLOCK_KEY, now);
      if (step.kind === 'admit') {
        const op: AdmitOp = {
          holdId: `call-${n}`,
          buckets,
          amounts: step.amounts,
          budgets,
          holdNano: step.holdNano,
          holdTtlMs: step.holdTtlMs,
          degrade: step.degrade,
          spares: step.spares,
          holdSpare: step.holdSpare,
        };
        const call = codec.admitCall(keys, op);
        const lua = codec.decodeAdmit(op, await redis.tgAdmit(call.numKeys, ...call.args)).verdict;
        assert.deepEqual(lua, ref.admit(op, now), at);
        seen[lua.bucket ? 'bucket' : !lua.admitted ? 'budget' : lua.budget ? 'degraded' : 'admitted'] += 1;
        if (lua.admitted) calls.push({ id: op.holdId, tokens: step.amounts[1] });
      } else {
        // Any call, settled once or again, or one never admitted (then nothing is held to release).
        const call = calls[step.call % (calls.length + 1)] ?? { id: 'never-admitted', tokens: 0 };
        const repeat = step.repeatRow && rowIds.length > 0;
        const r = step.hasRow ? row({ costNanoUsd: step.cost, ts: now }) : undefined;
        if (r !== undefined && repeat) r.id = rowIds[step.call % rowIds.length]!;
        if (r !== undefined) rowIds.push(r.id);
        const spend: SpendIncrement[] = budgets.map((g) => ({ key: g.spentKey, nanoUsd: step.cost, expiresAt: end }));
        const op: SettleOp = {
          row: r,
          spend: r === undefined ? [] : spend,
          holdId: call.id,
          holdKeys: budgets.map((g) => g.holdKey),
          adjust: [buckets[1]!],
          deltas: [call.tokens - step.actual],
        };
        const sc = codec.settleCall(keys, 400 * DAY, op);
        const lua = codec.decodeSettle(op, await redis.tgSettle(sc.numKeys, ...sc.args));
        assert.equal(lua.fresh, ref.settle(op, now), `${at}: fresh`);
        assert.equal(lua.now, now, `${at}: clock`);
        if (r !== undefined) seen[lua.fresh ? 'fresh' : 'repeated'] += 1;
        if (lua.held.some((h) => h !== undefined)) seen.released += 1;
      }
      await assertSameState(redis, keys, ref, buckets, budgets, now, at);
    }
  }

  it('gives the same verdicts, levels, holds and spend on random sequences', async (t) => {
    const seed = Number(process.env['DIFF_SEED'] ?? 0x7011_5eed);
    await fc.assert(
      fc.asyncProperty(rulesArb, fc.array(stepArb, { minLength: 5, maxLength: 60 }), (rules, steps) =>
        run(rules, steps),
      ),
      { numRuns: 200, seed },
    );
    t.diagnostic(JSON.stringify(seen));
    for (const [outcome, n] of Object.entries(seen)) assert.ok(n > 0, `no sequence had a ${outcome} step`);
  });
});
