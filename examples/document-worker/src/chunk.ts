/**
 * Markdown → chunks for embedding. Pure: no I/O, no clock, so every rule here is unit-tested.
 *
 * Headings come first: a chunk never spans two heading sections (a heading with no body of its
 * own travels with the section after it). A section longer than `maxChars` is cut at the best
 * break inside the window — blank line, line end, sentence end, then any whitespace — and only
 * cut inside a word when a single word is longer than the window. Consecutive pieces of one
 * section overlap by about `overlapChars`, starting on a word boundary.
 *
 * @example
 * const chunks = chunkMarkdown('# Guide\n\nSome text.', { maxChars: 1500, overlapChars: 150 });
 * // [{ index: 0, text: '# Guide\n\nSome text.', headingPath: ['Guide'], charStart: 0, charEnd: 19 }]
 */

export interface ChunkOptions {
  /** Upper bound on a chunk's length, in UTF-16 code units (what `String.length` counts). */
  maxChars?: number;
  /** How much of the previous piece of the same section a piece repeats. Below maxChars / 2. */
  overlapChars?: number;
}

export interface Chunk {
  index: number;
  /** Exactly `markdown.slice(charStart, charEnd)`: trimmed, never empty. */
  text: string;
  /** Titles of the enclosing headings, outermost first (empty before the first heading). */
  headingPath: string[];
  charStart: number;
  charEnd: number;
}

export const DEFAULT_MAX_CHARS = 1500;
export const DEFAULT_OVERLAP_CHARS = 150;

export function chunkMarkdown(
  markdown: string,
  { maxChars = DEFAULT_MAX_CHARS, overlapChars = DEFAULT_OVERLAP_CHARS }: ChunkOptions = {},
): Chunk[] {
  if (!Number.isInteger(maxChars) || maxChars < 1) throw new RangeError(`maxChars must be a positive integer`);
  if (!Number.isInteger(overlapChars) || overlapChars < 0 || overlapChars * 2 >= maxChars) {
    throw new RangeError(`overlapChars must be an integer in [0, maxChars / 2)`);
  }
  const chunks: Chunk[] = [];
  for (const section of headingSections(markdown)) {
    for (const [start, end] of boundedPieces(markdown, section.start, section.end, maxChars, overlapChars)) {
      chunks.push({
        index: chunks.length,
        text: markdown.slice(start, end),
        headingPath: section.headingPath,
        charStart: start,
        charEnd: end,
      });
    }
  }
  return chunks;
}

export interface Section {
  start: number;
  end: number;
  headingPath: string[];
}

