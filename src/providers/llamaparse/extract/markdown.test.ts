import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { extractDocument } from './index.js';
import { inlineMarkdownToText, markdownItems, markdownToText } from './markdown.js';

const fixture = (name: string) => readFile(new URL(`../../../../test/fixtures/${name}`, import.meta.url));

describe('markdown', () => {
  it('keeps markdown as it is, headings included', async () => {
    const bytes = await fixture('documents/handbook.md');
    const { format, pages } = await extractDocument(bytes, 'handbook.md');
    assert.equal(format, 'markdown');
    assert.equal(pages.length, 1);
    assert.equal(pages[0]!.md, bytes.toString('utf8'));
    assert.match(pages[0]!.md, /^## Configuring limits$/m);
    assert.match(pages[0]!.text, /^Configuring limits$/m);
    assert.doesNotMatch(pages[0]!.text, /^#/m);
    // Underscores inside words are not emphasis.
    assert.match(pages[0]!.text, /OPENAI_REQUESTS_PER_HOUR/);
    const table = pages[0]!.items.find((item) => item.type === 'table');
    assert.ok(table && table.type === 'table');
    assert.deepEqual(table.rows[0], ['variable', 'default', 'meaning']);
  });

  it('reads fenced code, pipe tables and lists into items', () => {
    const items = markdownItems('```\na | b\n---\n```\n\n| x | y |\n|---|---|\n| 1 | 2 \\| 3 |\n\n- one\n  - two');
    assert.deepEqual(items, [
      { type: 'text', value: 'a | b\n---', md: '```\na | b\n---\n```' },
      {
        type: 'table',
        rows: [
          ['x', 'y'],
          ['1', '2 | 3'],
        ],
        md: '| x | y |\n| --- | --- |\n| 1 | 2 \\| 3 |',
        isPerfectTable: true,
        csv: 'x,y\n1,2 | 3',
      },
      { type: 'text', value: 'one\n  two', md: '- one\n  - two' },
    ]);
  });

  it('strips inline marks but keeps underscores inside words', () => {
    assert.equal(
      inlineMarkdownToText('**bold** *it* `code` [link](u) ![alt](i) \\* MAX_TOKENS'),
      'bold it code link alt * MAX_TOKENS',
    );
    assert.equal(markdownToText('# Title\n\nSome *text*.'), 'Title\n\nSome text.');
  });
});
