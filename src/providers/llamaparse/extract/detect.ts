/**
 * Which format an uploaded file is: from its extension, and when that says nothing, from its first
 * bytes. Files LlamaCloud refuses (executables, archives) are refused here.
 */
import { DocumentError, type DocumentFormat } from './types.js';

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
