/**
 * A slow moment is not an outage: three sidecar processes (`dist/cli.js serve`) sharing one private
 * Redis keep a shared budget exact while one of them is stopped (SIGSTOP) mid-burst, and while
 * Redis itself is paused (CLIENT PAUSE) for less than STATE_TIMEOUT_MS; none switches to its local
 * fallback. A Redis that answers nothing within STATE_TIMEOUT_MS gets a 503 state_unavailable.
 * (Redis killed and restarted: fleet.test.ts.)
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { type ChildTollgate, startChildTollgate, waitReady } from './support/child.js';
import { fleetMember } from './support/fleet.js';
import { freePort, startRedis, stopRedis } from './support/redis.js';
import { type Standin, startStandin } from './support/standin.js';
import { chatWorstCaseUsd, startTestTollgate } from './support/tollgate.js';

if (spawnSync('redis-server', ['--version']).error) throw new Error('redis-server is required for the fleet tests');
if (!existsSync('dist/cli.js')) throw new Error('dist/cli.js is missing: run `npm run build` first');

const KEY = 'sk-test-fleet-outage-0123456789';
const messages = [{ role: 'user' as const, content: 'fleet outage call' }];
const MAX = 6;
/** The shared budget fits exactly N worst cases. */
const N = 12;
const BURST = 60;
const FALLBACK_LOG = 'local fallback';
const tmp = mkdtempSync(join(tmpdir(), 'tollgate-fleet-outage-'));

type Sidecar = ChildTollgate;

/** A fleet member: the built sidecar as its own process (SIGSTOP needs one), once /readyz says 200. */
async function startSidecar(vars: Record<string, string>): Promise<Sidecar> {
  const child = await startChildTollgate(vars, { entry: 'built' });
  await waitReady(child, 60_000);
  return child;
}

const chat = (base: string, stream: boolean) =>
  fetch(`${base}/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages, max_tokens: MAX, stream }),
  }).then(async (r) => ({ status: r.status, text: await r.text(), retryAfter: r.headers.get('retry-after') }));

describe('a fleet of three sidecar processes through slow moments', () => {
  let standin: Standin;
  let redis: ChildProcess | undefined;
  let admin: Redis;
  let url = '';
  const fleet: Sidecar[] = [];
  const worst = chatWorstCaseUsd(messages, MAX);
  const budget = String(N * worst + worst / 2);

  /**
   * `BURST` streamed calls spread over the fleet, plus four loops of calls to sidecar 0 so it has
   * Redis calls in flight at any moment; `during` runs once the first half of the burst is on its way.
   */
  const burst = async (during: () => Promise<void>) => {
    let done = false;
    const steady = Array.from({ length: 4 }, async () => {
      const out: Awaited<ReturnType<typeof chat>>[] = [];
      while (!done) out.push(await chat(fleet[0]!.url, false));
      return out;
    });
    const first = Array.from({ length: BURST / 2 }, (_, i) => chat(fleet[i % 3]!.url, true));
    await sleep(30);
    const pausing = during();
    const second = Array.from({ length: BURST / 2 }, (_, i) => chat(fleet[i % 3]!.url, true));
    const results = await Promise.all([...first, ...second]);
    await pausing;
    done = true;
    return [...results, ...(await Promise.all(steady)).flat()];
  };

  const assertExact = (results: { status: number }[], what: string) => {
    const statuses = results.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 200).length, N, `${what}: admitted exactly what the budget fits`);
    assert.equal(statuses.filter((s) => s === 429).length, results.length - N, `${what}: every other call refused`);
    assert.equal(standin.hits('/v1/chat/completions'), N, `${what}: the provider saw exactly N calls`);
    for (const [i, s] of fleet.entries()) {
      assert.ok(!s.output().includes(FALLBACK_LOG), `${what}: sidecar ${i} never switched to its local fallback`);
    }
  };

  before(async () => {
    standin = await startStandin({ expectOpenAIKey: KEY, chunkGapMs: 40, streamChunks: MAX, quiet: true });
    const port = await freePort();
    redis = await startRedis(port, undefined, ['--enable-debug-command', 'yes', '--dir', tmp]);
    url = `redis://127.0.0.1:${port}/0`;
    admin = new Redis(port);
    for (let i = 0; i < 3; i++) {
      fleet.push(
        await startSidecar({
          ...fleetMember(KEY, standin.openaiBase, url, join(tmp, `spool-${i}`)),
          OPENAI_BUDGET_HOURLY_USD: budget,
        }),
      );
    }
    // Warm each sidecar's hot path once; the budget starts afresh in beforeEach.
    for (const s of fleet) assert.equal((await chat(s.url, false)).status, 200);
  });

  beforeEach(async () => {
    await admin.flushall();
    standin.reset();
  });

  after(async () => {
    for (const s of fleet) await s.stop();
    admin?.disconnect();
    await stopRedis(redis);
    await standin.close();
  });

  it('keeps the shared budget exact while one sidecar is stopped for 1.5 s mid-burst', async (t) => {
    const stopped = fleet[0]!;
    let stoppedFor = 0;
    const results = await burst(async () => {
      stopped.signal('SIGSTOP');
      const at = performance.now();
      await sleep(1500);
      stopped.signal('SIGCONT');
      stoppedFor = performance.now() - at;
    });
    assertExact(results, 'SIGSTOP');
    t.diagnostic(
      `sidecar 0 stopped ${Math.round(stoppedFor)} ms; ${results.length} calls: ` +
        `${results.filter((r) => r.status === 200).length} admitted (budget fits ${N}), ` +
        `${standin.hits('/v1/chat/completions')} reached the provider, no fallback switch`,
    );
  });

  it('keeps the shared budget exact through a CLIENT PAUSE shorter than STATE_TIMEOUT_MS', async (t) => {
    const results = await burst(async () => {
      await admin.client('PAUSE', 1500, 'ALL');
    });
    assertExact(results, 'CLIENT PAUSE');
    t.diagnostic(
      `CLIENT PAUSE 1500 ALL; ${results.length} calls: ${results.filter((r) => r.status === 200).length} admitted ` +
        `(budget fits ${N}), ${standin.hits('/v1/chat/completions')} reached the provider, no fallback switch`,
    );
  });

  it('answers 503 state_unavailable when Redis answers nothing within STATE_TIMEOUT_MS, without falling back', async () => {
    const tg = await startTestTollgate({
      ...fleetMember(KEY, standin.openaiBase, url, join(tmp, 'spool-inproc')),
      STATE_TIMEOUT_MS: '300',
      OPENAI_BUDGET_HOURLY_USD: budget,
    });
    try {
      const sleeping = admin.debug('SLEEP', '1');
      await sleep(50);
      const r = await chat(tg.url, false);
      await sleeping;
      assert.equal(r.status, 503);
      assert.equal((JSON.parse(r.text) as { error: { code: string } }).error.code, 'state_unavailable');
      assert.equal(r.retryAfter, '1');
      assert.equal(standin.hits('/v1/chat/completions'), 0, 'nothing ran unmetered');
      assert.ok(!tg.logText().includes(FALLBACK_LOG), 'no fallback switch');
      assert.equal((await chat(tg.url, false)).status, 200, 'served again once Redis answers');
    } finally {
      await tg.close();
    }
  });
});
