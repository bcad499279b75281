/**
 * HTML to blocks. A tolerant tokenizer, not a full HTML5 parser: enough for documents. Scripts,
 * styles, the head and comments carry no document text and are skipped.
 */
import { type Block, blockMarkdown, blockText, type Inline, type ListBlock, type ListItem } from './blocks.js';
import { decodeEntities } from './entities.js';

const HTML_TOKEN =
  /<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>|<!doctype[^>]*>|<\?[\s\S]*?\?>|<(script|style|noscript|template|head|svg|iframe)\b[^>]*>[\s\S]*?<\/\1\s*>|<(\/?)([a-zA-Z][a-zA-Z0-9-]*)((?:[^>"']|"[^"]*"|'[^']*')*)>|[^<]+|</gi;

const BLOCK_TAGS = new Set(
  'p div section article main header footer nav aside blockquote address figure figcaption form fieldset dl dt dd hr body html center details summary'.split(
    ' ',
  ),
);

/** Inline tags that become markdown marks around their text (the plain text keeps only the text). */
const INLINE_MARKS = new Map([
  ['strong', '**'],
  ['b', '**'],
  ['em', '*'],
  ['i', '*'],
  ['code', '`'],
]);

function attribute(attrs: string, name: string): string | undefined {
  const match = new RegExp(`\\b${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)'|([^\\s>]+))`, 'i').exec(attrs);
  return match ? decodeEntities(match[1] ?? match[2] ?? match[3] ?? '') : undefined;
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

interface TableState {
  rows: string[][];
  cell: Inline | null;
}

/** Reads one document's tokens in order; each kind of tag has its own step. */
class HtmlBlockReader {
  readonly #blocks: Block[] = [];
  #inline: Inline = { text: '', md: '' };
  #heading = 0;
  readonly #lists: Array<{ ordered: boolean; block: ListBlock }> = [];
  #listItem: ListItem | null = null;
  #table: TableState | null = null;
  #pre: string | null = null;
  readonly #links: Array<{ href: string | undefined; start: number }> = [];

  read(html: string): Block[] {
    for (const match of html.matchAll(HTML_TOKEN)) {
      const [token, , slash, rawTag, attrs = ''] = match;
      if (rawTag === undefined) this.#text(token);
      else this.#tag(rawTag.toLowerCase(), slash === '/', attrs);
    }
    this.#closeListItem();
    this.#flushInline();
    return this.#blocks.filter((b) => b.type !== 'list' || b.items.length > 0);
  }

  /** Where inline text goes now: the open table cell, else the open list item, else the paragraph. */
  #target(): Inline {
    return this.#table?.cell ?? this.#listItem ?? this.#inline;
  }

  #append(text: string, md = text): void {
    const into = this.#target();
    into.text += text;
    into.md += md;
  }

  #text(token: string): void {
    if (token.startsWith('<!--') || token.startsWith('<!') || token.startsWith('<?') || /^<[a-z]/i.test(token)) {
      return; // comments, doctype, and script/style/head blocks carry no document text
    }
    const text = decodeEntities(token);
    if (this.#pre !== null) this.#pre += text;
    else this.#append(text, escapeMarkdown(text));
  }

  #tag(tag: string, closing: boolean, attrs: string): void {
    if (this.#pre !== null && !(tag === 'pre' && closing)) return;
    const mark = INLINE_MARKS.get(tag);
    if (/^h[1-6]$/.test(tag)) this.#headingTag(tag, closing);
    else if (tag === 'br') this.#append('\n', '  \n');
    else if (tag === 'pre') this.#preTag(closing);
    else if (tag === 'ul' || tag === 'ol') this.#listTag(tag, closing);
    else if (tag === 'li') this.#listItemTag(closing);
    else if (tag === 'table') this.#tableTag(closing);
    else if (tag === 'tr' && this.#table) this.#rowTag(this.#table, closing);
    else if ((tag === 'td' || tag === 'th') && this.#table) this.#cellTag(this.#table, closing);
    else if (tag === 'a') this.#linkTag(closing, attrs);
    else if (mark !== undefined) this.#append('', mark);
    else if (tag === 'img') this.#imageTag(closing, attrs);
    else if (BLOCK_TAGS.has(tag)) this.#blockTag();
  }

  #flushInline(): void {
    const text = collapse(this.#inline.text);
    const md = collapse(this.#inline.md);
    this.#inline = { text: '', md: '' };
    if (text === '' && md === '') return;
    if (this.#heading > 0) this.#blocks.push({ type: 'heading', level: this.#heading, text, md });
    else this.#blocks.push({ type: 'text', text, md });
  }

  #headingTag(tag: string, closing: boolean): void {
    this.#flushInline();
    this.#heading = closing ? 0 : Number(tag[1]);
  }

  #preTag(closing: boolean): void {
    if (!closing) {
      this.#flushInline();
      this.#pre = '';
    } else {
      this.#blocks.push({ type: 'code', text: (this.#pre ?? '').replace(/^\n|\n$/g, '') });
      this.#pre = null;
    }
  }

  #listTag(tag: 'ul' | 'ol', closing: boolean): void {
    if (closing) {
      this.#closeListItem();
      this.#lists.pop();
      return;
    }
    // A nested list opens inside an <li>: that item's own text comes before its children.
    if (this.#lists.length === 0) this.#flushInline();
    else this.#closeListItem();
    const parent = this.#lists[this.#lists.length - 1];
    const block = parent?.block ?? { type: 'list' as const, ordered: tag === 'ol', items: [] };
    if (!parent) this.#blocks.push(block);
    this.#lists.push({ ordered: tag === 'ol', block });
  }

  #listItemTag(closing: boolean): void {
    this.#closeListItem();
    if (!closing) this.#listItem = { text: '', md: '', depth: Math.max(0, this.#lists.length - 1) };
  }

  #closeListItem(): void {
    if (!this.#listItem) return;
    const list = this.#lists[this.#lists.length - 1];
    const item = { ...this.#listItem, text: collapse(this.#listItem.text), md: collapse(this.#listItem.md) };
    if (list && (item.text !== '' || item.md !== '')) list.block.items.push(item);
    this.#listItem = null;
  }

  #tableTag(closing: boolean): void {
    if (!closing) {
      this.#flushInline();
      this.#table = { rows: [], cell: null };
    } else if (this.#table) {
      this.#closeCell(this.#table);
      const rows = this.#table.rows.filter((r) => r.length > 0);
      if (rows.length > 0) this.#blocks.push({ type: 'table', rows });
      this.#table = null;
    }
  }

  #rowTag(table: TableState, closing: boolean): void {
    this.#closeCell(table);
    if (!closing) table.rows.push([]);
  }

  #cellTag(table: TableState, closing: boolean): void {
    this.#closeCell(table);
    if (closing) return;
    if (table.rows.length === 0) table.rows.push([]);
    table.cell = { text: '', md: '' };
  }

  #closeCell(table: TableState): void {
    if (!table.cell) return;
    table.rows[table.rows.length - 1]?.push(collapse(table.cell.text));
    table.cell = null;
  }

  /** A link's label is what was appended since it opened; a javascript: link keeps the bare label. */
  #linkTag(closing: boolean, attrs: string): void {
    if (!closing) {
      this.#links.push({ href: attribute(attrs, 'href'), start: this.#target().md.length });
      return;
    }
    const link = this.#links.pop();
    const into = this.#target();
    if (link?.href && !link.href.startsWith('javascript:')) {
      const label = into.md.slice(link.start);
      into.md = `${into.md.slice(0, link.start)}[${label.trim()}](${link.href})`;
    }
  }

  #imageTag(closing: boolean, attrs: string): void {
    if (closing) return;
    const alt = attribute(attrs, 'alt');
    if (alt) this.#append(alt, `![${alt}](${attribute(attrs, 'src') ?? ''})`);
  }

  /** A block tag ends a paragraph, but inside a cell or list item it only separates words. */
  #blockTag(): void {
    if (this.#table?.cell || this.#listItem) this.#append(' ');
    else this.#flushInline();
  }
}

export function htmlToBlocks(html: string): Block[] {
  return new HtmlBlockReader().read(html);
}

/** Markdown and plain text of an HTML document (one string each, pages joined by blank lines). */
export function htmlToMarkdown(html: string): string {
  return htmlToBlocks(html).map(blockMarkdown).join('\n\n');
}

export function htmlToText(html: string): string {
  return htmlToBlocks(html).map(blockText).join('\n\n');
}
