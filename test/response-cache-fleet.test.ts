/**
 * The response cache shared by a fleet: three sidecars on one private Redis; an answer one of them
 * cached is a hit on the others, and under FORWARD_CLIENT_AUTH a worker's key never gets another's entry.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { fleetMember } from './support/fleet.js';
import { freePort, startRedis, stopRedis } from './support/redis.js';
import { type Standin, startStandin } from './support/standin.js';
import { startTestTollgate, type TestTollgate } from './support/tollgate.js';

const KEY = 'sk-test-cache-fleet-0123456789';
const tmp = mkdtempSync(join(tmpdir(), 'tollgate-cache-fleet-'));

describe('the response cache across a fleet on one Redis', () => {
  let standin: Standin;
  let redis: ChildProcess | undefined;
  let url = '';
  const fleet: TestTollgate[] = [];

  before(async () => {
    const port = await freePort();
    redis = await startRedis(port);
    url = `redis://127.0.0.1:${port}/0`;
    standin = await startStandin({ quiet: true });
    for (let i = 0; i < 3; i++) {
      fleet.push(
        await startTestTollgate({
          ...fleetMember(KEY, standin.openaiBase, url, join(tmp, `spool-${i}`)),
          RESPONSE_CACHE_TTL_S: '300',
        }),
      );
    }
  });
  after(async () => {
    for (const tg of fleet) await tg.close();
    await standin?.close();
    await stopRedis(redis);
    rmSync(tmp, { recursive: true, force: true });
  });

  it('serves an answer cached by one sidecar from the cache of the other two', async () => {
    const body = {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user' as const, content: 'shared answer' }],
      temperature: 0,
    };
    const seen: { cache: string | null; by: string | null; text: string }[] = [];
    for (const tg of fleet) {
      const client = new OpenAI({ baseURL: `${tg.url}/openai/v1`, apiKey: 'sk-worker', maxRetries: 0 });
      const r = await client.chat.completions.create(body).asResponse();
      seen.push({
        cache: r.headers.get('x-tollgate-cache'),
        by: r.headers.get('x-tollgate-served-by'),
        text: await r.text(),
      });
    }
    assert.deepEqual(
      seen.map((s) => [s.cache, s.by]),
      [
        ['miss', 'real'],
        ['hit', 'cache'],
        ['hit', 'cache'],
      ],
    );
    assert.equal(seen[1]?.text, seen[0]?.text);
    assert.equal(seen[2]?.text, seen[0]?.text);
    assert.equal(standin.hits('/v1/chat/completions'), 1);
    // The shared ledger has the one real call and two hits that saved what it cost.
    const rows = await fleet[0]!.store.rows({ from: 0, to: Date.now() + 1000 });
    const real = rows.filter((r) => r.servedBy === 'real');
    const hits = rows.filter((r) => r.servedBy === 'cache');
    assert.equal(real.length, 1);
    assert.equal(hits.length, 2);
    assert.ok(hits.every((h) => h.costNanoUsd === real[0]?.costNanoUsd));
  });

  it('keeps the cache bounded in Redis and never writes a key there', async () => {
    const admin = new Redis(url);
    try {
      const keys = await admin.keys('tollgate:cache:*');
      assert.ok(keys.includes('tollgate:cache:index'));
      for (const k of keys.filter((k) => k !== 'tollgate:cache:index')) {
        const v = (await admin.get(k)) ?? '';
        assert.ok(!v.includes(KEY) && !/authorization/i.test(v), `${k} holds a secret`);
      }
    } finally {
      admin.disconnect();
    }
  });

  it('never shares an entry between two worker keys when their own keys go upstream', async () => {
    const tg = await startTestTollgate({
      OPENAI_MODE: 'real',
      OPENAI_UPSTREAM_URL: standin.openaiBase,
      FORWARD_CLIENT_AUTH: 'true',
      STATE_URL: url,
      STATE_SPOOL_DIR: join(tmp, 'spool-fwd'),
      RESPONSE_CACHE_TTL_S: '300',
    });
    try {
      const body = { model: 'text-embedding-3-small', input: 'per-key chunk' };
      const as = (key: string) =>
        new OpenAI({ baseURL: `${tg.url}/openai/v1`, apiKey: key, maxRetries: 0 }).embeddings.create(body).asResponse();
      const order = ['sk-worker-a-0001', 'sk-worker-b-0002', 'sk-worker-a-0001'];
      const results: (string | null)[] = [];
      for (const key of order) {
        const r = await as(key);
        results.push(r.headers.get('x-tollgate-cache'));
        await r.text();
      }
      assert.deepEqual(results, ['miss', 'miss', 'hit']);
    } finally {
      await tg.close();
    }
  });
});
