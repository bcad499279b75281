/**
 * Text extraction for the LlamaParse mock: turns an uploaded file into pages of plain text,
 * markdown and LlamaParse-style JSON items, so mock results are drawn from the document itself.
 *
 * Formats: PDF (pdfjs-dist, real per-page text and page count), markdown, plain text, HTML,
 * CSV/TSV, JSON, and other text-like files. Formats that LlamaCloud accepts but that need OCR or
 * an office-file reader (docx, pptx, images, audio…) yield one placeholder page, so pipelines keep
 * flowing; files LlamaCloud refuses (executables, archives, empty files) raise a DocumentError.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export type DocumentFormat = 'pdf' | 'markdown' | 'text' | 'html' | 'csv' | 'json' | 'opaque';

/** One parsed item of a page, in the shape of LlamaParse's JSON result (`pages[].items[]`). */
export type PageItem =
  | { type: 'heading'; lvl: number; value: string; md: string }
  | { type: 'text'; value: string; md: string }
  | { type: 'table'; rows: string[][]; md: string; isPerfectTable: boolean; csv: string };

export interface ExtractedPage {
  /** 1-based page number. */
  page: number;
  text: string;
  md: string;
  items: PageItem[];
}

export interface Extraction {
  format: DocumentFormat;
  pages: ExtractedPage[];
}

export type DocumentErrorKind = 'empty' | 'unsupported' | 'broken';

/** A document LlamaCloud would refuse (`empty`, `unsupported`, at upload) or fail to parse (`broken`, job ERROR). */
export class DocumentError extends Error {
  override readonly name = 'DocumentError';
  readonly kind: DocumentErrorKind;
  constructor(kind: DocumentErrorKind, message: string) {
    super(message);
    this.kind = kind;
  }
}

/** Characters per synthetic page for formats that have no pages of their own (about one printed page). */
export const CHARS_PER_PAGE = 3000;

const EXTENSION_FORMAT: Record<string, DocumentFormat> = {
  pdf: 'pdf',
  md: 'markdown',
  markdown: 'markdown',
  mdx: 'markdown',
  txt: 'text',
  text: 'text',
  log: 'text',
  rst: 'text',
  xml: 'text',
  yaml: 'text',
  yml: 'text',
  html: 'html',
  htm: 'html',
  xhtml: 'html',
  csv: 'csv',
  tsv: 'csv',
  json: 'json',
  jsonl: 'json',
};

/**
 * Formats LlamaCloud accepts (its `LlamaParseSupportedFileExtensions`, plus audio) whose content
 * the mock cannot read without OCR or an office-file parser.
 */
const OPAQUE_EXTENSIONS = new Set(
  (
    'doc docx docm dot dotx dotm rtf wps wpd sxw stw sxg pages mw mcw uot uof uos uop ppt pptx pot pptm potx potm ' +
    'key odp odg otp fopd sxi sti epub jpg jpeg png gif bmp svg tiff webp xls xlsx xlsm xlsb xlw dif sylk slk prn ' +
    'numbers et ods fods uos1 uos2 dbf wk1 wk2 wk3 wk4 wks wq1 wq2 wb1 wb2 wb3 qpw xlr eth mp3 mp4 mpeg mpga m4a wav webm'
  ).split(' '),
);

/** Never parseable, whatever the bytes look like: LlamaCloud answers "Unsupported file type". */
const REFUSED_EXTENSIONS = new Set(
  'exe dll so dylib bin zip tar gz tgz bz2 xz 7z rar iso dmg msi apk jar class o a wasm deb rpm'.split(' '),
);

export function fileExtension(filename: string): string {
  // Browsers and the LlamaParse reader may send a full path as the part's filename.
  const base = filename.split(/[\\/]/).pop() ?? '';
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(dot + 1).toLowerCase() : '';
}

function looksLikeText(bytes: Uint8Array): boolean {
  const sample = bytes.subarray(0, 8192);
  if (sample.includes(0)) return false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(sample.length < bytes.length ? trimPartialUtf8(sample) : sample);
    return true;
  } catch {
    return false;
  }
}

/** Drops a UTF-8 sequence cut in half by sampling, so the fatal decoder judges only whole characters. */
function trimPartialUtf8(bytes: Uint8Array): Uint8Array {
  const end = bytes.length;
  for (let back = 1; back <= 3 && end - back >= 0; back++) {
    const byte = bytes[end - back] ?? 0;
    if ((byte & 0xc0) === 0xc0) return bytes.subarray(0, end - back);
    if ((byte & 0x80) === 0) break;
  }
  return bytes.subarray(0, end);
}

