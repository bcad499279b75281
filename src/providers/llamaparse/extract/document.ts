/**
 * From an uploaded file to pages: detect the format, then hand the bytes (PDF) or the decoded
 * text (every text-based format) to that format's reader.
 */
import { csvPages } from './csv.js';
import { detectFormat, fileExtension } from './detect.js';
import { htmlToBlocks } from './html.js';
import { markdownPages } from './markdown.js';
import { pagesFromBlocks } from './pages.js';
import { extractPdf } from './pdf.js';
import { jsonPages, opaquePage, plainTextPages } from './text.js';
import { DocumentError, type DocumentFormat, type ExtractedPage, type Extraction } from './types.js';

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
      return markdownPages(source);
    case 'json':
      return jsonPages(source);
    default:
      return plainTextPages(source);
  }
}
