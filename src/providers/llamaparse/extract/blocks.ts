/**
 * Blocks: the model every text-based format is read into (headings, paragraphs, lists, tables,
 * code), and how a block renders as markdown, plain text and a LlamaParse JSON item.
 */
import type { PageItem } from './types.js';

export interface Inline {
  text: string;
  md: string;
}

export type ListItem = Inline & { depth: number };

export type ListBlock = { type: 'list'; ordered: boolean; items: ListItem[] };

export type Block =
  | { type: 'heading'; level: number; text: string; md: string }
  | { type: 'text'; text: string; md: string }
  | ListBlock
  | { type: 'table'; rows: string[][] }
  | { type: 'code'; text: string };

export function blockMarkdown(block: Block): string {
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
function listMarkdown(block: ListBlock): string {
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

export function blockText(block: Block): string {
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

export function textItem(value: string, md: string): PageItem {
  return { type: 'text', value, md };
}

export function blockItem(block: Block): PageItem {
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

function escapeCell(cell: string): string {
  return cell.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}

/** A pipe table, every row padded to the widest one; the first row is the header. */
function tableMarkdown(rows: string[][]): string {
  const width = Math.max(1, ...rows.map((r) => r.length));
  const pad = (row: string[]) => Array.from({ length: width }, (_, i) => escapeCell(row[i] ?? ''));
  const [head = [], ...body] = rows;
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(pad(head)), line(Array(width).fill('---')), ...body.map((r) => line(pad(r)))].join('\n');
}

/** A table item's `csv`: quoted only where a cell holds a quote, a comma or a line break. */
function toCsv(rows: string[][]): string {
  const quote = (cell: string) => (/[",\n]/.test(cell) ? `"${cell.replace(/"/g, '""')}"` : cell);
  return rows.map((row) => row.map(quote).join(',')).join('\n');
}
