/** CSV and TSV: one markdown table, split into pages that each repeat the header row. */
import type { Block } from './blocks.js';
import { pageOfBlocks } from './pages.js';
import { CHARS_PER_PAGE, type ExtractedPage } from './types.js';

/** RFC 4180 parsing: quoted fields may hold the delimiter, doubled quotes and line breaks. */
export function parseCsv(source: string, delimiter = ','): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < source.length; i++) {
    const ch = source[i]!;
    if (quoted) {
      if (ch === '"' && source[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"' && field === '') quoted = true;
    else if (ch === delimiter) {
      row.push(field);
      field = '';
    } else if (ch === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += ch;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows.filter((r) => !(r.length === 1 && r[0] === ''));
}

/** The body rows in chunks of about CHARS_PER_PAGE characters of markdown, each chunk one table. */
function tableChunks(header: string[], body: string[][]): Block[] {
  const blocks: Block[] = [];
  let chunk: string[][] = [];
  let length = 0;
  for (const row of body) {
    const rowLength = row.join(' | ').length + 4;
    if (length + rowLength > CHARS_PER_PAGE && chunk.length > 0) {
      blocks.push({ type: 'table', rows: [header, ...chunk] });
      chunk = [];
      length = 0;
    }
    chunk.push(row);
    length += rowLength;
  }
  blocks.push({ type: 'table', rows: [header, ...chunk] });
  return blocks;
}

/** A CSV is one markdown table; a long one is split into pages that each repeat the header row. */
export function csvPages(source: string, delimiter = ','): ExtractedPage[] {
  const [header = [], ...body] = parseCsv(source, delimiter);
  return tableChunks(header, body).map((block, i) => pageOfBlocks([block], i + 1));
}
