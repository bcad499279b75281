/**
 * LlamaParse holds across a fleet and in every mode: two sidecars sharing a private Redis admit
 * one of many concurrent uploads on a budget that fits one; a job uploaded through one and read
 * through the other settles once; MOCK (with BUDGET_INCLUDE_MOCK) and HYBRID hold pages as REAL does.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { llamaBudget, PARSE_VARS, pdfOf, uploadForm } from './support/parse.js';
import { freePort, startRedis, stopRedis } from './support/redis.js';
import { type Standin, startStandin } from './support/standin.js';
import { startTestTollgate, type TestTollgate, until } from './support/tollgate.js';

const PAGE_USD = 0.00375;
const near = (a: number, b: number) => Math.abs(a - b) < 1e-9;
const upload = (url: string, form: FormData) =>
  fetch(`${url}/llamaparse/api/v1/parsing/upload`, { method: 'POST', body: form });

describe('LlamaParse holds on a two-sidecar Redis fleet', () => {
  let standin: Standin;
  let redis: ChildProcess | undefined;
  const fleet: TestTollgate[] = [];

  before(async () => {
    standin = await startStandin({ expectLlamaKey: PARSE_VARS.LLAMA_CLOUD_API_KEY, quiet: true });
    const port = await freePort();
    redis = await startRedis(port);
    for (let i = 0; i < 2; i++) {
      fleet.push(
        await startTestTollgate({
          ...PARSE_VARS,
          LLAMAPARSE_UPSTREAM_URL: standin.llamaparseBase,
          STATE_URL: `redis://127.0.0.1:${port}/0`,
        }),
      );
    }
  });
  after(async () => {
    for (const tg of fleet) await tg.close();
    await stopRedis(redis);
    await standin.close();
  });

  it('admits exactly one of eight concurrent 3-page uploads spread over both sidecars', async () => {
    const pdf = await pdfOf(3);
    const statuses = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => (await upload(fleet[i % 2]!.url, uploadForm(pdf))).status),
    );
    assert.equal(statuses.filter((s) => s === 200).length, 1, `statuses ${statuses}`);
    assert.equal(statuses.filter((s) => s === 429).length, 7);
    assert.equal(standin.hits('/api/v1/parsing/upload'), 1);
    const budget = await llamaBudget(fleet[1]!.url);
    assert.ok(near(budget.held_usd, 3 * PAGE_USD), `held ${budget.held_usd}`);
  });

  it('settles a job uploaded through one sidecar and read through the other once', async () => {
    const jobs = await (await fetch(`${standin.llamaparseBase}/api/v2/parse`, { headers: auth() })).json();
    const id = (jobs as { items: { id: string }[] }).items[0]!.id;
    for (const tg of fleet) {
      const read = await fetch(`${tg.url}/llamaparse/api/v1/parsing/job/${id}/result/json`);
      assert.equal(read.status, 200);
      await read.arrayBuffer();
    }
    const budget = await llamaBudget(fleet[0]!.url);
    assert.ok(near(budget.spent_usd, 3 * PAGE_USD), `spent ${budget.spent_usd}`);
    assert.equal(budget.held_usd, 0);
  });
});

const auth = () => ({ authorization: `Bearer ${PARSE_VARS.LLAMA_CLOUD_API_KEY}` });

describe('LlamaParse holds in MOCK (BUDGET_INCLUDE_MOCK=true) and HYBRID', () => {
  let standin: Standin;
  let tg: TestTollgate | undefined;
  before(async () => {
    standin = await startStandin({ expectLlamaKey: PARSE_VARS.LLAMA_CLOUD_API_KEY, quiet: true });
  });
  after(async () => {
    await tg?.close();
    await standin.close();
  });

  /** A sidecar on the $0.02 budget in `vars`' mode, upstream at the stand-in. */
  const start = async (vars: Record<string, string>) => {
    tg = await startTestTollgate({ ...PARSE_VARS, LLAMAPARSE_UPSTREAM_URL: standin.llamaparseBase, ...vars });
    return tg;
  };
  /** The LlamaParse budget, which must hold nothing, then the sidecar closed. */
  const spentThenClose = async (url: string) => {
    const budget = await llamaBudget(url);
    assert.equal(budget.held_usd, 0);
    await tg?.close();
    tg = undefined;
    return budget.spent_usd;
  };

  for (const mode of ['mock', 'hybrid'] as const) {
    it(`${mode}: refuses a 10-page PDF, admits 2 pages of it and settles them when read`, async () => {
      const { url } = await start({ LLAMAPARSE_MODE: mode, BUDGET_INCLUDE_MOCK: 'true' });
      standin.reset();
      const pdf = await pdfOf(10);
      assert.equal((await upload(url, uploadForm(pdf))).status, 429);
      assert.equal(standin.hits('/api/v1/parsing/upload'), 0);
      const res = await upload(url, uploadForm(pdf, { max_pages: '2' }));
      assert.equal(res.status, 200);
      const { id } = (await res.json()) as { id: string };
      const read = await fetch(`${url}/llamaparse/api/v1/parsing/job/${id}/result/json`);
      assert.equal(read.status, 200);
      assert.equal(Number(read.headers.get('x-tollgate-cost-usd')), 0.0075);
      assert.equal(await spentThenClose(url), 0.0075);
    });
  }

  it('mock: an unread mock job is settled by the sidecar from the mock, as LlamaCloud jobs are', async () => {
    const t = await start({ LLAMAPARSE_MODE: 'mock', BUDGET_INCLUDE_MOCK: 'true', LLAMAPARSE_SETTLE_AFTER_S: '1' });
    const res = await upload(t.url, uploadForm(await pdfOf(10), { max_pages: '2' }));
    const { id } = (await res.json()) as { id: string };
    await until(() => t.logs.some((l) => l.event === 'parse_job_settled' && l.job === id), 30_000);
    assert.equal(await spentThenClose(t.url), 0.0075);
  });

  it('hybrid: an upload the mock answered after the provider failed keeps no budget hold', async () => {
    const { url } = await start({ LLAMAPARSE_MODE: 'hybrid' });
    await standin.setFault({ kind: 'status', status: 503 }, { times: 1, paths: '/api/v1/parsing/upload' });
    const res = await upload(url, uploadForm(await pdfOf(2)));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-tollgate-fallback'), 'upstream_5xx');
    assert.equal(await spentThenClose(url), 0);
  });
});
