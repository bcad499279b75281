/**
 * The mock's parse jobs and the response bodies built from them, in LlamaCloud's v1 and v2 shapes
 * (v1: `ParsingJob`, `ParsingJobMarkdownResult`, `…TextResult`, `…JsonResult`; v2: `ParsingGetResponse`).
 */
import type { ExtractedPage, PageItem } from '../extract/index.js';
import { type ParseTier, TIER_CREDITS_PER_PAGE } from './tiers.js';

export type V1Status = 'PENDING' | 'SUCCESS' | 'ERROR';
export type V2Status = 'PENDING' | 'RUNNING' | 'COMPLETED' | 'FAILED' | 'CANCELLED';

export interface JobFailure {
  code: string;
  message: string;
}

export interface MockJob {
  id: string;
  api: 'v1' | 'v2';
  createdAt: number;
  /** When the job leaves PENDING; fixed at creation, so a settings reload does not move running jobs. */
  readyAt: number;
  tier: ParseTier;
  version: string;
  fileName: string;
  projectId: string;
  /** The pages the job parses (after target_pages / max_pages), with their original page numbers. */
  pages: ExtractedPage[];
  failure: JobFailure | undefined;
  pageSeparator: string;
  pagePrefix: string;
  pageSuffix: string;
  bookedAt: number | undefined;
}

export function v1Status(job: MockJob, now: number): V1Status {
  if (now < job.readyAt) return 'PENDING';
  return job.failure ? 'ERROR' : 'SUCCESS';
}

/** v2 shows RUNNING for the second half of the parse delay, as a real job moves from queue to worker. */
export function v2Status(job: MockJob, now: number): V2Status {
  if (now < job.readyAt) return now < job.createdAt + (job.readyAt - job.createdAt) / 2 ? 'PENDING' : 'RUNNING';
  return job.failure ? 'FAILED' : 'COMPLETED';
}

/** Failed jobs are not billed; a finished one costs its parsed pages at the tier's rate. */
export function jobCredits(job: MockJob): number {
  return job.failure ? 0 : job.pages.length * TIER_CREDITS_PER_PAGE[job.tier];
}

export function jobMetadata(job: MockJob) {
  const credits = jobCredits(job);
  return {
    credits_used: credits,
    job_credits_usage: credits,
    job_pages: job.failure ? 0 : job.pages.length,
    job_auto_mode_triggered_pages: 0,
    job_is_cache_hit: false,
  };
}

// --- v1 ------------------------------------------------------------------------------------

export function v1JobBody(job: MockJob, now: number) {
  const status = v1Status(job, now);
  return {
    id: job.id,
    status,
    error_code: status === 'ERROR' ? (job.failure?.code ?? null) : null,
    error_message: status === 'ERROR' ? (job.failure?.message ?? null) : null,
  };
}

function decorate(job: MockJob, page: ExtractedPage, content: string): string {
  const fill = (template: string) => template.replaceAll('{pageNumber}', String(page.page));
  return fill(job.pagePrefix) + content + fill(job.pageSuffix);
}

/**
 * Pages joined the way LlamaCloud joins them: with `page_separator` (default `\n---\n`, which is
 * also what LlamaParseReader splits on), each page wrapped in `page_prefix`/`page_suffix`.
 */
function joinPages(job: MockJob, pick: (page: ExtractedPage) => string): string {
  return job.pages
    .map((page, i) => {
      const separator = i === 0 ? '' : job.pageSeparator.replaceAll('{pageNumber}', String(page.page));
      return separator + decorate(job, page, pick(page));
    })
    .join('');
}

/** The fast tier outputs spatial text only: its "markdown" is the text. */
function pageMarkdown(job: MockJob, page: ExtractedPage): string {
  return job.tier === 'fast' ? page.text : page.md;
}

export function v1MarkdownBody(job: MockJob) {
  return { markdown: joinPages(job, (page) => pageMarkdown(job, page)), job_metadata: jobMetadata(job) };
}

export function v1TextBody(job: MockJob) {
  return { text: joinPages(job, (page) => page.text), job_metadata: jobMetadata(job) };
}

export function v1JsonBody(job: MockJob) {
  return {
    pages: job.pages.map((page) => ({
      page: page.page,
      text: page.text,
      md: pageMarkdown(job, page),
      images: [],
      charts: [],
      tables: [],
      layout: [],
      items: page.items,
      status: 'OK',
      links: [],
      width: 612,
      height: 792,
      triggeredAutoMode: false,
      parsingMode: V1_PARSING_MODE[job.tier],
      structuredData: null,
      noStructuredContent: false,
      noTextContent: page.text.trim() === '',
    })),
    job_metadata: jobMetadata(job),
  };
}

const V1_PARSING_MODE: Record<ParseTier, string> = {
  fast: 'parse_page_without_llm',
  cost_effective: 'parse_page_with_llm',
  agentic: 'parse_page_with_agent',
  agentic_plus: 'parse_page_with_layout_agent',
};

export function v1DetailsBody(job: MockJob, now: number) {
  const status = v1Status(job, now);
  return {
    ...v1JobBody(job, now),
    file_name: job.fileName,
    tier: job.tier,
    created_at: new Date(job.createdAt).toISOString(),
    ...(status === 'SUCCESS' ? { job_metadata: jobMetadata(job) } : {}),
  };
}

