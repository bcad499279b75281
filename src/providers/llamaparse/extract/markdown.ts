/**
 * Markdown: a small block parser (ATX and setext headings, fenced code, pipe tables, lists,
 * paragraphs) and the plain text of inline markdown.
 */
import { type Block, blockItem, blockText } from './blocks.js';
import { numbered, splitPages } from './pages.js';
import type { ExtractedPage, PageBody, PageItem } from './types.js';

const ATX = /^(#{1,6})\s+(.*?)\s*#*\s*$/;
const SETEXT_UNDERLINE = /^(=+|-+)\s*$/;
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

/** The code of a fence opening at `start`, and the index of its closing line (or the end). */
function readFence(lines: string[], start: number): { block: Block; end: number } {
  const code: string[] = [];
  let i = start + 1;
  for (; i < lines.length && !lines[i]!.trimStart().startsWith('```'); i++) code.push(lines[i]!);
  return { block: { type: 'code', text: code.join('\n') }, end: i };
}

/** The pipe table whose header is at `start` (its separator follows), and the index of its last row. */
function readTable(lines: string[], start: number): { block: Block; end: number } {
  const rows = [splitTableRow(lines[start]!)];
  let i = start + 2;
  for (; i < lines.length && lines[i]!.includes('|') && lines[i]!.trim() !== ''; i++)
    rows.push(splitTableRow(lines[i]!));
  return { block: { type: 'table', rows }, end: i - 1 };
}

function isTableStart(line: string, next: string | undefined): boolean {
  return line.includes('|') && next !== undefined && TABLE_SEPARATOR.test(next) && next.includes('-');
}

/** Adds a list item to the list just before it, or opens a list when a blank line or other block came between. */
function addListItem(blocks: Block[], item: RegExpExecArray, previousLine: string | undefined): void {
  const ordered = /\d/.test(item[2]!);
  const last = blocks[blocks.length - 1];
  const entry = { md: item[3]!, text: inlineMarkdownToText(item[3]!), depth: Math.floor(item[1]!.length / 2) };
  if (last?.type === 'list' && previousLine?.trim() !== '') last.items.push(entry);
  else blocks.push({ type: 'list', ordered, items: [entry] });
}

/** Blocks of a markdown text, line by line; a paragraph runs until a blank line or another block. */
export function markdownToBlocks(md: string): Block[] {
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
    if (line.trim() !== '' && paragraph.length === 0 && next !== undefined && SETEXT_UNDERLINE.test(next)) {
      blocks.push({ type: 'heading', level: next.startsWith('=') ? 1 : 2, md: line.trim(), text: line.trim() });
      i++;
      continue;
    }
    const reader = line.trimStart().startsWith('```') ? readFence : isTableStart(line, next) ? readTable : undefined;
    if (reader) {
      flush();
      const { block, end } = reader(lines, i);
      blocks.push(block);
      i = end;
      continue;
    }
    const item = LIST_ITEM.exec(line);
    if (item && paragraph.length === 0) {
      addListItem(blocks, item, lines[i - 1]);
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

/** The JSON items of a markdown page. */
export function markdownItems(md: string): PageItem[] {
  return markdownToBlocks(md).map(blockItem);
}

export function pageFromMarkdown(md: string, text: string): PageBody {
  return { text, md, items: markdownItems(md) };
}

/** A markdown file keeps its markdown; its text is the markdown's plain text. */
export function markdownPages(source: string): ExtractedPage[] {
  return numbered(splitPages(source).map((md) => pageFromMarkdown(md, markdownToText(md))));
}
