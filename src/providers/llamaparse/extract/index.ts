/**
 * Text extraction for the LlamaParse mock: turns an uploaded file into pages of plain text,
 * markdown and LlamaParse-style JSON items, so mock results are drawn from the document itself.
 *
 * Formats: PDF (pdfjs-dist, real per-page text and page count), markdown, plain text, HTML,
 * CSV/TSV, JSON, and other text-like files. Formats that LlamaCloud accepts but that need OCR or
 * an office-file reader (docx, pptx, images, audio…) yield one placeholder page, so pipelines keep
 * flowing; files LlamaCloud refuses (executables, archives, empty files) raise a DocumentError.
 * Each format has its own file here; this one is the public face.
 */
export { countOfficePages, countPages, countPdfPages } from './count.js';
export { csvPages, parseCsv } from './csv.js';
export { detectFormat, fileExtension } from './detect.js';
export { extractDocument, extractText } from './document.js';
export { decodeEntities } from './entities.js';
export { htmlToMarkdown, htmlToText } from './html.js';
export { inlineMarkdownToText, markdownToText } from './markdown.js';
export { splitPages } from './pages.js';
export {
  CHARS_PER_PAGE,
  DocumentError,
  type DocumentErrorKind,
  type DocumentFormat,
  type ExtractedPage,
  type Extraction,
  type PageItem,
} from './types.js';
