/** Starting a parse job: the page selection, the failure it will end in (if any), its timing. */
import { randomUUID } from 'node:crypto';
import { DocumentError, type ExtractedPage } from '../extract/index.js';
import type { MockContext } from './context.js';
import type { JobFailure, MockJob } from './jobs.js';
import { type PageSelection, selectPages } from './selection.js';
import type { ParseTier } from './tiers.js';

/** LlamaCloud's default page separator; LlamaParseReader splits on the same string. */
const DEFAULT_PAGE_SEPARATOR = '\n---\n';
/** The mock has no projects; every job belongs to this one unless the caller names another. */
export const MOCK_PROJECT_ID = '00000000-0000-4000-8000-000000000000';

export interface JobInput {
  api: 'v1' | 'v2';
  tier: ParseTier;
  version: string;
  fileName: string;
  projectId: string | null;
  pages: ExtractedPage[] | DocumentError;
  selection: PageSelection;
  pageSeparator?: string;
  pagePrefix?: string;
  pageSuffix?: string;
}

/** The pages a job parses, or why it fails: a broken document, or a selection that keeps no page. */
function jobPages(input: JobInput): { pages: ExtractedPage[]; failure: JobFailure | undefined } {
  if (input.pages instanceof DocumentError) {
    return { pages: [], failure: { code: 'PDF_IS_BROKEN', message: input.pages.message } };
  }
  const pages = selectPages(input.pages, input.selection);
  if (pages.length > 0) return { pages, failure: undefined };
  return {
    pages,
    failure: { code: 'NO_PAGES_SELECTED', message: 'No page of the document matched the requested pages' },
  };
}

export function createJob(ctx: MockContext, input: JobInput): MockJob {
  const createdAt = ctx.now();
  const mock = ctx.settings();
  const selected = jobPages(input);
  let failure = selected.failure;
  // Drawn for every job, failed or not, so the fault sequence depends only on the call order.
  if (ctx.faultRandom() < mock.errorRate && !failure) {
    failure = { code: 'INTERNAL_ERROR', message: 'Injected mock fault (MOCK_ERROR_RATE)' };
  }
  const job: MockJob = {
    id: randomUUID(),
    api: input.api,
    createdAt,
    readyAt: createdAt + Math.max(0, mock.parseDelayMs),
    tier: input.tier,
    version: input.version,
    fileName: input.fileName,
    projectId: input.projectId ?? MOCK_PROJECT_ID,
    pages: selected.pages,
    failure,
    pageSeparator: input.pageSeparator ?? DEFAULT_PAGE_SEPARATOR,
    pagePrefix: input.pagePrefix ?? '',
    pageSuffix: input.pageSuffix ?? '',
    bookedAt: undefined,
  };
  ctx.jobs.set(job.id, job);
  return job;
}
