/**
 * How many pages a document on disk has, without reading it whole into memory: a PDF's page tree
 * (pdfjs reads the file by ranges), an office file's document properties (`docProps/app.xml`
 * `<Pages>`/`<Slides>`, read from the zip's directory), an image is one page. Anything else, or a
 * file that does not open, is uncounted (undefined): the caller holds its default.
 */
import { once } from 'node:events';
import { open } from 'node:fs/promises';
import yauzl from 'yauzl';
import { loadPdfjs } from './pdf.js';

const IMAGE_EXTENSIONS = new Set('jpg jpeg png gif bmp tiff tif webp svg'.split(' '));
const OFFICE_EXTENSIONS = new Set('docx docm dotx dotm pptx pptm potx potm ppsx xlsx xlsm'.split(' '));
/** app.xml is a few kilobytes; anything much larger is not a document-properties part. */
const APP_XML_LIMIT = 1024 * 1024;

const extensionOf = (name: string) => {
  const dot = name.lastIndexOf('.');
  return dot === -1 ? '' : name.slice(dot + 1).toLowerCase();
};

async function head(path: string, n: number): Promise<Buffer> {
  const file = await open(path, 'r');
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await file.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await file.close();
  }
}

/** The page count of a PDF from its page tree; undefined when pdfjs cannot open it. */
export async function countPdfPages(path: string): Promise<number | undefined> {
  const { getDocument } = await loadPdfjs();
  try {
    const doc = await getDocument({ url: path, verbosity: 0, isEvalSupported: false, disableFontFace: true }).promise;
    try {
      return doc.numPages;
    } finally {
      await doc.destroy();
    }
  } catch {
    return undefined;
  }
}

/** The entry named `name` in the zip's central directory (read one by one, never the whole file). */
async function findEntry(zip: yauzl.ZipFile, name: string): Promise<yauzl.Entry | undefined> {
  for (;;) {
    const ac = new AbortController();
    const next = Promise.race([
      once(zip, 'entry', { signal: ac.signal }).then(([e]) => e as yauzl.Entry),
      once(zip, 'end', { signal: ac.signal }).then(() => undefined),
    ]);
    zip.readEntry();
    const entry = await next.finally(() => ac.abort());
    if (entry === undefined || entry.fileName === name) return entry;
  }
}

async function readText(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<string> {
  const stream = await zip.openReadStreamPromise(entry);
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** `<Pages>` (word processing) or `<Slides>` (presentations) of an office file's docProps/app.xml. */
export async function countOfficePages(path: string): Promise<number | undefined> {
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.openPromise(path, { autoClose: false });
  } catch {
    return undefined;
  }
  try {
    const entry = await findEntry(zip, 'docProps/app.xml');
    if (entry === undefined || entry.uncompressedSize > APP_XML_LIMIT) return undefined;
    const found = /<(?:\w+:)?(Pages|Slides)>\s*(\d+)\s*</.exec(await readText(zip, entry));
    const n = found ? Number(found[2]) : Number.NaN;
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  } finally {
    zip.close();
  }
}

const isImage = (magic: Buffer, ext: string, mimeType: string) =>
  mimeType.startsWith('image/') ||
  IMAGE_EXTENSIONS.has(ext) ||
  magic.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) ||
  (magic[0] === 0xff && magic[1] === 0xd8 && magic[2] === 0xff);

/**
 * The pages of the document at `path` (its name and media type as uploaded), or undefined when
 * they cannot be counted.
 */
export async function countPages(path: string, filename: string, mimeType: string): Promise<number | undefined> {
  const magic = await head(path, 8);
  const ext = extensionOf(filename);
  if (magic.subarray(0, 5).toString('latin1') === '%PDF-') return countPdfPages(path);
  if (magic.subarray(0, 4).equals(Buffer.from('PK\x03\x04', 'latin1'))) {
    return OFFICE_EXTENSIONS.has(ext) || mimeType.includes('officedocument') ? countOfficePages(path) : undefined;
  }
  return isImage(magic, ext, mimeType.toLowerCase()) ? 1 : undefined;
}
