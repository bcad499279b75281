import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CHARS_PER_PAGE, extractText, splitPages } from './index.js';

describe('pagination of text formats', () => {
  it('splits at form feeds when the text has them', () => {
    assert.deepEqual(splitPages('one\ftwo\fthree'), ['one', 'two', 'three']);
  });

  it('splits long text into pages of about 3000 characters at paragraph breaks', () => {
    const paragraph = `${'word '.repeat(100).trim()}.`;
    const text = Array.from({ length: 40 }, () => paragraph).join('\n\n');
    const pages = splitPages(text);
    assert.ok(pages.length >= Math.floor(text.length / CHARS_PER_PAGE));
    for (const page of pages) {
      assert.ok(page.length <= CHARS_PER_PAGE);
      assert.ok(page.endsWith('.'), 'cut at a paragraph end');
    }
    assert.equal(pages.join('\n\n'), text);
  });

  it('keeps a short document as one page', () => {
    assert.equal(extractText('text', 'short').length, 1);
  });
});