// --- v2 ------------------------------------------------------------------------------------

export function v2JobObject(job: MockJob, now: number) {
  const status = v2Status(job, now);
  const done = status === 'COMPLETED' || status === 'FAILED';
  return {
    id: job.id,
    project_id: job.projectId,
    status,
    name: job.fileName,
    tier: job.tier,
    created_at: new Date(job.createdAt).toISOString(),
    updated_at: new Date(done ? job.readyAt : job.createdAt).toISOString(),
    error_message: status === 'FAILED' ? (job.failure?.message ?? null) : null,
  };
}

/** Result files LlamaCloud describes with `<name>_content_metadata` (size and a presigned URL). */
const CONTENT_METADATA = ['text', 'markdown', 'items', 'metadata', 'forms', 'raw_words', 'xlsx', 'output_pdf'] as const;

/** Every `expand` value the SDK documents for `GET /api/v2/parse/{id}` (`@llamaindex/llama-cloud` 2.16.0). */
export const V2_EXPAND_VALUES = [
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
  ...CONTENT_METADATA.map((name) => `${name}_content_metadata` as const),
] as const;

/**
 * `GET /api/v2/parse/{id}`: `job` always; content only when `expand` asks for it and the job is
 * COMPLETED. `job_metadata` (credits, pages) comes with any expanded content so metering can read
 * it from the same answer.
 */
export function v2GetBody(job: MockJob, now: number, expand: ReadonlySet<string>) {
  const done = v2Status(job, now) === 'COMPLETED';
  // `usage`: the credits billed against the job, null until the job is billed.
  const jobObject = v2JobObject(job, now);
  const body: Record<string, unknown> = {
    job: expand.has('usage') ? { ...jobObject, usage: { credits: done ? jobCredits(job) : null } } : jobObject,
  };
  if (!done || expand.size === 0) return body;
  const results = v2Results(job);
  for (const name of Object.keys(results) as (keyof typeof results)[]) {
    if (expand.has(name)) body[name] = results[name]();
  }
  Object.assign(body, contentMetadata(expand, results));
  body.job_metadata = jobMetadata(job);
  return body;
}

/** What a finished job can expand to, each made only when asked for. */
function v2Results(job: MockJob) {
  const pageNumbers = (extra: (page: MockJob['pages'][number]) => Record<string, unknown>) =>
    job.pages.map((page) => ({ page_number: page.page, ...extra(page) }));
  return {
    markdown: () => ({ pages: pageNumbers((page) => ({ markdown: pageMarkdown(job, page), success: true })) }),
    markdown_full: () => job.pages.map((page) => pageMarkdown(job, page)).join('\n\n'),
    text: () => ({ pages: pageNumbers((page) => ({ text: page.text })) }),
    text_full: () => job.pages.map((page) => page.text).join('\n\n'),
    items: () => ({
      pages: pageNumbers((page) => ({
        page_width: 612,
        page_height: 792,
        items: page.items.map(v2Item),
        success: true,
      })),
    }),
    metadata: () => ({
      pages: pageNumbers(() => ({ confidence: 1, cost_optimized: false })),
      document: { page_count: job.pages.length },
    }),
    forms: () => ({ pages: pageNumbers(() => ({ forms: [], success: true })) }),
  };
}

/**
 * A page item in v2's `items` shape, which is not v1's: a heading's level is `level` (v1 `lvl`), a
 * table carries `html` beside `csv` and `md` (the client's TextItem, HeadingItem and TableItem).
 */
function v2Item(item: PageItem) {
  switch (item.type) {
    case 'heading':
      return { type: 'heading', level: item.lvl, value: item.value, md: item.md };
    case 'text':
      return { type: 'text', value: item.value, md: item.md };
    case 'table':
      return { type: 'table', rows: item.rows, md: item.md, csv: item.csv, html: tableHtml(item.rows) };
  }
}

const escapeHtml = (text: string) =>
  text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

/** The table as HTML, the first row as its header (as the markdown renders it). */
function tableHtml(rows: string[][]): string {
  const row = (cells: string[], tag: 'th' | 'td') =>
    `<tr>${cells.map((cell) => `<${tag}>${escapeHtml(cell)}</${tag}>`).join('')}</tr>`;
  const [head = [], ...body] = rows;
  return `<table>${row(head, 'th')}${body.map((cells) => row(cells, 'td')).join('')}</table>`;
}

/**
 * The `…_content_metadata` expands: the mock keeps no result files, so a result it produced is
 * described by its size with no presigned URL, and one it does not produce (raw words, xlsx, the
 * output PDF, images) as absent.
 */
function contentMetadata(expand: ReadonlySet<string>, results: Record<string, () => unknown>) {
  const out: Record<string, unknown> = {};
  if (expand.has('images_content_metadata')) out.images_content_metadata = { images: [], total_count: 0 };
  const described: Record<string, { size_bytes: number; exists: boolean; presigned_url: null }> = {};
  for (const name of CONTENT_METADATA) {
    if (!expand.has(`${name}_content_metadata`)) continue;
    const content = results[name]?.();
    const size = content === undefined ? 0 : Buffer.byteLength(JSON.stringify(content));
    described[name] = { size_bytes: size, exists: content !== undefined, presigned_url: null };
  }
  if (Object.keys(described).length > 0) out.result_content_metadata = described;
  return out;
}
