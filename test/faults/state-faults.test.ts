/**
 * The embedded state store fails under the sidecar: a read-only file (the SqliteStore `readonly`
 * option, since root ignores chmod) and a full disk (`maxSizeBytes`, SQLite's max_page_count).
 * Metered calls get a clear 503 state_unavailable in the provider's shape (never a crash, a hang
 * or an answer the ledger lacks), /health shows `state:store` failing, /readyz says not ready, and
 * every route that needs no store keeps serving.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CallRecord } from '../../src/proxy/call.js';
import { SqliteStore } from '../../src/state/sqlite/index.js';
import { startTollgate, type Tollgate } from '../../src/wire.js';
import { memoryLog } from '../support/tollgate.js';
import { send } from './support.js';

const ADMIN = 'admin-token-state-faults-0123456789';
const CHAT = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] });
const STREAM = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }], stream: true });
const EMBED = JSON.stringify({ model: 'text-embedding-3-small', input: 'state' });
/** A failing store answers at once: nothing waits on a lock here. */
const BOUND_MS = 1500;

interface Health {
  status: string;
  checks: Record<string, { status: string; output?: string }[]>;
}

async function startWith(store: SqliteStore, path: string, vars: Record<string, string> = {}) {
  const calls: CallRecord[] = [];
  const log = memoryLog();
  const tg = await startTollgate({
    env: {
      HOST: '127.0.0.1',
      PORT: '0',
      ENV_FILE: '',
      STATE_URL: `sqlite:${path}`,
      SERVICE_MODE: 'mock',
      ADMIN_TOKEN: ADMIN,
      LOG_LEVEL: 'warn',
      ...vars,
    },
    watch: false,
    store,
    logDestination: log.stream,
    onCall: (c) => calls.push(c),
  });
  return { tg, calls, log };
}

/** A migrated sqlite file, closed again. */
async function prepared(dir: string, name: string): Promise<string> {
  const path = join(dir, name);
  const s = new SqliteStore(path);
  await s.open();
  await s.close();
  return path;
}

const errorCode = (body: Buffer) => (JSON.parse(body.toString('utf8')) as { error?: { code?: string } }).error?.code;

async function assertUnhealthy(tg: Tollgate, problem: RegExp) {
  const h = await send(`${tg.url}/health`);
  assert.equal(h.status, 503, '/health answers 503 while the store fails');
  const health = JSON.parse(h.body.toString('utf8')) as Health;
  assert.equal(health.status, 'fail');
  const check = health.checks['state:store']?.[0];
  assert.equal(check?.status, 'fail');
  assert.match(String(check?.output), problem);
  const r = await send(`${tg.url}/readyz`);
  assert.equal(r.status, 503, 'an unusable embedded store is not ready');
}

async function assertStillServing(tg: Tollgate) {
  for (const path of ['/livez', '/metrics', '/openai/v1/models']) {
    const a = await send(`${tg.url}${path}`);
    assert.equal(a.status, 200, `${path} still serves`);
  }
  const mode = await send(`${tg.url}/admin/mode`, { headers: { authorization: `Bearer ${ADMIN}` } });
  assert.equal(mode.status, 200);
  const job = await send(`${tg.url}/llamaparse/api/v1/parsing/job/no-such-job`);
  assert.ok(job.status < 500, `an unknown LlamaParse job is still a 4xx (${job.status})`);
}

