import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { decodeEntities, extractDocument, extractText, htmlToMarkdown, htmlToText } from './index.js';

const fixture = (name: string) => readFile(new URL(`../../../../test/fixtures/${name}`, import.meta.url));

describe('HTML', () => {
  it('converts HTML to markdown and text without scripts, styles or head', async () => {
    const { format, pages } = await extractDocument(await fixture('documents/product-page.html'), 'product-page.html');
    assert.equal(format, 'html');
    const { md, text } = pages[0]!;
    assert.match(md, /^# Tollgate: Cost Control for AI Workloads$/m);
    assert.match(md, /^## Pricing Tiers$/m);
    assert.match(md, /^- Token-bucket \*\*rate limits\*\* shared across sidecars$/m);
    assert.match(md, /\[OpenTelemetry\]\(https:\/\/opentelemetry\.io\/\)/);
    assert.match(md, /^\| Tier \| Credits per page \| Use it for \|$/m);
    assert.match(md, /^\| agentic_plus \| 45 \| complex layouts <tables> \|$/m);
    assert.match(text, /OpenAI & LlamaParse/);
    assert.match(text, /“mock”/);
    assert.match(text, /That's all — no code changes/);
    assert.doesNotMatch(md + text, /analytics|font-family|not content|<(p|h1|li|td|script|style)\b/);
  });

  it('splits a long HTML document into pages at block boundaries', () => {
    const html = Array.from({ length: 30 }, (_, i) => `<h2>Part ${i}</h2><p>${'text '.repeat(60)}</p>`).join('');
    const pages = extractText('html', html);
    assert.ok(pages.length > 1);
    for (const page of pages) assert.match(page.md, /^## Part \d+$/m);
  });

  it('decodes named and numeric HTML entities', () => {
    assert.equal(
      decodeEntities('&lt;a&gt; &amp; &quot;b&quot; &#39;c&#39; &#x2014; &nbsp;&euro;&bogus;'),
      '<a> & "b" \'c\' — \u00a0€&bogus;',
    );
  });

  it('renders ordered and nested lists', () => {
    const md = htmlToMarkdown('<ol><li>first</li><li>second<ul><li>inner</li></ul></li></ol>');
    assert.equal(md, '1. first\n2. second\n  - inner');
    assert.equal(htmlToText('<p>a<br>b</p>'), 'a\nb');
  });

  it('turns an HTML table into a table item with its cells', () => {
    const [page] = extractText(
      'html',
      '<table><tr><th>a</th><th>b</th></tr><tr><td>1, 2</td><td>x &amp; y</td></tr></table>',
    );
    assert.deepEqual(page?.items, [
      {
        type: 'table',
        rows: [
          ['a', 'b'],
          ['1, 2', 'x & y'],
        ],
        md: '| a | b |\n| --- | --- |\n| 1, 2 | x & y |',
        isPerfectTable: true,
        csv: 'a,b\n"1, 2",x & y',
      },
    ]);
  });

  it('keeps <pre> as a code block and drops javascript: link targets', () => {
    assert.equal(
      htmlToMarkdown('<pre>\nif (a &lt; b) {}\n</pre><p><a href="javascript:void(0)">click</a></p>'),
      '```\nif (a < b) {}\n```\n\nclick',
    );
  });
});