const ATX_HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
const FENCE = /^ {0,3}(`{3,}|~{3,})/;

/**
 * Splits at ATX headings (`#` … `######`) outside fenced code blocks. The text before the first
 * heading is a section with an empty path. A section that holds only its heading line is merged
 * into the next one, so a title directly followed by a subtitle does not become a chunk of its own.
 */
export function headingSections(markdown: string): Section[] {
  const heads: { start: number; bodyStart: number; level: number; title: string }[] = [];
  let fence: string | undefined;
  let offset = 0;
  for (const rawLine of markdown.split('\n')) {
    const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    const lineStart = offset;
    offset += rawLine.length + 1;
    const fenceMatch = FENCE.exec(line);
    if (fence !== undefined) {
      if (
        fenceMatch &&
        fenceMatch[1]![0] === fence[0] &&
        fenceMatch[1]!.length >= fence.length &&
        isBlank(line.slice(fenceMatch[0].length))
      ) {
        fence = undefined;
      }
      continue;
    }
    if (fenceMatch) {
      fence = fenceMatch[1]!;
      continue;
    }
    const heading = ATX_HEADING.exec(line);
    const title = heading?.[2]?.trim();
    if (heading && title) {
      heads.push({ start: lineStart, bodyStart: Math.min(offset, markdown.length), level: heading[1]!.length, title });
    }
  }

  const sections: Section[] = [];
  const firstStart = heads[0]?.start ?? markdown.length;
  if (!isBlank(markdown.slice(0, firstStart))) sections.push({ start: 0, end: firstStart, headingPath: [] });
  const stack: { level: number; title: string }[] = [];
  let carriedStart: number | undefined;
  heads.forEach((head, i) => {
    while (stack.length > 0 && stack[stack.length - 1]!.level >= head.level) stack.pop();
    stack.push(head);
    const end = heads[i + 1]?.start ?? markdown.length;
    const start = carriedStart ?? head.start;
    const isLast = i === heads.length - 1;
    if (isBlank(markdown.slice(head.bodyStart, end)) && !isLast) {
      carriedStart = start;
      return;
    }
    carriedStart = undefined;
    sections.push({ start, end, headingPath: stack.map((h) => h.title) });
  });
  return sections;
}

/**
 * Cuts `[start, end)` into trimmed ranges of at most `maxChars`, each starting `overlapChars`
 * (or a little less, to land on a word) before the previous one ended.
 */
export function boundedPieces(
  text: string,
  start: number,
  end: number,
  maxChars: number,
  overlapChars: number,
): [number, number][] {
  let [from, to] = trimRange(text, start, end);
  const pieces: [number, number][] = [];
  while (from < to) {
    if (to - from <= maxChars) {
      pieces.push([from, to]);
      break;
    }
    const cut = breakPoint(text, from, from + maxChars);
    const [pieceStart, pieceEnd] = trimRange(text, from, cut);
    if (pieceStart < pieceEnd) pieces.push([pieceStart, pieceEnd]);
    let next = Math.max(cut - overlapChars, from + 1);
    while (next < cut && !(isSpace(text[next - 1]) && !isSpace(text[next]))) next++;
    [from, to] = trimRange(text, next, to);
  }
  return pieces;
}

/**
 * Where to end a piece that starts at `from` and may not reach past `limit` (exclusive end).
 * Structural breaks only count in the window's second half, so pieces do not come out tiny.
 */
function breakPoint(text: string, from: number, limit: number): number {
  const halfway = from + Math.ceil((limit - from) / 2);
  const rules: [number, (p: number) => boolean][] = [
    [halfway, (p) => text[p] === '\n' && text[p + 1] === '\n'],
    [halfway, (p) => text[p] === '\n'],
    [halfway, (p) => isSpace(text[p]) && /[.!?]["')\]]?$/.test(text.slice(Math.max(from, p - 2), p))],
    [from + 1, (p) => isSpace(text[p])],
  ];
  for (const [lowest, matches] of rules) {
    for (let p = limit; p >= lowest; p--) if (matches(p)) return p;
  }
  // One word longer than the window: cut it, but not between the halves of a surrogate pair.
  const code = text.charCodeAt(limit - 1);
  return code >= 0xd800 && code <= 0xdbff && limit - 1 > from ? limit - 1 : limit;
}

function trimRange(text: string, start: number, end: number): [number, number] {
  while (start < end && isSpace(text[start])) start++;
  while (end > start && isSpace(text[end - 1])) end--;
  return [start, end];
}

function isSpace(ch: string | undefined): boolean {
  return ch !== undefined && /\s/.test(ch);
}

function isBlank(text: string): boolean {
  return text.trim() === '';
}

// --- pages ---------------------------------------------------------------------------------

/**
 * The page prefix the worker asks LlamaParse to put before every page (`page_prefix` supports
 * `{pageNumber}`), so chunks can name the pages they came from.
 */
export const PAGE_MARKER_TEMPLATE = '<!-- document-worker:page {pageNumber} -->\n';
const PAGE_MARKER = /<!-- document-worker:page (\d+) -->\n?/g;

export interface PagedMarkdown {
  /** The markdown with the page markers removed; chunk offsets point into this text. */
  markdown: string;
  /** Where each page starts in `markdown`, in order. Empty when the result carried no markers. */
  pageStarts: { page: number; offset: number }[];
}

export function removePageMarkers(marked: string): PagedMarkdown {
  const pageStarts: { page: number; offset: number }[] = [];
  let markdown = '';
  let last = 0;
  for (const match of marked.matchAll(PAGE_MARKER)) {
    markdown += marked.slice(last, match.index);
    pageStarts.push({ page: Number(match[1]), offset: markdown.length });
    last = match.index + match[0].length;
  }
  markdown += marked.slice(last);
  return { markdown, pageStarts };
}

/** The pages a range `[start, end)` of the markdown overlaps, ascending. */
export function pagesOf(pageStarts: PagedMarkdown['pageStarts'], start: number, end: number): number[] {
  const pages: number[] = [];
  pageStarts.forEach(({ page, offset }, i) => {
    const pageEnd = pageStarts[i + 1]?.offset ?? Number.POSITIVE_INFINITY;
    if (offset < Math.max(end, start + 1) && pageEnd > start) pages.push(page);
  });
  return pages;
}
