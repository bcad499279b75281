import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import {
  CHARS_PER_PAGE,
  DocumentError,
  decodeEntities,
  detectFormat,
  extractDocument,
  extractText,
  htmlToMarkdown,
  htmlToText,
  parseCsv,
  splitPages,
} from './extract.js';

const fixture = (name: string) => readFile(new URL(`../../../test/fixtures/${name}`, import.meta.url));

describe('extractDocument', () => {
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

  it('makes setext headings of plain text into ATX headings, so no --- reads as a page separator', async () => {
    const { format, pages } = await extractDocument(await fixture('documents/release-notes.txt'), 'release-notes.txt');
    assert.equal(format, 'text');
    assert.match(pages[0]!.md, /^# Release Notes$/m);
    assert.match(pages[0]!.md, /^## Version 0\.3$/m);
    assert.doesNotMatch(pages[0]!.md, /\n---\n/);
    assert.match(pages[0]!.text, /^Version 0\.2$/m);
  });

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

  it('turns a CSV into a markdown table, quoted fields included', async () => {
    const { format, pages } = await extractDocument(await fixture('documents/price-list.csv'), 'price-list.csv');
    assert.equal(format, 'csv');
    assert.equal(pages.length, 1);
    const lines = pages[0]!.md.split('\n');
    assert.equal(lines[0], '| model | input_per_1m | output_per_1m | notes |');
    assert.equal(lines[1], '| --- | --- | --- | --- |');
    assert.equal(lines[2], '| gpt-4o-mini | 0.15 | 0.60 | cheap, fast |');
    assert.equal(lines[3], '| gpt-4o | 2.50 | 10.00 | the "omni" model |');
    assert.equal(lines[5], '| text-embedding-3-large | 0.13 | 0 | multi line note |');
    const item = pages[0]!.items[0];
    assert.ok(item?.type === 'table');
    assert.equal(item.rows.length, 5);
  });

  it('refuses empty files and unsupported types, and reports a corrupt PDF as broken', async () => {
    await assert.rejects(extractDocument(await fixture('bad-documents/empty.pdf'), 'empty.pdf'), {
      name: 'DocumentError',
      kind: 'empty',
    });
    await assert.rejects(extractDocument(await fixture('bad-documents/firmware.bin'), 'firmware.bin'), {
      kind: 'unsupported',
      message: 'Unsupported file type: .bin',
    });
    await assert.rejects(extractDocument(new Uint8Array([1, 2, 3]), 'setup.exe'), { kind: 'unsupported' });
    await assert.rejects(extractDocument(await fixture('bad-documents/corrupt.pdf'), 'corrupt.pdf'), (error) => {
      assert.ok(error instanceof DocumentError);
      assert.equal(error.kind, 'broken');
      return true;
    });
  });

  it('treats an unknown but text-like file as text, and sniffs a PDF without extension', async () => {
    assert.equal(detectFormat('notes.rst2', new TextEncoder().encode('just some text')), 'text');
    assert.equal(detectFormat('blob', await fixture('documents/sample-report.pdf')), 'pdf');
    assert.throws(() => detectFormat('blob', new Uint8Array([0, 159, 146, 150])), { kind: 'unsupported' });
    assert.equal(detectFormat('/home/me/docs/Report.PDF', new Uint8Array([1])), 'pdf');
  });

  it('gives formats LlamaCloud accepts but the mock cannot read one placeholder page', async () => {
    const { format, pages } = await extractDocument(new Uint8Array([0x50, 0x4b, 3, 4]), 'slides.pptx');
    assert.equal(format, 'opaque');
    assert.equal(pages.length, 1);
    assert.match(pages[0]!.text, /\.pptx/);
  });
});

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

  it('splits a long HTML document into pages at block boundaries', () => {
    const html = Array.from({ length: 30 }, (_, i) => `<h2>Part ${i}</h2><p>${'text '.repeat(60)}</p>`).join('');
    const pages = extractText('html', html);
    assert.ok(pages.length > 1);
    for (const page of pages) assert.match(page.md, /^## Part \d+$/m);
  });

  it('repeats the CSV header on every page of a long table', () => {
    const rows = Array.from({ length: 400 }, (_, i) => `row-${i},${'x'.repeat(20)}`);
    const pages = extractText('csv', ['name,value', ...rows].join('\n'));
    assert.ok(pages.length > 1);
    for (const page of pages) assert.ok(page.md.startsWith('| name | value |\n| --- | --- |'));
  });
});

describe('helpers', () => {
  it('decodes named and numeric HTML entities', () => {
    assert.equal(
      decodeEntities('&lt;a&gt; &amp; &quot;b&quot; &#39;c&#39; &#x2014; &nbsp;&euro;&bogus;'),
      '<a> & "b" \'c\' — \u00a0€&bogus;',
    );
  });

  it('parses quoted CSV fields with delimiters, doubled quotes and line breaks', () => {
    assert.deepEqual(parseCsv('a,b\r\n"x, y","say ""hi"""\n"multi\nline",2\n'.replace(/\r\n/g, '\n')), [
      ['a', 'b'],
      ['x, y', 'say "hi"'],
      ['multi\nline', '2'],
    ]);
  });

  it('renders ordered and nested lists', () => {
    const md = htmlToMarkdown('<ol><li>first</li><li>second<ul><li>inner</li></ul></li></ol>');
    assert.equal(md, '1. first\n2. second\n  - inner');
    assert.equal(htmlToText('<p>a<br>b</p>'), 'a\nb');
  });
});
