/** Pagination for formats that have no pages of their own, and numbering of the pages made. */
import { type Block, blockItem, blockMarkdown, blockText } from './blocks.js';
import { CHARS_PER_PAGE, type ExtractedPage, type PageBody } from './types.js';

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

export function numbered(pages: PageBody[]): ExtractedPage[] {
  return pages.map((body, i) => ({ page: i + 1, ...body }));
}

/** One page made of whole blocks, separated by blank lines. */
export function pageOfBlocks(blocks: Block[], page: number): ExtractedPage {
  return {
    page,
    md: blocks.map(blockMarkdown).join('\n\n'),
    text: blocks.map(blockText).join('\n\n'),
    items: blocks.map(blockItem),
  };
}

/** Blocks laid onto pages of about `size` characters of markdown; a block is never cut. */
export function pagesFromBlocks(blocks: Block[], size = CHARS_PER_PAGE): ExtractedPage[] {
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
  return pages.map((page, i) => pageOfBlocks(page, i + 1));
}
