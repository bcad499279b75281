/**
 * The mock answers every `expand` value `@llamaindex/llama-cloud` (2.16.0) documents for
 * `GET /api/v2/parse/{id}`, and the sidecar books a v2 job from the credits `usage` reports.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pdfOf } from './support/parse.js';
import { startTestTollgate, type TestTollgate } from './support/tollgate.js';

const EXPANDS = [
  'text',
  'markdown',
  'items',
  'metadata',
  'forms',
  'job_metadata',
  'usage',
  'text_content_metadata',
  'markdown_content_metadata',
  'items_content_metadata',
  'metadata_content_metadata',
  'forms_content_metadata',
  'raw_words_content_metadata',
  'xlsx_content_metadata',
  'output_pdf_content_metadata',
  'images_content_metadata',
];

describe('v2 parse results in MOCK mode', () => {
  let tg: TestTollgate;
  before(async () => {
    tg = await startTestTollgate({ LLAMAPARSE_MODE: 'mock' });
  });
  after(() => tg.close());

  async function uploadV2(pages: number): Promise<string> {
    const form = new FormData();
    form.append('file', new Blob([Buffer.from(await pdfOf(pages))], { type: 'application/pdf' }), 'doc.pdf');
    form.append('configuration', JSON.stringify({ tier: 'cost_effective', version: 'latest' }));
    const res = await fetch(`${tg.url}/llamaparse/api/v2/parse/upload`, { method: 'POST', body: form });
    assert.equal(res.status, 200);
    return ((await res.json()) as { id: string }).id;
  }

  it('answers every documented expand value', async () => {
    const id = await uploadV2(2);
    const res = await fetch(`${tg.url}/llamaparse/api/v2/parse/${id}?expand=${EXPANDS.join(',')}`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as {
      job: { status: string; usage: { credits: number } };
      metadata: { document: { page_count: number } };
      forms: { pages: unknown[] };
      images_content_metadata: unknown;
      result_content_metadata: Record<string, { size_bytes: number; exists: boolean; presigned_url: null }>;
    };
    assert.equal(body.job.status, 'COMPLETED');
    assert.equal(body.job.usage.credits, 6);
    assert.equal(body.metadata.document.page_count, 2);
    assert.equal(body.forms.pages.length, 2);
    assert.deepEqual(body.images_content_metadata, { images: [], total_count: 0 });
    assert.equal(body.result_content_metadata.text!.exists, true);
    assert.ok(body.result_content_metadata.text!.size_bytes > 0);
    assert.deepEqual(body.result_content_metadata.xlsx, { size_bytes: 0, exists: false, presigned_url: null });
    assert.equal(Number(res.headers.get('x-tollgate-cost-usd')), 0.0075);
  });

  it('books a job from the credits expand=usage reports', async () => {
    const id = await uploadV2(3);
    const res = await fetch(`${tg.url}/llamaparse/api/v2/parse/${id}?expand=usage`);
    const body = (await res.json()) as { job: { usage: { credits: number } } };
    assert.equal(body.job.usage.credits, 9);
    assert.equal(Number(res.headers.get('x-tollgate-cost-usd')), 0.01125);
  });

  it('still refuses an expand value nobody documents', async () => {
    const id = await uploadV2(1);
    const res = await fetch(`${tg.url}/llamaparse/api/v2/parse/${id}?expand=everything`);
    assert.equal(res.status, 422);
  });
});