/**
 * Which format a file is, from its name and (when the name says nothing) its first bytes.
 * Throws DocumentError('unsupported') for files LlamaCloud refuses.
 */
export function detectFormat(filename: string, bytes: Uint8Array): DocumentFormat {
  const ext = fileExtension(filename);
  if (REFUSED_EXTENSIONS.has(ext)) throw new DocumentError('unsupported', `Unsupported file type: .${ext}`);
  const known = EXTENSION_FORMAT[ext];
  if (known) return known;
  if (OPAQUE_EXTENSIONS.has(ext)) return 'opaque';
  if (startsWith(bytes, '%PDF-')) return 'pdf';
  if (looksLikeText(bytes)) return 'text';
  throw new DocumentError('unsupported', ext ? `Unsupported file type: .${ext}` : 'Unsupported file type');
}

function startsWith(bytes: Uint8Array, prefix: string): boolean {
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix.charCodeAt(i)) return false;
  return bytes.length >= prefix.length;
}

/**
 * Extracts pages from an uploaded document.
 * @throws DocumentError `empty` / `unsupported` (LlamaCloud refuses these at upload) or `broken`.
 * @example
 *   const { pages } = await extractDocument(bytes, 'report.pdf');
 *   pages.map((p) => p.md).join('\n---\n');
 */
export async function extractDocument(bytes: Uint8Array, filename: string): Promise<Extraction> {
  if (bytes.length === 0) throw new DocumentError('empty', 'File is empty');
  const format = detectFormat(filename, bytes);
  switch (format) {
    case 'pdf':
      return { format, pages: await extractPdf(bytes) };
    case 'opaque':
      return { format, pages: [opaquePage(filename, bytes.length)] };
    default: {
      const source = decodeText(bytes);
      if (source.trim() === '') throw new DocumentError('empty', 'File is empty');
      return { format, pages: extractText(format, source, fileExtension(filename)) };
    }
  }
}

function decodeText(bytes: Uint8Array): string {
  // A BOM is not content; TextDecoder strips the UTF-8 one by default.
  return new TextDecoder('utf-8').decode(bytes).replace(/\r\n?/g, '\n');
}

/** Pages of a text-based format; exported for tests and for callers that already hold a string. */
export function extractText(format: DocumentFormat, source: string, ext = ''): ExtractedPage[] {
  switch (format) {
    case 'html':
      return pagesFromBlocks(htmlToBlocks(source));
    case 'csv':
      return csvPages(source, ext === 'tsv' ? '\t' : ',');
    case 'markdown':
      return numbered(splitPages(source).map((md) => pageFromMarkdown(md, markdownToText(md))));
    case 'json':
      return numbered(splitPages(source).map((text) => ({ text, md: text, items: [textItem(text, text)] })));
    default:
      return numbered(
        splitPages(source).map((text) => {
          const md = setextToAtx(text);
          return pageFromMarkdown(md, text);
        }),
      );
  }
}

type PageBody = Omit<ExtractedPage, 'page'>;

function numbered(pages: PageBody[]): ExtractedPage[] {
  return pages.map((body, i) => ({ page: i + 1, ...body }));
}

function pageFromMarkdown(md: string, text: string): PageBody {
  return { text, md, items: markdownToBlocks(md).map(blockItem) };
}

function opaquePage(filename: string, size: number): ExtractedPage {
  const ext = fileExtension(filename);
  const md = `*The tollgate mock does not read the content of .${ext} files (${size} bytes received).*`;
  const text = md.replace(/\*/g, '');
  return { page: 1, text, md, items: [textItem(text, md)] };
}

// ---------------------------------------------------------------------------------------------
// Pagination

/**
 * Splits text into pages: at form feeds when the file has them (that is how plain-text files
 * mark pages), otherwise into chunks of about CHARS_PER_PAGE, cut at a paragraph or line break.
 */
