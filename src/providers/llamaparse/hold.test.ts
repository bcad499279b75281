import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { PDFDocument } from 'pdf-lib';
import { heldPages, uploadWorstCase, v2Selection, v2Tier } from './hold.js';

async function pdfOf(pages: number): Promise<Buffer> {
  const doc = await PDFDocument.create();
  for (let i = 0; i < pages; i++) doc.addPage();
  return Buffer.from(await doc.save());
}

/** A multipart body as fetch encodes it, handed over as the spooled upload. */
async function spooled(file: Buffer, name: string, fields: Record<string, string>) {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(file)]), name);
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  const req = new Request('http://x/', { method: 'POST', body: form });
  const body = Buffer.from(await req.arrayBuffer());
  return { headers: { 'content-type': req.headers.get('content-type') ?? '' }, open: () => Readable.from([body]) };
}

describe('what a LlamaParse upload holds', () => {
  it('holds the listed pages that exist, capped by max_pages', () => {
    assert.equal(heldPages(10, { targets: undefined, maxPages: undefined }, 10), 10);
    assert.equal(heldPages(10, { targets: undefined, maxPages: 2 }, 10), 2);
    assert.equal(heldPages(4, { targets: new Set([1, 3, 7, 9]), maxPages: undefined }, 10), 2);
    assert.equal(heldPages(10, { targets: new Set([1, 2, 3, 4]), maxPages: 3 }, 10), 3);
    assert.equal(heldPages(undefined, { targets: undefined, maxPages: undefined }, 10), 10);
    assert.equal(heldPages(undefined, { targets: new Set([2, 5]), maxPages: undefined }, 10), 2);
  });

  it('reads v2 page_ranges counted from 1', () => {
    const sel = v2Selection({ page_ranges: { target_pages: '1-3,8', max_pages: 3 } });
    assert.deepEqual([...(sel.targets ?? [])], [1, 2, 3, 8]);
    assert.equal(sel.maxPages, 3);
  });

  it('counts a v1 upload, with 0-based target_pages and the tier asked for', async () => {
    const pdf = await pdfOf(10);
    const plain = await uploadWorstCase('parse.upload', await spooled(pdf, 'a.pdf', {}), 10);
    assert.deepEqual([plain.pages, plain.model], [10, 'cost_effective']);
    const listed = await uploadWorstCase('parse.upload', await spooled(pdf, 'a.pdf', { target_pages: '0-2,6,40' }), 10);
    assert.equal(listed.pages, 4);
    const fast = await uploadWorstCase(
      'parse.upload',
      await spooled(pdf, 'a.pdf', { parse_mode: 'parse_page_without_llm' }),
      10,
    );
    assert.equal(fast.model, 'fast');
  });

  it('prices auto mode with a trigger at the upgraded tier', async () => {
    const form = { auto_mode: 'true', auto_mode_trigger_on_table_in_page: 'true' };
    const worst = await uploadWorstCase('parse.upload', await spooled(await pdfOf(2), 'a.pdf', form), 10);
    assert.equal(worst.model, 'agentic_plus');
  });

  it('reads a v2 configuration and holds LLAMAPARSE_DEFAULT_PAGES for an uncountable file', async () => {
    const config = JSON.stringify({ tier: 'agentic', version: 'latest', page_ranges: { max_pages: 4 } });
    const v2 = await uploadWorstCase(
      'parse.v2.upload',
      await spooled(await pdfOf(9), 'a.pdf', { configuration: config }),
      10,
    );
    assert.deepEqual([v2.pages, v2.model], [4, 'agentic']);
    const text = await uploadWorstCase('parse.upload', await spooled(Buffer.from('hello'), 'a.txt', {}), 6);
    assert.equal(text.pages, 6);
  });

  it('holds a v2 configuration with auto mode rules at the dearest tier a rule applies', () => {
    const rules = [{ parsing_conf: { tier: 'agentic' } }, { parsing_conf: { tier: 'fast' } }];
    assert.equal(v2Tier({ tier: 'cost_effective', processing_options: { auto_mode_configuration: rules } }), 'agentic');
    assert.equal(
      v2Tier({ tier: 'agentic_plus', processing_options: { auto_mode_configuration: rules } }),
      'agentic_plus',
    );
    assert.equal(v2Tier({}), 'cost_effective');
  });
});
