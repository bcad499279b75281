import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { PDFDocument } from 'pdf-lib';
import { countPages } from './count.js';

// three-pages.docx and five-slides.pptx: minimal office zips whose docProps/app.xml says
// <Pages>3</Pages> and <Slides>5</Slides> (written with Python's zipfile).
const fixture = (name: string) => join(import.meta.dirname, '../../../../test/fixtures', name);

async function temp(name: string, bytes: Uint8Array): Promise<string> {
  const path = join(tmpdir(), `tollgate-count-${process.pid}-${name}`);
  await writeFile(path, bytes);
  return path;
}

describe('countPages', () => {
  it('counts a PDF from its page tree', async () => {
    const doc = await PDFDocument.create();
    for (let i = 0; i < 7; i++) doc.addPage();
    assert.equal(await countPages(await temp('seven.pdf', await doc.save()), 'seven.pdf', 'application/pdf'), 7);
    assert.equal(await countPages(fixture('documents/sample-report.pdf'), 'sample-report.pdf', 'application/pdf'), 3);
  });

  it('reads pages and slides from office document properties', async () => {
    assert.equal(await countPages(fixture('office/three-pages.docx'), 'three-pages.docx', ''), 3);
    assert.equal(await countPages(fixture('office/five-slides.pptx'), 'five-slides.pptx', ''), 5);
  });

  it('counts an image as one page and leaves other files uncounted', async () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0]);
    assert.equal(await countPages(await temp('a.png', png), 'a.png', 'image/png'), 1);
    assert.equal(await countPages(fixture('documents/handbook.md'), 'handbook.md', 'text/markdown'), undefined);
    const broken = await temp('broken.pdf', Buffer.from('%PDF-1.7\nnot really'));
    assert.equal(await countPages(broken, 'broken.pdf', 'application/pdf'), undefined);
  });
});