export function splitPages(source: string, size = CHARS_PER_PAGE): string[] {
  if (source.includes('\f')) {
    const pages = source.split('\f').filter((p) => p.trim() !== '');
    return pages.length > 0 ? pages : [source];
  }
  const pages: string[] = [];
  let rest = source;
  while (rest.length > size) {
    const window = rest.slice(0, size);
    let cut = window.lastIndexOf('\n\n');
    if (cut < size / 2) cut = window.lastIndexOf('\n');
    if (cut < size / 2) cut = window.lastIndexOf(' ');
    if (cut <= 0) cut = size;
    pages.push(rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).replace(/^\s+/, '');
  }
  if (rest.trim() !== '' || pages.length === 0) pages.push(rest);
  return pages;
}

// ---------------------------------------------------------------------------------------------
// Blocks: the common model behind markdown, text and JSON items

interface Inline {
  text: string;
  md: string;
}

type Block =
  | { type: 'heading'; level: number; text: string; md: string }
  | { type: 'text'; text: string; md: string }
  | { type: 'list'; ordered: boolean; items: Array<Inline & { depth: number }> }
  | { type: 'table'; rows: string[][] }
  | { type: 'code'; text: string };

function blockMarkdown(block: Block): string {
  switch (block.type) {
    case 'heading':
      return `${'#'.repeat(block.level)} ${block.md}`;
    case 'text':
      return block.md;
    case 'list':
      return listMarkdown(block);
    case 'table':
      return tableMarkdown(block.rows);
    case 'code':
      return '```\n' + block.text + '\n```';
  }
}

/** Ordered lists count per nesting level, restarting when a deeper level opens. */
function listMarkdown(block: Extract<Block, { type: 'list' }>): string {
  const counters: number[] = [];
  return block.items
    .map((item) => {
      counters.length = item.depth + 1;
      counters[item.depth] = (counters[item.depth] ?? 0) + 1;
      const marker = block.ordered && item.depth === 0 ? `${counters[item.depth]}.` : '-';
      return `${'  '.repeat(item.depth)}${marker} ${item.md}`;
    })
    .join('\n');
}

function blockText(block: Block): string {
  switch (block.type) {
    case 'heading':
    case 'text':
      return block.text;
    case 'list':
      return block.items.map((item) => `${'  '.repeat(item.depth)}${item.text}`).join('\n');
    case 'table':
      return block.rows.map((row) => row.join('\t')).join('\n');
    case 'code':
      return block.text;
  }
}

function textItem(value: string, md: string): PageItem {
  return { type: 'text', value, md };
}

function blockItem(block: Block): PageItem {
  switch (block.type) {
    case 'heading':
      return { type: 'heading', lvl: block.level, value: block.text, md: blockMarkdown(block) };
    case 'table':
      return {
        type: 'table',
        rows: block.rows,
        md: blockMarkdown(block),
        isPerfectTable: true,
        csv: toCsv(block.rows),
      };
    default:
      return textItem(blockText(block), blockMarkdown(block));
  }
}

function pagesFromBlocks(blocks: Block[], size = CHARS_PER_PAGE): ExtractedPage[] {
  const pages: Block[][] = [[]];
  let length = 0;
  for (const block of blocks) {
    const blockLength = blockMarkdown(block).length;
    const current = pages[pages.length - 1]!;
    if (length + blockLength > size && current.length > 0) {
      pages.push([block]);
      length = blockLength;
    } else {
      current.push(block);
      length += blockLength + 2;
    }
  }
  return pages.map((page, i) => ({
    page: i + 1,
    md: page.map(blockMarkdown).join('\n\n'),
    text: page.map(blockText).join('\n\n'),
    items: page.map(blockItem),
  }));
}

// ---------------------------------------------------------------------------------------------
// Markdown

const ATX = /^(#{1,6})\s+(.*?)\s*#*\s*$/;
const TABLE_SEPARATOR = /^\s*\|?\s*:?-{1,}:?\s*(\|\s*:?-{1,}:?\s*)*\|?\s*$/;
const LIST_ITEM = /^(\s*)([-*+]|\d+[.)])\s+(.*)$/;

/** Plain text of inline markdown: links and images keep their text, emphasis and code marks go. */
export function inlineMarkdownToText(md: string): string {
  return (
    md
      .replace(/!\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/<[^>]+>/g, '')
      .replace(/\*\*(.+?)\*\*/g, '$1')
      .replace(/\*(\S(?:.*?\S)?)\*/g, '$1')
      // Underscores mark emphasis only at word edges: OPENAI_REQUESTS_PER_HOUR keeps its own.
      .replace(/(?<![\w])__?(\S(?:.*?\S)?)__?(?![\w])/g, '$1')
      .replace(/`([^`]*)`/g, '$1')
      .replace(/\\([\\`*_{}[\]()#+\-.!|])/g, '$1')
  );
}