describe('state store faults', () => {
  let dir: string;
  const running: Tollgate[] = [];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-state-faults-'));
  });
  after(async () => {
    for (const tg of running) await tg.shutdown('test');
    rmSync(dir, { recursive: true, force: true });
  });

  describe('a read-only state file', () => {
    let tg: Tollgate;
    let calls: CallRecord[];

    before(async () => {
      const path = await prepared(dir, 'readonly.db');
      const store = new SqliteStore(path, { readonly: true });
      ({ tg, calls } = await startWith(store, path));
      running.push(tg);
    });

    it('reports state:store failing on /health and 503 on /readyz from the start', async () => {
      await assertUnhealthy(tg, /read-only/);
    });

    for (const [name, route, body] of [
      ['a JSON chat call', '/openai/v1/chat/completions', CHAT],
      ['an embeddings call', '/openai/v1/embeddings', EMBED],
    ] as const) {
      it(`withholds ${name} with 503 state_unavailable in the OpenAI shape, at once`, async () => {
        const before = calls.length;
        const a = await send(`${tg.url}${route}`, { body, boundMs: 5000 });
        assert.equal(a.hung, false);
        assert.equal(a.status, 503);
        assert.equal(errorCode(a.body), 'state_unavailable');
        assert.ok(a.ms < BOUND_MS, `answered in ${a.ms.toFixed(0)} ms`);
        assert.equal(a.headers['x-tollgate-cost-usd'], undefined, 'no cost for an answer that was withheld');
        assert.equal(calls.length, before + 1);
        assert.equal(calls.at(-1)!.errorType, 'state_unavailable');
      });
    }

    it('never ends a stream the ledger could not book: the worker sees it cut, without [DONE]', {}, async () => {
      const a = await send(`${tg.url}/openai/v1/chat/completions`, { body: STREAM, boundMs: 5000 });
      assert.equal(a.hung, false);
      assert.ok(a.ms < BOUND_MS, `ended in ${a.ms.toFixed(0)} ms`);
      if (a.status === 200) {
        assert.equal(a.complete, false, 'a stream whose ledger row failed must not end cleanly');
        assert.ok(!a.body.toString('utf8').includes('[DONE]'));
      } else {
        assert.equal(a.status, 503);
        assert.equal(errorCode(a.body), 'state_unavailable');
      }
    });

    it('keeps serving every route that needs no store', async () => {
      await assertStillServing(tg);
    });
  });

  describe('a read-only state file with rate limits configured', () => {
    let tg: Tollgate;

    before(async () => {
      const path = await prepared(dir, 'readonly-limits.db');
      const store = new SqliteStore(path, { readonly: true });
      ({ tg } = await startWith(store, path, { OPENAI_REQUESTS_PER_HOUR: '1000', OPENAI_TOKENS_PER_HOUR: '1000000' }));
      running.push(tg);
    });

    it('refuses admission with 503 state_unavailable rather than run an unmetered call', async () => {
      for (const body of [CHAT, STREAM]) {
        const a = await send(`${tg.url}/openai/v1/chat/completions`, { body, boundMs: 5000 });
        assert.equal(a.status, 503, a.body.toString('utf8'));
        assert.equal(errorCode(a.body), 'state_unavailable');
        assert.ok(a.ms < BOUND_MS);
      }
      await assertUnhealthy(tg, /read-only/);
      await assertStillServing(tg);
      const limits = await send(`${tg.url}/admin/limits`, { headers: { authorization: `Bearer ${ADMIN}` } });
      assert.ok(limits.status < 500, `/admin/limits reads a read-only store (${limits.status})`);
    });
  });

  describe('a full disk', () => {
    let tg: Tollgate;
    let calls: CallRecord[];
    let store: SqliteStore;

    before(async () => {
      const path = await prepared(dir, 'full.db');
      // The file may not grow past what the schema takes: the first pages of ledger rows fill it.
      store = new SqliteStore(path, { maxSizeBytes: statSync(path).size });
      ({ tg, calls } = await startWith(store, path));
      running.push(tg);
    });

    it('answers 503 state_unavailable once the ledger cannot grow, never a crash or a hang', async (t) => {
      let served = 0;
      let refused: Awaited<ReturnType<typeof send>> | undefined;
      for (let i = 0; i < 300 && refused === undefined; i++) {
        const a = await send(`${tg.url}/openai/v1/chat/completions`, { body: CHAT, boundMs: 5000 });
        assert.equal(a.hung, false);
        assert.ok(a.ms < BOUND_MS, `call ${i} took ${a.ms.toFixed(0)} ms`);
        if (a.status === 200) served += 1;
        else refused = a;
      }
      t.diagnostic(`${served} calls booked before the disk was full`);
      assert.ok(refused, 'the disk filled within 300 calls');
      assert.equal(refused.status, 503);
      assert.equal(errorCode(refused.body), 'state_unavailable');
      assert.equal(calls.at(-1)!.errorType, 'state_unavailable');
      // Every answer the worker got whole is in the ledger.
      const rows = await store.rows({ from: 0, to: Date.now() + 60_000 });
      assert.equal(rows.length, served);
    });

    it('shows the full disk on /health and /readyz, and keeps refusing rather than dropping rows', async () => {
      await assertUnhealthy(tg, /disk full/);
      const a = await send(`${tg.url}/openai/v1/embeddings`, { body: EMBED });
      assert.equal(a.status, 503);
      assert.equal(errorCode(a.body), 'state_unavailable');
      await assertStillServing(tg);
    });
  });

  it('refuses to start on a state file that cannot be opened, with a clear error and no hang', async () => {
    const store = new SqliteStore(join(dir, 'missing', 'nothing.db'), { readonly: true });
    const started = performance.now();
    await assert.rejects(
      startWith(store, join(dir, 'missing', 'nothing.db')).then(({ tg }) => {
        running.push(tg);
      }),
      (e: Error) => {
        // better-sqlite3 throws a TypeError here (not an SqliteError), which open() passes on unwrapped.
        assert.ok(e instanceof Error);
        assert.match(e.message, /open/i);
        return true;
      },
    );
    assert.ok(performance.now() - started < 3000);
    assert.match(store.health().output, /open failed.*nothing\.db/);
  });
});
