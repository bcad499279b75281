/**
 * A LlamaParse upload holds its pages before LlamaCloud sees a byte, and the job settles the hold
 * once (contract section 6): REAL mode against the loopback stand-in, which bills the pages of the
 * PDF it receives. $0.02 a day on cost_effective (3 credits a page, $0.00375 a page).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { llamaBudget, PARSE_VARS, pdfOf, uploadForm } from './support/parse.js';
import { type Standin, startStandin } from './support/standin.js';
import { startTestTollgate, type TestTollgate, until } from './support/tollgate.js';

const PAGE_USD = 0.00375;
const near = (a: number, b: number) => Math.abs(a - b) < 1e-9;
const LLX = PARSE_VARS.LLAMA_CLOUD_API_KEY;

describe('LlamaParse holds on a $0.02 daily budget (REAL mode)', () => {
  let standin: Standin;
  let tg: TestTollgate | undefined;
  const upload = (form: FormData) =>
    fetch(`${tg!.url}/llamaparse/api/v1/parsing/upload`, { method: 'POST', body: form });
  const resultJson = (id: string) => fetch(`${tg!.url}/llamaparse/api/v1/parsing/job/${id}/result/json`);
  const uploads = () => standin.hits('/api/v1/parsing/upload');
  const start = async (vars: Record<string, string> = {}) => {
    tg = await startTestTollgate({ ...PARSE_VARS, LLAMAPARSE_UPSTREAM_URL: standin.llamaparseBase, ...vars });
  };

  before(async () => {
    standin = await startStandin({ expectLlamaKey: LLX, quiet: true });
  });
  beforeEach(() => standin.reset());
  after(async () => {
    await tg?.close();
    await standin.close();
  });
  const stop = async () => {
    await tg?.close();
    tg = undefined;
  };

  it('refuses a 10-page PDF at upload (429 budget_exceeded) and sends LlamaCloud nothing', async () => {
    await start();
    const res = await upload(uploadForm(await pdfOf(10)));
    assert.equal(res.status, 429);
    assert.equal(((await res.json()) as { code: string }).code, 'budget_exceeded');
    assert.equal(uploads(), 0);
    await stop();
  });

  it('admits the same PDF with max_pages=2 and settles it to exactly $0.0075 when read', async () => {
    await start();
    const res = await upload(uploadForm(await pdfOf(10), { max_pages: '2' }));
    assert.equal(res.status, 200);
    const { id } = (await res.json()) as { id: string };
    assert.ok(near((await llamaBudget(tg!.url)).held_usd, 2 * PAGE_USD));
    const read = await resultJson(id);
    assert.equal(read.status, 200);
    assert.equal(Number(read.headers.get('x-tollgate-cost-usd')), 0.0075);
    const budget = await llamaBudget(tg!.url);
    assert.equal(budget.spent_usd, 0.0075);
    assert.equal(budget.held_usd, 0);
    await stop();
  });

  it('admits one of two 4-page PDFs uploaded and read one after the other', async () => {
    await start();
    const first = await upload(uploadForm(await pdfOf(4)));
    assert.equal(first.status, 200);
    await (await resultJson(((await first.json()) as { id: string }).id)).arrayBuffer();
    const second = await upload(uploadForm(await pdfOf(4)));
    assert.equal(second.status, 429);
    assert.equal(uploads(), 1);
    assert.ok(near((await llamaBudget(tg!.url)).spent_usd, 4 * PAGE_USD));
    await stop();
  });

  it('admits exactly one of eight concurrent 3-page uploads; one upload reaches LlamaCloud', async () => {
    await start();
    const pdf = await pdfOf(3);
    const statuses = await Promise.all(Array.from({ length: 8 }, async () => (await upload(uploadForm(pdf))).status));
    assert.deepEqual(
      statuses.filter((s) => s === 200),
      [200],
    );
    assert.equal(statuses.filter((s) => s === 429).length, 7);
    assert.equal(uploads(), 1);
    await stop();
  });

  it('two unread 2-page jobs refuse a third and show as held in /admin/costs', async () => {
    await start();
    const pdf = await pdfOf(2);
    assert.equal((await upload(uploadForm(pdf))).status, 200);
    assert.equal((await upload(uploadForm(pdf))).status, 200);
    assert.equal((await upload(uploadForm(pdf))).status, 429);
    const budget = await llamaBudget(tg!.url);
    assert.ok(near(budget.held_usd, 4 * PAGE_USD), `held ${budget.held_usd}`);
    assert.equal(budget.spent_usd, 0);
    assert.equal(uploads(), 2);
    await stop();
  });

  it('settles a job read twice once', async () => {
    await start();
    const res = await upload(uploadForm(await pdfOf(2)));
    const { id } = (await res.json()) as { id: string };
    assert.equal(Number((await resultJson(id)).headers.get('x-tollgate-cost-usd')), 0.0075);
    assert.equal(Number((await resultJson(id)).headers.get('x-tollgate-cost-usd')), 0);
    const budget = await llamaBudget(tg!.url);
    assert.equal(budget.spent_usd, 0.0075);
    assert.equal(budget.held_usd, 0);
    const rows = await tg!.store.rows({ from: 0, to: Date.now() + 1 });
    assert.equal(rows.filter((r) => r.id === `llamaparse:job:${id}`).length, 1);
    await stop();
  });

  it('settles an unread job itself after LLAMAPARSE_SETTLE_AFTER_S, from the job result metadata', async () => {
    await start({ LLAMAPARSE_SETTLE_AFTER_S: '1' });
    const res = await upload(uploadForm(await pdfOf(10), { max_pages: '3' }));
    assert.equal(res.status, 200);
    const { id } = (await res.json()) as { id: string };
    await until(() => tg!.logs.some((l) => l.event === 'parse_job_settled' && l.job === id), 30_000);
    const budget = await llamaBudget(tg!.url);
    assert.ok(near(budget.spent_usd, 3 * PAGE_USD), `spent ${budget.spent_usd}`);
    assert.equal(budget.held_usd, 0);
    const rows = await tg!.store.rows({ from: 0, to: Date.now() + 1 });
    const row = rows.find((r) => r.id === `llamaparse:job:${id}`)!;
    assert.equal(row.operation, 'parse.settled.sidecar');
    assert.equal(row.pages, 3);
    assert.ok(standin.requests.some((r) => r.url === `/api/v1/parsing/job/${id}/result/json`));
    assert.ok(!JSON.stringify(rows).includes(LLX));
    assert.ok(!tg!.logText().includes(LLX));
    await stop();
  });

  it('keeps the hold of a job LlamaCloud no longer knows (404) until it expires', async () => {
    await start({ LLAMAPARSE_SETTLE_AFTER_S: '1' });
    const res = await upload(uploadForm(await pdfOf(2)));
    const { id } = (await res.json()) as { id: string };
    await standin.setFault({ kind: 'status', status: 404 }, { paths: `/api/v1/parsing/job/${id}` });
    await until(
      () => tg!.logs.some((l) => l.event === 'parse_job_settled' && l.job === id && l.how === 'gone'),
      30_000,
    );
    const budget = await llamaBudget(tg!.url);
    assert.equal(budget.spent_usd, 0);
    assert.ok(near(budget.held_usd, 2 * PAGE_USD));
    await standin.setFault(null);
    await stop();
  });

  it('settles an unread v2 job itself from ?expand=job_metadata', async () => {
    await start({ LLAMAPARSE_SETTLE_AFTER_S: '1' });
    const form = uploadForm(await pdfOf(6));
    form.append(
      'configuration',
      JSON.stringify({ tier: 'cost_effective', version: 'latest', page_ranges: { target_pages: '2-4' } }),
    );
    const res = await fetch(`${tg!.url}/llamaparse/api/v2/parse/upload`, { method: 'POST', body: form });
    assert.equal(res.status, 200);
    const { id } = (await res.json()) as { id: string };
    assert.ok(near((await llamaBudget(tg!.url)).held_usd, 3 * PAGE_USD));
    await until(() => tg!.logs.some((l) => l.event === 'parse_job_settled' && l.job === id), 30_000);
    assert.ok(standin.requests.some((r) => r.url === `/api/v2/parse/${id}?expand=job_metadata`));
    const budget = await llamaBudget(tg!.url);
    assert.ok(near(budget.spent_usd, 3 * PAGE_USD), `spent ${budget.spent_usd}`);
    assert.equal(budget.held_usd, 0);
    await stop();
  });

  it('keeps a job hold across a restart (sqlite) and settles it when the restarted sidecar reads it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-holds-'));
    const state = { STATE_URL: `sqlite:${join(dir, 'state.db')}` };
    await start(state);
    const res = await upload(uploadForm(await pdfOf(2)));
    const { id } = (await res.json()) as { id: string };
    await stop();
    await start(state);
    assert.ok(near((await llamaBudget(tg!.url)).held_usd, 2 * PAGE_USD));
    assert.equal((await upload(uploadForm(await pdfOf(4)))).status, 429, 'the held job still counts');
    assert.equal(Number((await resultJson(id)).headers.get('x-tollgate-cost-usd')), 0.0075);
    const budget = await llamaBudget(tg!.url);
    assert.equal(budget.spent_usd, 0.0075);
    assert.equal(budget.held_usd, 0);
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });
});