function splitTableRow(line: string): string[] {
  let row = line.trim();
  if (row.startsWith('|')) row = row.slice(1);
  if (row.endsWith('|') && !row.endsWith('\\|')) row = row.slice(0, -1);
  return row.split(/(?<!\\)\|/).map((cell) => inlineMarkdownToText(cell.trim()));
}

/** A small block parser: headings (ATX and setext), fenced code, pipe tables, lists, paragraphs. */
function markdownToBlocks(md: string): Block[] {
  const lines = md.split('\n');
  const blocks: Block[] = [];
  let paragraph: string[] = [];
  const flush = () => {
    if (paragraph.length === 0) return;
    const joined = paragraph.join('\n');
    blocks.push({ type: 'text', md: joined, text: inlineMarkdownToText(joined) });
    paragraph = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const next = lines[i + 1];
    const atx = ATX.exec(line);
    if (atx) {
      flush();
      const md = atx[2]!;
      blocks.push({ type: 'heading', level: atx[1]!.length, md, text: inlineMarkdownToText(md) });
      continue;
    }
    if (line.trim() !== '' && paragraph.length === 0 && next !== undefined && /^(=+|-+)\s*$/.test(next)) {
      blocks.push({ type: 'heading', level: next.startsWith('=') ? 1 : 2, md: line.trim(), text: line.trim() });
      i++;
      continue;
    }
    if (line.trimStart().startsWith('```')) {
      flush();
      const code: string[] = [];
      for (i++; i < lines.length && !lines[i]!.trimStart().startsWith('```'); i++) code.push(lines[i]!);
      blocks.push({ type: 'code', text: code.join('\n') });
      continue;
    }
    if (line.includes('|') && next !== undefined && TABLE_SEPARATOR.test(next) && next.includes('-')) {
      flush();
      const rows = [splitTableRow(line)];
      for (i += 2; i < lines.length && lines[i]!.includes('|') && lines[i]!.trim() !== ''; i++) {
        rows.push(splitTableRow(lines[i]!));
      }
      i--;
      blocks.push({ type: 'table', rows });
      continue;
    }
    const item = LIST_ITEM.exec(line);
    if (item && paragraph.length === 0) {
      const ordered = /\d/.test(item[2]!);
      const last = blocks[blocks.length - 1];
      const entry = { md: item[3]!, text: inlineMarkdownToText(item[3]!), depth: Math.floor(item[1]!.length / 2) };
      if (last?.type === 'list' && lines[i - 1]?.trim() !== '') last.items.push(entry);
      else blocks.push({ type: 'list', ordered, items: [entry] });
      continue;
    }
    if (line.trim() === '') flush();
    else paragraph.push(line);
  }
  flush();
  return blocks;
}

/** Plain text of a markdown page, block by block. */
export function markdownToText(md: string): string {
  return markdownToBlocks(md).map(blockText).join('\n\n');
}

/**
 * Setext headings (a line underlined with === or ---) become ATX headings, because a `---`
 * underline would otherwise read as LlamaParse's default page separator `\n---\n`.
 */
function setextToAtx(text: string): string {
  return text.replace(/^([^\n]*\S[^\n]*)\n(=+|-+)[ \t]*$/gm, (_all, title: string, bar: string) => {
    return `${bar.startsWith('=') ? '#' : '##'} ${title.trim()}`;
  });
}

function escapeCell(cell: string): string {
  return cell.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}

function tableMarkdown(rows: string[][]): string {
  const width = Math.max(1, ...rows.map((r) => r.length));
  const pad = (row: string[]) => Array.from({ length: width }, (_, i) => escapeCell(row[i] ?? ''));
  const [head = [], ...body] = rows;
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(pad(head)), line(Array(width).fill('---')), ...body.map((r) => line(pad(r)))].join('\n');
}

