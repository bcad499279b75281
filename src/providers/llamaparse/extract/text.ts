/** Plain text, JSON, and the formats whose content the mock cannot read. */
import { textItem } from './blocks.js';
import { fileExtension } from './detect.js';
import { pageFromMarkdown } from './markdown.js';
import { numbered, splitPages } from './pages.js';
import type { ExtractedPage } from './types.js';

/**
 * Setext headings (a line underlined with === or ---) become ATX headings, because a `---`
 * underline would otherwise read as LlamaParse's default page separator `\n---\n`.
 */
export function setextToAtx(text: string): string {
  return text.replace(/^([^\n]*\S[^\n]*)\n(=+|-+)[ \t]*$/gm, (_all, title: string, bar: string) => {
    return `${bar.startsWith('=') ? '#' : '##'} ${title.trim()}`;
  });
}

/** Plain text keeps its text; its markdown is the text with setext headings made ATX. */
export function plainTextPages(source: string): ExtractedPage[] {
  return numbered(splitPages(source).map((text) => pageFromMarkdown(setextToAtx(text), text)));
}

/** JSON is not read as markdown: each page is one text item, as it stands. */
export function jsonPages(source: string): ExtractedPage[] {
  return numbered(splitPages(source).map((text) => ({ text, md: text, items: [textItem(text, text)] })));
}

/** The one page of a file LlamaCloud accepts but the mock cannot read (office files, images, audio). */
export function opaquePage(filename: string, size: number): ExtractedPage {
  const ext = fileExtension(filename);
  const md = `*The tollgate mock does not read the content of .${ext} files (${size} bytes received).*`;
  const text = md.replace(/\*/g, '');
  return { page: 1, text, md, items: [textItem(text, md)] };
}
