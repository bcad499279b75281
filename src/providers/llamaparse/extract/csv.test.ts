import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { csvPages } from './csv.js';
import { extractDocument, extractText, parseCsv } from './index.js';

const fixture = (name: string) => readFile(new URL(`../../../../test/fixtures/${name}`, import.meta.url));

describe('CSV', () => {
  it('parses quoted CSV fields with delimiters, doubled quotes and line breaks', () => {
    assert.deepEqual(parseCsv('a,b\r\n"x, y","say ""hi"""\n"multi\nline",2\n'.replace(/\r\n/g, '\n')), [
      ['a', 'b'],
      ['x, y', 'say "hi"'],
      ['multi\nline', '2'],
    ]);
  });

  it('makes a CSV with quoted commas and quotes into the right table', () => {
    const [page] = csvPages('name,note\n"Smith, J","says ""hi"""\n');
    assert.equal(page?.md, '| name | note |\n| --- | --- |\n| Smith, J | says "hi" |');
    assert.deepEqual(page?.items, [
      {
        type: 'table',
        rows: [
          ['name', 'note'],
          ['Smith, J', 'says "hi"'],
        ],
        md: page?.md,
        isPerfectTable: true,
        csv: 'name,note\n"Smith, J","says ""hi"""',
      },
    ]);
  });

  it('pads short rows to the header width', () => {
    assert.equal(csvPages('a,b,c\n1\n')[0]?.md, '| a | b | c |\n| --- | --- | --- |\n| 1 |  |  |');
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

  it('reads a .tsv with tabs as the delimiter, commas staying in the cell', async () => {
    const { format, pages } = await extractDocument(new TextEncoder().encode('a\tb\n1,5\t2\n'), 'data.tsv');
    assert.equal(format, 'csv');
    assert.equal(pages[0]?.md, '| a | b |\n| --- | --- |\n| 1,5 | 2 |');
  });

  it('repeats the CSV header on every page of a long table', () => {
    const rows = Array.from({ length: 400 }, (_, i) => `row-${i},${'x'.repeat(20)}`);
    const pages = extractText('csv', ['name,value', ...rows].join('\n'));
    assert.ok(pages.length > 1);
    for (const page of pages) assert.ok(page.md.startsWith('| name | value |\n| --- | --- |'));
  });
});
