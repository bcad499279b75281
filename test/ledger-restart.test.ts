/**
 * Ledger durability with the embedded sqlite store and the real CLI (contract sections 1, 6 and 7):
 * every admitted call is a ledger row written before the last byte reaches the worker, so a sidecar
 * killed with SIGKILL and started again on the same file reports exactly what it reported before,
 * and every answer a worker got whole is a row. `tollgate costs` reads the same ledger.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import type { CostReport } from '../src/metering/report.js';
import { SqliteStore } from '../src/state/sqlite/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'src', 'cli.ts');
const TSX = import.meta.resolve('tsx');
const ADMIN = 'ledger-admin-token-0123456789';

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });

/** Exactly the variables the brief names, plus what node needs to run; nothing from the caller's shell. */
const envFor = (db: string, port: number, extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  HOST: '127.0.0.1',
  PORT: String(port),
  ENV_FILE: '',
  STATE_URL: `sqlite:${db}`,
  SERVICE_MODE: 'mock',
  MOCK_PARSE_DELAY_MS: '0',
  LOG_LEVEL: 'warn',
  ADMIN_TOKEN: ADMIN,
  ...extra,
});

interface Sidecar {
  child: ChildProcess;
  base: string;
  port: number;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<ChildProcess>();

async function startSidecar(db: string, extra: Record<string, string> = {}): Promise<Sidecar> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', TSX, CLI, 'serve'], {
    cwd: ROOT,
    env: envFor(db, port, extra),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString('utf8');
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString('utf8');
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  let dead = false;
  void exited.then(() => {
    dead = true;
  });
  for (;;) {
    if (dead) throw new Error(`the sidecar exited before it was ready:\n${out}`);
    if (Date.now() > deadline) throw new Error(`the sidecar was not ready within 20 s:\n${out}`);
    try {
      const res = await fetch(`${base}/readyz`);
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, base, port, output: () => out, exited };
}

async function kill(s: Sidecar, signal: NodeJS.Signals = 'SIGKILL') {
  if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill(signal);
  return s.exited;
}

/** Runs `tollgate …` to the end. */
function cli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, CLI, ...args], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString('utf8');
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString('utf8');
    });
    child.once('error', reject);
    child.once('close', (code) => {
      running.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

async function costs(s: Sidecar, window = 'day'): Promise<CostReport> {
  const res = await fetch(`${s.base}/admin/costs?window=${window}`, { headers: { authorization: `Bearer ${ADMIN}` } });
  assert.equal(res.status, 200);
  return (await res.json()) as CostReport;
}

/** What must survive a restart: everything but the time-dependent forecasts. */
const durable = (r: CostReport) => {
  const { forecast_usd: _f, ...total } = r.total;
  return { window: r.window, from: r.from, to: r.to, total, by_served_by: r.by_served_by, groups: r.groups };
};

const nano = (usd: number) => Math.round(usd * 1e9);
const client = (s: Sidecar) =>
  new OpenAI({ baseURL: `${s.base}/openai/v1`, apiKey: 'sk-placeholder', maxRetries: 0, timeout: 10_000 });

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-ledger-'));
});
after(async () => {
  for (const child of running) child.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 100));
  rmSync(dir, { recursive: true, force: true });
});

