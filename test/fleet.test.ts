/**
 * Three sidecars sharing one (private) Redis: budgets and buckets hold across the fleet, and a
 * Redis outage loses no booked call.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RedisStore } from '../src/state/redis/index.js';
import { fleetMember } from './support/fleet.js';
import { freePort, startRedis, stopRedis } from './support/redis.js';
import { type Standin, startStandin } from './support/standin.js';
import { chatWorstCaseUsd, startTestTollgate, type TestTollgate, until } from './support/tollgate.js';

if (spawnSync('redis-server', ['--version']).error) throw new Error('redis-server is required for the fleet tests');

const KEY = 'sk-test-fleet-key-0123456789';
const messages = [{ role: 'user' as const, content: 'fleet budget call' }];
const MAX = 6;
const tmp = mkdtempSync(join(tmpdir(), 'tollgate-fleet-'));
mkdirSync(join(tmp, 'redis'));

const chat = (tg: TestTollgate, stream: boolean, correlationId?: string) =>
  fetch(`${tg.url}/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(correlationId ? { 'x-correlation-id': correlationId } : {}) },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages, max_tokens: MAX, stream }),
  }).then(async (r) => ({ status: r.status, text: await r.text(), id: r.headers.get('x-correlation-id') }));

describe('a fleet of three sidecars sharing Redis', () => {
  let standin: Standin;
  let redis: ChildProcess | undefined;
  let port = 0;
  const fleet: TestTollgate[] = [];

  const startFleet = async (vars: Record<string, string>) => {
    for (let i = 0; i < 3; i++) {
      fleet.push(
        await startTestTollgate({
          ...fleetMember(
            KEY,
            standin.openaiBase,
            `redis://127.0.0.1:${port}/0`,
            join(tmp, `spool-${fleet.length}-${Date.now()}`),
          ),
          ...vars,
        }),
      );
    }
  };
  const stopFleet = async () => {
    while (fleet.length > 0) await fleet.pop()!.close();
  };

  before(async () => {
    standin = await startStandin({ expectOpenAIKey: KEY, chunkGapMs: 40, streamChunks: MAX, quiet: true });
    port = await freePort();
    redis = await startRedis(port, join(tmp, 'redis'));
  });
  after(async () => {
    await stopFleet();
    await stopRedis(redis);
    await standin.close();
  });

  it('admits exactly N calls fleet-wide when the budget fits N worst cases', async () => {
    const N = 6;
    const w = chatWorstCaseUsd(messages, MAX);
    // A fresh budget scope per run: a provider budget keyed in this private Redis.
    await startFleet({ OPENAI_BUDGET_HOURLY_USD: String(N * w + w / 2) });
    standin.reset();
    try {
      const results = await Promise.all(Array.from({ length: 5 * N }, (_, i) => chat(fleet[i % 3]!, true)));
      assert.equal(results.filter((r) => r.status === 200).length, N);
      assert.equal(results.filter((r) => r.status === 429).length, 4 * N);
      assert.equal(standin.hits('/v1/chat/completions'), N, 'the upstream saw exactly N calls');
      const snap = await fleet[0]!.limiter.snapshot();
      const hourly = snap.budgets.find((b) => b.scope === 'openai' && b.window === 'hourly')!;
      assert.ok(hourly.spentUsd > 0 && hourly.spentUsd <= hourly.limitUsd);
      assert.equal(hourly.heldUsd, 0);
    } finally {
      await stopFleet();
    }
  });

  it('admits exactly the shared burst of a request bucket', async () => {
    await startFleet({ OPENAI_REQUESTS_PER_HOUR: '36', OPENAI_REQUESTS_BURST: '7' });
    standin.reset();
    try {
      const results = await Promise.all(Array.from({ length: 30 }, (_, i) => chat(fleet[i % 3]!, false)));
      assert.equal(results.filter((r) => r.status === 200).length, 7);
      assert.equal(standin.hits('/v1/chat/completions'), 7);
    } finally {
      await stopFleet();
    }
  });

  it('keeps serving through a Redis outage and loses no booked call', async (t) => {
    await startFleet({});
    const completed: string[] = [];
    let n = 0;
    const load = async (until: () => boolean) => {
      while (!until()) {
        const id = `fleet-${n++}`;
        const r = await chat(fleet[n % 3]!, false, id);
        if (r.status === 200) completed.push(id);
      }
    };
    let stop = false;
    const workers = Promise.all(Array.from({ length: 6 }, () => load(() => stop)));
    try {
      await until(() => completed.length >= 40, 10_000);
      await stopRedis(redis);
      const during = completed.length;
      await until(() => completed.length >= during + 60, 15_000);
      assert.ok(
        fleet.every((tg) => tg.store.health().status === 'fail'),
        'health shows the store failing',
      );
      const health = (await (await fetch(`${fleet[0]!.url}/health`)).json()) as { status: string };
      assert.equal(health.status, 'warn', 'overall warn while the local fallback serves');
      assert.equal((await fetch(`${fleet[0]!.url}/readyz`)).status, 200, 'readiness does not flip for that alone');
      redis = await startRedis(port, join(tmp, 'redis'));
      const restarted = completed.length;
      await until(() => completed.length >= restarted + 40, 15_000);
    } finally {
      stop = true;
      await workers;
    }
    await until(() => fleet.every((tg) => tg.store.health().status === 'pass'), 10_000);
    const reader = new RedisStore(`redis://127.0.0.1:${port}/0`, { spoolDir: join(tmp, 'reader') });
    await reader.open();
    try {
      const rows = await reader.rows({ from: Date.now() - 3_600_000, to: Date.now() + 60_000, limit: 1_000_000 });
      const ids = rows.map((r) => r.correlationId).filter((id) => id.startsWith('fleet-'));
      const unique = new Set(ids);
      assert.equal(unique.size, ids.length, 'no call booked twice');
      const missing = completed.filter((id) => !unique.has(id));
      assert.deepEqual(missing, [], 'every completed call is in the fleet ledger');
      t.diagnostic(`${completed.length} calls completed across the outage; all ${completed.length} booked once`);
    } finally {
      await reader.close();
    }
  });
});
