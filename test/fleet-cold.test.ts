/**
 * Issue 14: a fleet cold-started against one fresh Redis and hit the moment each sidecar says it is
 * ready keeps its shared limits. Each sidecar is a child process of its own (nothing loaded yet, as
 * pods start), so a first call that loads a vocabulary would stall its event loop while its Redis
 * commands wait, and a sidecar that took that for an outage would admit from its local fallback.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { type ChildTollgate, startChildTollgate, waitReady } from './support/child.js';
import { freePort, startRedis, stopRedis } from './support/redis.js';
import { type Standin, startStandin } from './support/standin.js';
import { chatWorstCaseUsd } from './support/tollgate.js';

if (spawnSync('redis-server', ['--version']).error) throw new Error('redis-server is required for the fleet tests');

const KEY = 'sk-test-cold-fleet-0123456789';
const MAX = 50;
const messages = [{ role: 'user' as const, content: 'cold fleet call' }];
const tmp = mkdtempSync(join(tmpdir(), 'tollgate-cold-fleet-'));

interface Burst {
  /** performance.now() when the burst was sent. */
  sentAt: number;
  statuses: number[];
}

/** Sends `n` concurrent chats the moment the sidecar's /readyz turns 200. */
async function burstWhenReady(child: ChildTollgate, n: number, stream: boolean): Promise<Burst> {
  await waitReady(child, 60_000);
  const sentAt = performance.now();
  const body = JSON.stringify({ model: 'gpt-4o-mini', messages, max_tokens: MAX, stream });
  const statuses = await Promise.all(
    Array.from({ length: n }, async () => {
      const res = await fetch(`${child.url}/openai/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      await res.arrayBuffer();
      return res.status;
    }),
  );
  return { sentAt, statuses };
}

const fallbackSwitches = (fleet: ChildTollgate[]) =>
  fleet.flatMap((c) => c.logs().filter((l) => /redis unreachable/.test(String(l.msg))));

describe('a fleet of three sidecars cold-started against one fresh Redis', () => {
  const fleet: ChildTollgate[] = [];
  let redis: ChildProcess | undefined;
  let standin: Standin | undefined;
  after(async () => {
    await Promise.all(fleet.map((c) => c.stop()));
    await stopRedis(redis);
    await standin?.close();
  });

  const startFleet = async (vars: Record<string, string>) => {
    const port = await freePort();
    redis = await startRedis(port);
    const started = await Promise.all(
      [0, 1, 2].map((i) =>
        startChildTollgate({
          STATE_URL: `redis://127.0.0.1:${port}/0`,
          STATE_SPOOL_DIR: join(tmp, `spool-${port}-${i}`),
          ...vars,
        }),
      ),
    );
    fleet.push(...started);
    return started;
  };
  const stopFleet = async () => {
    await Promise.all(fleet.splice(0).map((c) => c.stop()));
    await stopRedis(redis);
  };

  it('admits the shared burst plus the refill of the elapsed time, and none switches to its fallback', async (t) => {
    const sidecars = await startFleet({
      SERVICE_MODE: 'mock',
      OPENAI_REQUESTS_PER_HOUR: '3600',
      OPENAI_REQUESTS_BURST: '30',
    });
    const bursts = await Promise.all(sidecars.map((c) => burstWhenReady(c, 110, false)));
    const end = performance.now();
    const statuses = bursts.flatMap((b) => b.statuses);
    const admitted = statuses.filter((s) => s === 200).length;
    const first = Math.min(...bursts.map((b) => b.sentAt));
    const last = Math.max(...bursts.map((b) => b.sentAt));
    // One token a second: what refilled before the last burst was sent is surely taken (each burst
    // alone asks for more than the bucket holds); what refilled until the last answer may be.
    const least = 30 + Math.floor((last - first) / 1000) - 1;
    const most = 30 + Math.ceil((end - first) / 1000) + 1;
    t.diagnostic(
      `${admitted} of ${statuses.length} admitted; bursts sent over ${(last - first).toFixed(0)} ms, ` +
        `answered within ${(end - first).toFixed(0)} ms: expected ${least}..${most}`,
    );
    assert.deepEqual(fallbackSwitches(sidecars), [], 'no sidecar switched to its local fallback');
    assert.equal(statuses.length, 330);
    assert.ok(admitted >= least && admitted <= most, `${admitted} admitted, expected ${least}..${most}`);
    assert.equal(admitted + statuses.filter((s) => s === 429).length, 330, 'every other call was refused');
    await stopFleet();
  });

  it('admits exactly the 12 calls a shared daily budget fits, and the provider sees exactly 12', async (t) => {
    standin = await startStandin({ expectOpenAIKey: KEY, chunkGapMs: 10, streamChunks: MAX, quiet: true });
    const w = chatWorstCaseUsd(messages, MAX);
    const sidecars = await startFleet({
      OPENAI_MODE: 'real',
      OPENAI_API_KEY: KEY,
      OPENAI_UPSTREAM_URL: standin.openaiBase,
      BUDGET_DAILY_USD: String(12 * w + w / 2),
    });
    const bursts = await Promise.all(sidecars.map((c) => burstWhenReady(c, 20, true)));
    const statuses = bursts.flatMap((b) => b.statuses);
    t.diagnostic(`admitted per sidecar: ${bursts.map((b) => b.statuses.filter((s) => s === 200).length).join(', ')}`);
    assert.deepEqual(fallbackSwitches(sidecars), [], 'no sidecar switched to its local fallback');
    assert.equal(statuses.filter((s) => s === 200).length, 12);
    assert.equal(statuses.filter((s) => s === 429).length, 48);
    assert.equal(standin.hits('/v1/chat/completions'), 12, 'the stand-in saw exactly 12 calls');
    await stopFleet();
  });
});
