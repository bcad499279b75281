/**
 * fast-check arbitraries for LlamaParse uploads: documents of every format the mock reads (text,
 * markdown, CSV, HTML, PDF), v1 form options (tier, parse_mode and legacy flags, page selection,
 * separators) and v2 configurations (tier, version, page_ranges, expand).
 */
import fc from 'fast-check';
import { pdfOf } from '../../support/parse.js';

export interface Doc {
  name: string;
  type: string;
  bytes: Uint8Array;
}

const TIERS = ['fast', 'cost_effective', 'agentic', 'agentic_plus'] as const;
const PARSE_MODES = [
  'parse_page_without_llm',
  'parse_page_with_llm',
  'parse_page_with_agent',
  'parse_document_with_agent',
];

const paragraphs = fc.array(
  fc.lorem({ maxCount: 10 }).filter((s) => s.trim() !== ''),
  { minLength: 1, maxLength: 5 },
);
const utf8 = (text: string) => new TextEncoder().encode(text);

/** PDFs of 1…4 pages, written once (pdf-lib is slow enough to matter per case). */
export async function makePdfs(): Promise<Uint8Array[]> {
  return Promise.all([1, 2, 3, 4].map((n) => pdfOf(n)));
}

export function document(pdfs: Uint8Array[]): fc.Arbitrary<Doc> {
  return fc.oneof(
    paragraphs.map((ps) => ({ name: 'notes.txt', type: 'text/plain', bytes: utf8(ps.join('\n')) })),
    paragraphs.map((ps) => ({ name: 'notes.md', type: 'text/markdown', bytes: utf8(`# Notes\n\n${ps.join('\n\n')}`) })),
    paragraphs.map((ps) => ({
      name: 'table.csv',
      type: 'text/csv',
      bytes: utf8(`line,text\n${ps.map((p, i) => `${i + 1},"${p}"`).join('\n')}`),
    })),
    paragraphs.map((ps) => ({
      name: 'page.html',
      type: 'text/html',
      bytes: utf8(`<html><body><h1>Page</h1>${ps.map((p) => `<p>${p}</p>`).join('')}</body></html>`),
    })),
    fc.integer({ min: 0, max: pdfs.length - 1 }).map((i) => ({
      name: `report-${i + 1}.pdf`,
      type: 'application/pdf',
      bytes: pdfs[i] as Uint8Array,
    })),
  );
}

/** v1 upload form fields (every value a string, as the official reader sends them). */
export const v1Fields: fc.Arbitrary<Record<string, string>> = fc
  .record({
    mode: fc.oneof(
      fc.constant({}),
      fc.constantFrom(...TIERS).map((tier) => ({ tier })),
      fc.constantFrom(...PARSE_MODES).map((parse_mode) => ({ parse_mode })),
      fc.constantFrom({ premium_mode: 'true' }, { fast_mode: 'true' }, { use_vendor_multimodal_model: 'true' }),
    ),
    pages: fc.record(
      {
        max_pages: fc.integer({ min: 1, max: 3 }).map(String),
        target_pages: fc.constantFrom('0', '0,1', '0-1'),
      },
      { requiredKeys: [] },
    ),
    layout: fc.record(
      {
        page_separator: fc.constantFrom('\n---\n', '\n\n<<{pageNumber}>>\n\n'),
        page_prefix: fc.constantFrom('', 'START {pageNumber}\n'),
        page_suffix: fc.constantFrom('', '\nEND {pageNumber}'),
      },
      { requiredKeys: [] },
    ),
  })
  .map(({ mode, pages, layout }) => {
    const fields: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...mode, ...pages, ...layout })) if (v !== undefined) fields[k] = v;
    return fields;
  });

export const V2_EXPAND = [
  'markdown',
  'markdown_full',
  'text',
  'text_full',
  'items',
  'metadata',
  'forms',
  'job_metadata',
  'usage',
  'images_content_metadata',
  'text_content_metadata',
  'markdown_content_metadata',
  'items_content_metadata',
  'metadata_content_metadata',
  'forms_content_metadata',
  'raw_words_content_metadata',
  'xlsx_content_metadata',
  'output_pdf_content_metadata',
] as const;

/** A v2 configuration (`tier` and `version` required, as LlamaCloud requires them) and an `expand` list. */
export const v2Request = fc.record({
  configuration: fc.record(
    {
      tier: fc.constantFrom(...TIERS),
      version: fc.constantFrom('latest', '2025-12-11'),
      page_ranges: fc.record(
        { max_pages: fc.integer({ min: 1, max: 3 }), target_pages: fc.constantFrom('1', '1,2', '1-2') },
        { requiredKeys: [] },
      ),
    },
    { requiredKeys: ['tier', 'version'] },
  ),
  expand: fc.subarray([...V2_EXPAND]),
  viaFileId: fc.boolean(),
});

export function formOf(doc: Doc, fields: Record<string, string>): FormData {
  const form = new FormData();
  form.append('file', new Blob([Buffer.from(doc.bytes)], { type: doc.type }), doc.name);
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  return form;
}
