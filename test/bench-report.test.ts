/**
 * The benchmark's report arithmetic (bench/report.ts): medians over rounds of the RSS run and of the
 * Redis command counts, the RSS summary and the per-call store cost. No servers: rows are made up.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  formatFirstCallTable,
  formatRssTable,
  formatStoreCostTable,
  formatTable,
  type Measurement,
  medians,
  rssSummary,
  storeCosts,
  withRatios,
} from '../bench/report.js';

function rss(contender: string, samples: number[], growth: number): Measurement {
  return {
    contender,
    scenario: 'rss',
    rssMb: samples[samples.length - 1] as number,
    rssSamplesMb: samples,
    rssSampleRequests: [50_000, 100_000, 150_000],
    rssGrowthMb: growth,
    requests: 150_000,
    errors: 0,
  };
}

function chat(contender: string, p50Ms: number, extra: Partial<Measurement> = {}): Measurement {
  return { contender, scenario: 'chat', rps: 1000, p50Ms, p99Ms: p50Ms * 3, requests: 5000, errors: 0, ...extra };
}

describe('bench report', () => {
  it('takes the median of each RSS sample and of each round’s growth', () => {
    const rows = medians([
      [rss('tollgate-real', [120, 130, 131], 1)],
      [rss('tollgate-real', [110, 140, 150], 10)],
      [rss('tollgate-real', [100, 135, 137], 2)],
    ]);
    assert.equal(rows.length, 1);
    const [row] = rows as [Measurement];
    assert.deepEqual(row.rssSamplesMb, [110, 135, 137]);
    assert.deepEqual(row.rssSampleRequests, [50_000, 100_000, 150_000]);
    // The median of the growths, not the difference of the median samples (137 − 135).
    assert.equal(row.rssGrowthMb, 2);

    const [summary] = rssSummary(rows);
    assert.deepEqual(summary?.samples, [
      { afterRequests: 50_000, rssMb: 110 },
      { afterRequests: 100_000, rssMb: 135 },
      { afterRequests: 150_000, rssMb: 137 },
    ]);
    assert.equal(summary?.growthMb, 2);
    assert.ok(Math.abs((summary?.growthPct ?? 0) - (100 * 2) / 135) < 1e-9);
    const table = formatRssTable(rssSummary(rows));
    assert.match(table, /RSS MB @50k {2}RSS MB @100k {2}RSS MB @150k {2}growth MB \(100k→150k\)/);
    assert.match(table, /tollgate-real +150000 +110\.0 +135\.0 +137\.0 +2\.0 +1\.5 +0/);
  });

  it('keeps the RSS run out of the main table', () => {
    const rows = withRatios(medians([[chat('pipe', 0.4), rss('pipe', [60, 61, 61], 0)]]));
    const table = formatTable(rows);
    assert.match(table, /pipe +chat /);
    assert.doesNotMatch(table, / rss /);
  });

  it('reports store cost per call over the memory store, with Redis commands and reads per call', () => {
    const rows = medians([
      [
        chat('tollgate-real', 1.0),
        chat('tollgate-real-sqlite', 1.8),
        chat('tollgate-real-redis', 2.4, {
          redisCommandsPerCall: 60,
          redisScriptsPerCall: 5,
          redisReadsPerCall: 1.5,
          redisCommands: { evalsha: 5, time: 4 },
        }),
      ],
      [
        chat('tollgate-real', 1.2),
        chat('tollgate-real-sqlite', 2.2),
        chat('tollgate-real-redis', 2.8, {
          redisCommandsPerCall: 62,
          redisScriptsPerCall: 5.4,
          redisReadsPerCall: 1.9,
          redisCommands: { evalsha: 5.4, get: 1 },
        }),
      ],
    ]);
    const costs = storeCosts(rows);
    assert.deepEqual(
      costs.map((c) => c.contender),
      ['tollgate-real-sqlite', 'tollgate-real-redis'],
    );
    const [sqlite, redis] = costs as [(typeof costs)[0], (typeof costs)[0]];
    assert.ok(Math.abs((sqlite.costPerCallMs ?? 0) - 0.9) < 1e-9);
    assert.equal(sqlite.redisCommandsPerCall, undefined);
    assert.ok(Math.abs((redis.costPerCallMs ?? 0) - 1.5) < 1e-9);
    assert.equal(redis.redisCommandsPerCall, 61);
    assert.ok(Math.abs((redis.redisScriptsPerCall ?? 0) - 5.2) < 1e-9);
    // A command absent from a round counts as 0 there.
    assert.deepEqual(redis.redisCommands, { evalsha: 5.2, get: 0.5, time: 2 });
    assert.ok(Math.abs((redis.redisReadsPerCall ?? 0) - 1.7) < 1e-9);
    assert.match(formatStoreCostTable(costs), /tollgate-real-redis +2\.600 +1\.100 +1\.500 +61\.00 +5\.20 +1\.70/);
  });

  it('leaves the cost out when tollgate-real did not run', () => {
    const [cost] = storeCosts(medians([[chat('tollgate-real-sqlite', 2)]]));
    assert.equal(cost?.p50Ms, 2);
    assert.equal(cost?.costPerCallMs, undefined);
    assert.match(formatStoreCostTable([cost as NonNullable<typeof cost>]), /tollgate-real-sqlite +2\.000 +- +-/);
  });

  it('shows the first call after ready over the steady p50, median of the rounds, for contenders that measured it', () => {
    const rows = medians([
      [chat('pipe', 0.4), chat('tollgate-real', 1.0, { firstMs: 8, steadyP50Ms: 2 })],
      [chat('pipe', 0.4), chat('tollgate-real', 1.0, { firstMs: 400, steadyP50Ms: 1 })],
      [chat('pipe', 0.4), chat('tollgate-real', 1.0, { firstMs: 6, steadyP50Ms: 1.5 })],
    ]);
    const table = formatFirstCallTable(rows);
    assert.match(table, /contender +scenario +first ms +steady p50 ms +first ÷ p50/);
    assert.match(table, /tollgate-real +chat +8\.0 +1\.500 +5\.3/);
    assert.doesNotMatch(table, /pipe/);
  });
});