function toCsv(rows: string[][]): string {
  const quote = (cell: string) => (/[",\n]/.test(cell) ? `"${cell.replace(/"/g, '""')}"` : cell);
  return rows.map((row) => row.map(quote).join(',')).join('\n');
}

// ---------------------------------------------------------------------------------------------
// CSV

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

/** A CSV is one markdown table; a long one is split into pages that each repeat the header row. */
export function csvPages(source: string, delimiter = ','): ExtractedPage[] {
  const rows = parseCsv(source, delimiter);
  const [header = [], ...body] = rows;
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
  return blocks.map((block, i) => ({
    page: i + 1,
    md: blockMarkdown(block),
    text: blockText(block),
    items: [blockItem(block)],
  }));
}

// ---------------------------------------------------------------------------------------------
// HTML

const NAMED_ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: '\u00a0',
  copy: '©',
  reg: '®',
  trade: '™',
  hellip: '…',
  mdash: '—',
  ndash: '–',
  lsquo: '‘',
  rsquo: '’',
  ldquo: '“',
  rdquo: '”',
  laquo: '«',
  raquo: '»',
  bull: '•',
  middot: '·',
  deg: '°',
  euro: '€',
  pound: '£',
  yen: '¥',
  cent: '¢',
  sect: '§',
  para: '¶',
  times: '×',
  divide: '÷',
  plusmn: '±',
  frac12: '½',
  eacute: 'é',
  egrave: 'è',
  agrave: 'à',
  ccedil: 'ç',
  uuml: 'ü',
  ouml: 'ö',
  auml: 'ä',
  szlig: 'ß',
};

export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z][a-z0-9]*);/gi, (all, name: string) => {
    if (name[0] === '#') {
      const code = name[1] === 'x' || name[1] === 'X' ? Number.parseInt(name.slice(2), 16) : Number(name.slice(1));
      return Number.isFinite(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : all;
    }
    return NAMED_ENTITIES[name] ?? NAMED_ENTITIES[name.toLowerCase()] ?? all;
  });
}

const HTML_TOKEN =
  /<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>|<!doctype[^>]*>|<\?[\s\S]*?\?>|<(script|style|noscript|template|head|svg|iframe)\b[^>]*>[\s\S]*?<\/\1\s*>|<(\/?)([a-zA-Z][a-zA-Z0-9-]*)((?:[^>"']|"[^"]*"|'[^']*')*)>|[^<]+|</gi;

const BLOCK_TAGS = new Set(
  'p div section article main header footer nav aside blockquote address figure figcaption form fieldset dl dt dd hr body html center details summary'.split(
    ' ',
  ),
);

function attribute(attrs: string, name: string): string | undefined {
  const match = new RegExp(`\\b${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)'|([^\\s>]+))`, 'i').exec(attrs);
  return match ? decodeEntities(match[1] ?? match[2] ?? match[3] ?? '') : undefined;
}

interface TableState {
  rows: string[][];
  cell: Inline | null;
}

/** Converts HTML to blocks. A tolerant tokenizer, not a full HTML5 parser: enough for documents. */
function htmlToBlocks(html: string): Block[] {
  const blocks: Block[] = [];
  let inline: Inline = { text: '', md: '' };
  let heading = 0;
  const lists: Array<{ ordered: boolean; block: Extract<Block, { type: 'list' }> }> = [];
  let listItem: (Inline & { depth: number }) | null = null;
  let table: TableState | null = null;
  let pre: string | null = null;
  const links: Array<{ href: string | undefined; start: number }> = [];

  const target = (): Inline => table?.cell ?? listItem ?? inline;
  const append = (text: string, md = text) => {
    const into = target();
    into.text += text;
    into.md += md;
  };
  const flushInline = () => {
    const text = collapse(inline.text);
    const md = collapse(inline.md);
    inline = { text: '', md: '' };
    if (text === '' && md === '') return;
    if (heading > 0) blocks.push({ type: 'heading', level: heading, text, md });
    else blocks.push({ type: 'text', text, md });
  };
  const closeListItem = () => {
    if (!listItem) return;
    const list = lists[lists.length - 1];
    const item = { ...listItem, text: collapse(listItem.text), md: collapse(listItem.md) };
    if (list && (item.text !== '' || item.md !== '')) list.block.items.push(item);
    listItem = null;
  };
  const closeCell = () => {
    if (!table?.cell) return;
    table.rows[table.rows.length - 1]?.push(collapse(table.cell.text));
    table.cell = null;
  };

  for (const match of html.matchAll(HTML_TOKEN)) {
    const [token, , slash, rawTag, attrs = ''] = match;
    if (rawTag === undefined) {
      if (token.startsWith('<!--') || token.startsWith('<!') || token.startsWith('<?') || /^<[a-z]/i.test(token)) {
        continue; // comments, doctype, and script/style/head blocks carry no document text
      }
      const text = decodeEntities(token);
      if (pre !== null) pre += text;
      else append(text, escapeMarkdown(text));
      continue;
    }
    const tag = rawTag.toLowerCase();
    const closing = slash === '/';
    if (pre !== null && !(tag === 'pre' && closing)) continue;
    if (/^h[1-6]$/.test(tag)) {
      flushInline();
      heading = closing ? 0 : Number(tag[1]);
    } else if (tag === 'br') {
      append('\n', '  \n');
    } else if (tag === 'pre') {
      if (!closing) {
        flushInline();
        pre = '';
      } else {
        blocks.push({ type: 'code', text: (pre ?? '').replace(/^\n|\n$/g, '') });
        pre = null;
      }
    } else if (tag === 'ul' || tag === 'ol') {
      if (!closing) {
        // A nested list opens inside an <li>: that item's own text comes before its children.
        if (lists.length === 0) flushInline();
        else closeListItem();
        const parent = lists[lists.length - 1];
        const block = parent?.block ?? { type: 'list' as const, ordered: tag === 'ol', items: [] };
        if (!parent) blocks.push(block);
        lists.push({ ordered: tag === 'ol', block });
      } else {
        closeListItem();
        lists.pop();
      }
    } else if (tag === 'li') {
      closeListItem();
      if (!closing) listItem = { text: '', md: '', depth: Math.max(0, lists.length - 1) };
    } else if (tag === 'table') {
      if (!closing) {
        flushInline();
        table = { rows: [], cell: null };
      } else if (table) {
        closeCell();
        const rows = table.rows.filter((r) => r.length > 0);
        if (rows.length > 0) blocks.push({ type: 'table', rows });
        table = null;
      }
    } else if (tag === 'tr' && table) {
      closeCell();
      if (!closing) table.rows.push([]);
    } else if ((tag === 'td' || tag === 'th') && table) {
      closeCell();
      if (!closing) {
        if (table.rows.length === 0) table.rows.push([]);
        table.cell = { text: '', md: '' };
      }
    } else if (tag === 'a') {
      if (!closing) links.push({ href: attribute(attrs, 'href'), start: target().md.length });
      else {
        const link = links.pop();
        const into = target();
        if (link?.href && !link.href.startsWith('javascript:')) {
          const label = into.md.slice(link.start);
          into.md = `${into.md.slice(0, link.start)}[${label.trim()}](${link.href})`;
        }
      }
    } else if (tag === 'strong' || tag === 'b') {
      append('', '**');
    } else if (tag === 'em' || tag === 'i') {
      append('', '*');
    } else if (tag === 'code') {
      append('', '`');
    } else if (tag === 'img' && !closing) {
      const alt = attribute(attrs, 'alt');
      if (alt) append(alt, `![${alt}](${attribute(attrs, 'src') ?? ''})`);
    } else if (BLOCK_TAGS.has(tag)) {
      if (table?.cell || listItem) append(' ');
      else flushInline();
    }
  }
  closeListItem();
  flushInline();
  return blocks.filter((b) => b.type !== 'list' || b.items.length > 0);
}

function collapse(text: string): string {
  return text
    .replace(/[ \t\r\f\v\u00a0]+/g, ' ')
    .replace(/ *\n */g, '\n')
    .trim();
}

function escapeMarkdown(text: string): string {
  // Only what would change the structure of the markdown we emit.
  return text.replace(/([\\`|])/g, '\\$1');
}

/** Markdown and plain text of an HTML document (one string each, pages joined by blank lines). */
export function htmlToMarkdown(html: string): string {
  return htmlToBlocks(html).map(blockMarkdown).join('\n\n');
}

export function htmlToText(html: string): string {
  return htmlToBlocks(html).map(blockText).join('\n\n');
}

// ---------------------------------------------------------------------------------------------
// PDF

interface PdfTextItem {
  str: string;
  transform: number[];
  hasEOL?: boolean;
}

interface PdfLine {
  y: number;
  size: number;
  text: string;
}

let pdfjs: Promise<typeof import('pdfjs-dist/legacy/build/pdf.mjs')> | undefined;

function loadPdfjs() {
  // Loaded on first use: pdfjs is large and most sidecars never see a PDF in mock mode.
  pdfjs ??= import('pdfjs-dist/legacy/build/pdf.mjs');
  return pdfjs;
}

function standardFontDataUrl(): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    return join(dirname(require.resolve('pdfjs-dist/package.json')), 'standard_fonts') + '/';
  } catch {
    return undefined;
  }
}

/** Real per-page text from a PDF, rebuilt into lines; larger font sizes become markdown headings. */
async function extractPdf(bytes: Uint8Array): Promise<ExtractedPage[]> {
  const { getDocument } = await loadPdfjs();
  let document: Awaited<ReturnType<typeof getDocument>['promise']>;
  try {
    // pdfjs transfers (detaches) the buffer it is given, so it gets a copy.
    document = await getDocument({
      data: new Uint8Array(bytes),
      verbosity: 0,
      isEvalSupported: false,
      disableFontFace: true,
      useSystemFonts: false,
      standardFontDataUrl: standardFontDataUrl(),
    }).promise;
  } catch (error) {
    throw new DocumentError('broken', `The PDF could not be read: ${(error as Error).message}`);
  }
  try {
    const pageLines: PdfLine[][] = [];
    for (let n = 1; n <= document.numPages; n++) {
      const page = await document.getPage(n);
      const content = await page.getTextContent();
      pageLines.push(linesOf(content.items.flatMap((item): PdfTextItem[] => ('str' in item ? [item] : []))));
      page.cleanup();
    }
    const headingLevel = headingLevels(pageLines.flat());
    return pageLines.map((lines, i) => {
      const mdParts: string[] = [];
      const textParts: string[] = [];
      let paragraph: string[] = [];
      let previous: PdfLine | undefined;
      const flush = () => {
        if (paragraph.length > 0) mdParts.push(paragraph.join('\n'));
        paragraph = [];
      };
      for (const line of lines) {
        const level = headingLevel(line.size);
        const gap = previous ? previous.y - line.y : 0;
        if (level > 0) {
          flush();
          mdParts.push(`${'#'.repeat(level)} ${line.text}`);
          textParts.push(line.text);
        } else {
          // A gap clearly taller than one line of text starts a new paragraph.
          if (previous && gap > line.size * 1.8) flush();
          paragraph.push(line.text);
          textParts.push(line.text);
        }
        previous = line;
      }
      flush();
      const md = mdParts.join('\n\n');
      return { page: i + 1, md, text: textParts.join('\n'), items: markdownToBlocks(md).map(blockItem) };
    });
  } catch (error) {
    throw new DocumentError('broken', `The PDF could not be read: ${(error as Error).message}`);
  } finally {
    await document.destroy();
  }
}

function linesOf(items: PdfTextItem[]): PdfLine[] {
  const lines: Array<PdfLine & { parts: Array<{ x: number; str: string }> }> = [];
  for (const item of items) {
    if (item.str.trim() === '') continue;
    const [a = 0, b = 0, , , x = 0, y = 0] = item.transform;
    const size = Math.round(Math.hypot(a, b) * 10) / 10;
    const line = lines.find((l) => Math.abs(l.y - y) < Math.max(2, size * 0.3));
    if (line) {
      line.parts.push({ x, str: item.str });
      line.size = Math.max(line.size, size);
    } else lines.push({ y, size, text: '', parts: [{ x, str: item.str }] });
  }
  // PDF y grows upwards: reading order is top to bottom, then left to right.
  lines.sort((l1, l2) => l2.y - l1.y);
  return lines.map(({ y, size, parts }) => ({
    y,
    size,
    text: parts
      .sort((p1, p2) => p1.x - p2.x)
      .map((p) => p.str)
      .join(' ')
      .replace(/\s+/g, ' ')
      .trim(),
  }));
}

/** Body text is the size with the most characters; clearly larger sizes rank as heading levels. */
function headingLevels(lines: PdfLine[]): (size: number) => number {
  const chars = new Map<number, number>();
  for (const line of lines) chars.set(line.size, (chars.get(line.size) ?? 0) + line.text.length);
  let body = 0;
  let most = -1;
  for (const [size, count] of chars) {
    if (count > most) {
      most = count;
      body = size;
    }
  }
  const headingSizes = [...chars.keys()].filter((s) => s >= body * 1.15).sort((s1, s2) => s2 - s1);
  return (size) => {
    const rank = headingSizes.indexOf(size);
    return rank < 0 ? 0 : Math.min(rank + 1, 6);
  };
}
