/**
 * PDF: real per-page text through pdfjs-dist, rebuilt into lines in reading order; font sizes
 * clearly larger than the body text become markdown headings.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { markdownItems } from './markdown.js';
import { DocumentError, type ExtractedPage } from './types.js';

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

type PdfDocument = Awaited<ReturnType<Awaited<ReturnType<typeof loadPdfjs>>['getDocument']>['promise']>;

let pdfjs: Promise<typeof import('pdfjs-dist/legacy/build/pdf.mjs')> | undefined;

export function loadPdfjs() {
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

function brokenPdf(error: unknown): DocumentError {
  return new DocumentError('broken', `The PDF could not be read: ${(error as Error).message}`);
}

async function openPdf(bytes: Uint8Array): Promise<PdfDocument> {
  const { getDocument } = await loadPdfjs();
  try {
    // pdfjs transfers (detaches) the buffer it is given, so it gets a copy.
    return await getDocument({
      data: new Uint8Array(bytes),
      verbosity: 0,
      isEvalSupported: false,
      disableFontFace: true,
      useSystemFonts: false,
      standardFontDataUrl: standardFontDataUrl(),
    }).promise;
  } catch (error) {
    throw brokenPdf(error);
  }
}

/** Real per-page text from a PDF, rebuilt into lines; larger font sizes become markdown headings. */
export async function extractPdf(bytes: Uint8Array): Promise<ExtractedPage[]> {
  const document = await openPdf(bytes);
  try {
    const pageLines: PdfLine[][] = [];
    for (let n = 1; n <= document.numPages; n++) pageLines.push(await readPageLines(document, n));
    const headingLevel = headingLevels(pageLines.flat());
    return pageLines.map((lines, i) => pdfPage(lines, headingLevel, i + 1));
  } catch (error) {
    throw brokenPdf(error);
  } finally {
    await document.destroy();
  }
}

async function readPageLines(document: PdfDocument, n: number): Promise<PdfLine[]> {
  const page = await document.getPage(n);
  const content = await page.getTextContent();
  const lines = linesOf(content.items.flatMap((item): PdfTextItem[] => ('str' in item ? [item] : [])));
  page.cleanup();
  return lines;
}

/** One page's lines as markdown (headings, paragraphs split at tall gaps) and as plain text. */
function pdfPage(lines: PdfLine[], headingLevel: (size: number) => number, page: number): ExtractedPage {
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
    } else {
      // A gap clearly taller than one line of text starts a new paragraph.
      if (previous && gap > line.size * 1.8) flush();
      paragraph.push(line.text);
    }
    textParts.push(line.text);
    previous = line;
  }
  flush();
  const md = mdParts.join('\n\n');
  return { page, md, text: textParts.join('\n'), items: markdownItems(md) };
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
