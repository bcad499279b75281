import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { extractDocument, extractText } from './index.js';

const fixture = (name: string) => readFile(new URL(`../../../../test/fixtures/${name}`, import.meta.url));

describe('plain text, JSON and unread formats', () => {
  it('makes setext headings of plain text into ATX headings, so no --- reads as a page separator', async () => {
    const { format, pages } = await extractDocument(await fixture('documents/release-notes.txt'), 'release-notes.txt');
    assert.equal(format, 'text');
    assert.match(pages[0]!.md, /^# Release Notes$/m);
    assert.match(pages[0]!.md, /^## Version 0\.3$/m);
    assert.doesNotMatch(pages[0]!.md, /\n---\n/);
    assert.match(pages[0]!.text, /^Version 0\.2$/m);
  });

  it('gives formats LlamaCloud accepts but the mock cannot read one placeholder page', async () => {
    const { format, pages } = await extractDocument(new Uint8Array([0x50, 0x4b, 3, 4]), 'slides.pptx');
    assert.equal(format, 'opaque');
    assert.equal(pages.length, 1);
    assert.match(pages[0]!.text, /\.pptx/);
  });

  it('splits plain text at form feeds and keeps JSON as one text item a page', () => {
    assert.deepEqual(
      extractText('text', 'first\fsecond').map((page) => page.text),
      ['first', 'second'],
    );
    const [page] = extractText('json', '{"a": "# not a heading"}');
    assert.deepEqual(page?.items, [
      { type: 'text', value: '{"a": "# not a heading"}', md: '{"a": "# not a heading"}' },
    ]);
  });
});