describe('the ledger survives SIGKILL (sqlite), and `tollgate costs` reads it', () => {
  let db: string;
  let sidecar: Sidecar;
  let reportBefore: CostReport;
  /** Sum of x-tollgate-cost-usd over every answer, in nano-USD. */
  let headerNanos = 0;
  const calls = { chat: 0, embeddings: 0 };

  after(async () => {
    if (sidecar) await kill(sidecar);
  });

  it('(a) totals are identical after a SIGKILL and a restart on the same file', async () => {
    db = join(dir, 'a.db');
    sidecar = await startSidecar(db);
    const openai = client(sidecar);
    const prompts = ['Hello there', 'Write a haiku about tolls', 'Count to ten', 'What is a sidecar?'];
    for (const [i, content] of prompts.entries()) {
      const { data, response } = await openai.chat.completions
        .create({
          model: i % 2 === 0 ? 'gpt-4o-mini' : 'gpt-4o',
          messages: [{ role: 'user', content }],
          ...(i === 2 ? { max_tokens: 5 } : {}),
        })
        .withResponse();
      assert.equal(response.headers.get('x-tollgate-served-by'), 'mock');
      assert.ok((data.usage?.total_tokens ?? 0) > 0);
      const cost = response.headers.get('x-tollgate-cost-usd');
      assert.ok(cost !== null, 'a non-streaming metered answer carries x-tollgate-cost-usd');
      headerNanos += nano(Number(cost));
      calls.chat += 1;
    }
    for (const input of ['one document chunk', ['two', 'chunks at once']]) {
      const { data, response } = await openai.embeddings
        .create({ model: 'text-embedding-3-small', input })
        .withResponse();
      assert.equal(data.data.length, Array.isArray(input) ? 2 : 1);
      const cost = response.headers.get('x-tollgate-cost-usd');
      assert.ok(cost !== null);
      headerNanos += nano(Number(cost));
      calls.embeddings += 1;
    }

    const unauthorized = await fetch(`${sidecar.base}/admin/costs?window=day`);
    await unauthorized.arrayBuffer();
    assert.ok(
      unauthorized.status === 401 || unauthorized.status === 403,
      `admin without token: ${unauthorized.status}`,
    );

    reportBefore = await costs(sidecar);
    assert.equal(reportBefore.total.requests, calls.chat + calls.embeddings);
    assert.ok(reportBefore.total.cost_usd > 0, 'mock shadow cost is in the total');
    assert.equal(reportBefore.by_served_by.mock.requests, reportBefore.total.requests);
    assert.equal(reportBefore.by_served_by.real.requests, 0);
    assert.ok(reportBefore.total.input_tokens > 0 && reportBefore.total.output_tokens > 0);
    assert.deepEqual(reportBefore.groups.map((g) => g.model).sort(), [
      'gpt-4o',
      'gpt-4o-mini',
      'text-embedding-3-small',
    ]);

    const { signal } = await kill(sidecar, 'SIGKILL');
    assert.equal(signal, 'SIGKILL');
    sidecar = await startSidecar(db);
    const afterRestart = await costs(sidecar);
    assert.deepEqual(durable(afterRestart), durable(reportBefore));
  });

  it('(d) x-tollgate-cost-usd over every non-streaming answer sums to the report total (mock shadow cost)', async () => {
    assert.ok(sidecar, 'needs (a)');
    const report = await costs(sidecar);
    assert.ok(headerNanos > 0);
    assert.equal(headerNanos, nano(report.total.cost_usd));
    assert.equal(nano(report.by_served_by.mock.cost_usd), headerNanos);
    const groupNanos = report.groups.reduce((s, g) => s + nano(g.cost_usd), 0);
    assert.equal(groupNanos, headerNanos);
  });

  it('(c) `tollgate costs --json` prints what /admin/costs answers; the table names models and the total', async () => {
    assert.ok(sidecar, 'needs (a)');
    const env = envFor(db, sidecar.port);
    // Read while the sidecar runs: both use the same file.
    const json = await cli(['costs', '--json', '--window', 'day'], env);
    assert.equal(json.code, 0, json.stderr);
    const fromCli = JSON.parse(json.stdout) as CostReport;
    const fromAdmin = await costs(sidecar);
    assert.deepEqual(durable(fromCli), durable(fromAdmin));
    assert.deepEqual(fromCli.budgets, fromAdmin.budgets);

    const defaults = await cli(['costs', '--json'], env);
    assert.equal(defaults.code, 0, defaults.stderr);
    assert.equal((JSON.parse(defaults.stdout) as CostReport).window, 'day', 'the default window is day');

    const table = await cli(['costs'], env);
    assert.equal(table.code, 0, table.stderr);
    for (const model of ['gpt-4o-mini', 'gpt-4o', 'text-embedding-3-small', 'openai']) {
      assert.ok(table.stdout.includes(model), `${model} missing from\n${table.stdout}`);
    }
    const total = fromAdmin.total.cost_usd;
    const money = `$${total.toFixed(total !== 0 && Math.abs(total) < 0.01 ? 6 : 4)}`;
    const totalLine = table.stdout.split('\n').find((l) => l.startsWith('total'));
    assert.ok(totalLine, table.stdout);
    assert.ok(totalLine.includes(money), `${money} not in ${JSON.stringify(totalLine)}`);
    assert.ok(totalLine.includes(` ${fromAdmin.total.requests} `), totalLine);

    const bad = await cli(['costs', '--window', 'year'], env);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--window/);
    assert.equal(bad.stdout, '');
  });

  it('(b) under load, every call answered whole before a SIGKILL is a ledger row', async (t) => {
    const loadDb = join(dir, 'b.db');
    let s = await startSidecar(loadDb, { MOCK_LATENCY_MS: '1-8' });
    const openai = client(s);
    const TOTAL = 200;
    const CONCURRENCY = 16;
    const KILL_AFTER = 100;
    const completed: string[] = [];
    const failed: string[] = [];
    let next = 0;
    let killed: Promise<unknown> | undefined;
    const worker = async () => {
      while (next < TOTAL) {
        const id = `load-${String(next).padStart(3, '0')}`;
        next += 1;
        try {
          const { data, response } = await openai.chat.completions
            .create(
              { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `call ${id}` }], max_tokens: 16 },
              { headers: { 'x-correlation-id': id } },
            )
            .withResponse();
          if (response.status === 200 && data.choices.length > 0 && typeof data.usage?.total_tokens === 'number') {
            assert.equal(response.headers.get('x-correlation-id'), id, 'the worker’s correlation id comes back');
            completed.push(id);
            if (completed.length === KILL_AFTER) killed = kill(s, 'SIGKILL');
          } else {
            failed.push(id);
          }
        } catch {
          failed.push(id);
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    await killed;
    assert.ok(completed.length >= KILL_AFTER, `only ${completed.length} completed`);
    assert.ok(failed.length > 0, 'the kill must land mid-run (some calls cut off)');
    assert.equal(completed.length + failed.length, TOTAL);
    assert.equal(new Set(completed).size, completed.length);

    // Restart on the same file: it opens after the kill, and reports at least every whole answer.
    s = await startSidecar(loadDb);
    const report = await costs(s);
    assert.ok(report.total.requests >= completed.length, `${report.total.requests} rows < ${completed.length}`);
    const { code, signal } = await kill(s, 'SIGTERM');
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, 'SIGTERM drains and exits 0');

    const store = new SqliteStore(loadDb, { readonly: true });
    await store.open();
    try {
      const rows = await store.rows({ from: 0, to: Number.MAX_SAFE_INTEGER });
      const ids = new Set(rows.map((r) => r.correlationId));
      const missing = completed.filter((id) => !ids.has(id));
      assert.deepEqual(missing, [], `${missing.length} whole answers have no ledger row`);
      assert.equal(ids.size, rows.length, 'one row per call');
      assert.ok(
        rows.every((r) => /^load-\d{3}$/.test(r.correlationId) && r.servedBy === 'mock' && r.model === 'gpt-4o-mini'),
      );
      assert.ok(rows.length <= TOTAL);
      assert.equal(rows.length, report.total.requests);
      t.diagnostic(`${completed.length} whole answers, ${failed.length} cut off, ${rows.length} ledger rows`);
    } finally {
      await store.close();
    }
  });
});
