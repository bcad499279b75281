/** The shapes every format's extraction produces, and the error for documents that cannot be read. */

export type DocumentFormat = 'pdf' | 'markdown' | 'text' | 'html' | 'csv' | 'json' | 'opaque';

/** One parsed item of a page, in the shape of LlamaParse's JSON result (`pages[].items[]`). */
export type PageItem =
  | { type: 'heading'; lvl: number; value: string; md: string }
  | { type: 'text'; value: string; md: string }
  | { type: 'table'; rows: string[][]; md: string; isPerfectTable: boolean; csv: string };

export interface ExtractedPage {
  /** 1-based page number. */
  page: number;
  text: string;
  md: string;
  items: PageItem[];
}

/** A page before it is numbered. */
export type PageBody = Omit<ExtractedPage, 'page'>;

export interface Extraction {
  format: DocumentFormat;
  pages: ExtractedPage[];
}

export type DocumentErrorKind = 'empty' | 'unsupported' | 'broken';

/** A document LlamaCloud would refuse (`empty`, `unsupported`, at upload) or fail to parse (`broken`, job ERROR). */
export class DocumentError extends Error {
  override readonly name = 'DocumentError';
  readonly kind: DocumentErrorKind;
  constructor(kind: DocumentErrorKind, message: string) {
    super(message);
    this.kind = kind;
  }
}

/** Characters per synthetic page for formats that have no pages of their own (about one printed page). */
export const CHARS_PER_PAGE = 3000;
