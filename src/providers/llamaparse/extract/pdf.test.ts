import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { extractDocument } from './index.js';

const fixture = (name: string) => readFile(new URL(`../../../../test/fixtures/${name}`, import.meta.url));

describe('PDF', () => {
  it('reads real per-page text and the page count from a PDF', async () => {
    const { format, pages } = await extractDocument(await fixture('documents/sample-report.pdf'), 'sample-report.pdf');
    assert.equal(format, 'pdf');
    assert.equal(pages.length, 3);
    assert.deepEqual(
      pages.map((p) => p.page),
      [1, 2, 3],
    );
    assert.match(pages[0]!.text, /This document exists so the LlamaParse mock has a real PDF to read\./);
    assert.match(pages[2]!.text, /The end of the sample report\./);
  });

  it('turns larger PDF font sizes into markdown headings', async () => {
    const { pages } = await extractDocument(await fixture('documents/sample-report.pdf'), 'report.pdf');
    assert.match(pages[0]!.md, /^# Tollgate Sample Report$/m);
    assert.match(pages[0]!.md, /^## Introduction$/m);
    assert.match(pages[1]!.md, /^## Methods$/m);
    const heading = pages[1]!.items.find((item) => item.type === 'heading');
    assert.deepEqual(heading, { type: 'heading', lvl: 2, value: 'Methods', md: '## Methods' });
  });
});
