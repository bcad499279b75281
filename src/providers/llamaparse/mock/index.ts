/**
 * The built-in LlamaParse (LlamaCloud) mock: the same routes and shapes as the real parse API,
 * v1 and v2, with results drawn from the uploaded document itself (see ../extract/).
 *
 * Jobs are PENDING for `parseDelayMs` (on the injected clock), then SUCCESS (v2: COMPLETED) or
 * ERROR for documents LlamaCloud cannot parse, or when `errorRate` injects a fault. Empty and
 * unsupported files are refused at upload, as LlamaCloud refuses them.
 *
 * @example
 *   const mock = createLlamaParseMock(() => settings.mock, Date.now, { maxUploadBytes: 100 << 20 });
 *   const reply = await mock.handle(call);               // call.operation from llamaparseRoutes
 *   mock.describeJob(jobId);                             // { pages, tier, credits, bookedAt? }
 *   mock.close();
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { invalidRequest, notFound, TollgateError } from '../../../errors.js';
import type { MockCall, MockSettings, ProviderMock, ProviderReply } from '../../types.js';
import { DocumentError, type ExtractedPage, extractDocument } from '../extract/index.js';
import {
  type JobFailure,
  jobCredits,
  type MockJob,
  type V1Status,
  V2_EXPAND_VALUES,
  v1DetailsBody,
  v1JobBody,
  v1JsonBody,
  v1MarkdownBody,
  v1Status,
  v1TextBody,
  v2GetBody,
  v2JobObject,
} from './jobs.js';
import { reseedingRandom } from './random.js';
import { BoundedStore } from './store.js';
import { type FormFields, field, isParseTier, type ParseTier, tierFromV1Fields } from './tiers.js';
import { readMultipart, type UploadedFile } from './upload.js';

export type { V1Status, V2Status } from './jobs.js';
export { PARSE_TIERS, type ParseTier, TIER_CREDITS_PER_PAGE, tierFromV1Fields } from './tiers.js';

export interface LlamaParseMockOptions {
  /** The clock for job timing and eviction (also accepted as the second argument). */
  now?: () => number;
  /** Request size cap for uploads (LLAMAPARSE_MAX_UPLOAD_BYTES); over it → 413 `request_too_large`. */
  maxUploadBytes?: number;
  /** Jobs (and v2 files) kept in memory; the oldest are evicted first. */
  maxJobs?: number;
  /** How long a job (or file) can be read after it was created. */
  jobTtlMs?: number;
}

/** What metering needs to book a job once: its parsed pages, tier and credits. */
export interface JobDescription {
  id: string;
  api: 'v1' | 'v2';
  status: V1Status;
  fileName: string;
  pages: number;
  tier: ParseTier;
  /** pages × the tier's credits per page; 0 for a failed job (LlamaCloud does not bill those). */
  credits: number;
  /** Set by markBooked: when the sidecar booked this job's cost. */
  bookedAt?: number;
}

export interface LlamaParseMock extends ProviderMock {
  /** Pages, tier and credits of a job; undefined for an unknown or evicted id. */
  describeJob(id: string): JobDescription | undefined;
  /**
   * Marks a job as booked so it is charged once however often its results are fetched.
   * Returns true the first time (book it now), false when it was booked already or is unknown.
   */
  markBooked(id: string, at?: number): boolean;
  /** Drops every job and stops the eviction timer. */
  close(): void;
}

const DEFAULT_MAX_UPLOAD_BYTES = 104_857_600;
const DEFAULT_MAX_JOBS = 10_000;
const DEFAULT_JOB_TTL_MS = 60 * 60 * 1000;
/** LlamaCloud's default page separator; LlamaParseReader splits on the same string. */
const DEFAULT_PAGE_SEPARATOR = '\n---\n';
/** The mock has no projects; every job belongs to this one unless the caller names another. */
const MOCK_PROJECT_ID = '00000000-0000-4000-8000-000000000000';

interface StoredFile {
  id: string;
  createdAt: number;
  name: string;
  /** The extraction, or why it failed (a broken PDF fails the parse job, not the file upload). */
  pages: ExtractedPage[] | DocumentError;
}

interface JobInput {
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

interface PageSelection {
  /** 1-based page numbers to keep; undefined keeps every page. */
  targetPages?: Set<number>;
  maxPages?: number;
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): ProviderReply {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

function errorReply(error: TollgateError): ProviderReply {
  return json(error.status, error.body('llamaparse'), error.headers);
}

/** FastAPI's 422 shape, which LlamaCloud answers for a missing or invalid body field. */
function validationError(location: string[], message: string, type = 'missing'): ProviderReply {
  return json(422, { detail: [{ type, loc: location, msg: message, input: null }] });
}

/**
 * Parses "0,2-4" style page lists. v1 `target_pages` counts from 0, v2 `target_pages` from 1;
 * the result is always 1-based. Returns undefined for an unreadable list.
 */
export function parsePageList(list: string, base: 0 | 1): Set<number> | undefined {
  const pages = new Set<number>();
  for (const part of list.split(',')) {
    const range = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!range) return undefined;
    const from = Number(range[1]);
    const to = range[2] === undefined ? from : Number(range[2]);
    if (to < from || to - from > 100_000) return undefined;
    for (let n = from; n <= to; n++) pages.add(n - base + 1);
  }
  return pages;
}

function selectPages(pages: ExtractedPage[], { targetPages, maxPages }: PageSelection): ExtractedPage[] {
  const chosen = targetPages ? pages.filter((page) => targetPages.has(page.page)) : pages;
  return maxPages !== undefined && maxPages > 0 ? chosen.slice(0, maxPages) : chosen;
}

function expandSet(query: URLSearchParams): Set<string> {
  const values = query.getAll('expand').flatMap((value) => value.split(','));
  return new Set(values.map((value) => value.trim()).filter((value) => value !== ''));
}

function documentErrorReply(error: DocumentError): ProviderReply {
  return errorReply(invalidRequest(error.message, 'file'));
}

/**
 * Creates the mock. `settings` is read on every call, so a hot reload applies to the next call;
 * `now` drives job timing (inject a fake clock in tests). Takes `(settings, now, options)` or
 * `(settings, options)` with `options.now`, as the provider adapter calls it.
 */
export function createLlamaParseMock(
  settings: () => MockSettings,
  nowOrOptions: (() => number) | LlamaParseMockOptions = {},
  moreOptions: LlamaParseMockOptions = {},
): LlamaParseMock {
  const options = typeof nowOrOptions === 'function' ? { ...moreOptions, now: nowOrOptions } : nowOrOptions;
  const now = options.now ?? Date.now;
  const maxUploadBytes = options.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES;
  const storeOptions = {
    maxEntries: options.maxJobs ?? DEFAULT_MAX_JOBS,
    ttlMs: options.jobTtlMs ?? DEFAULT_JOB_TTL_MS,
    now,
  };
  const jobs = new BoundedStore<MockJob>(storeOptions);
  const files = new BoundedStore<StoredFile>(storeOptions);
  // Separate streams, so a latency draw never shifts which job the fault injection hits.
  const faultRandom = reseedingRandom(() => settings().seed, 0x6a0b);
  const latencyRandom = reseedingRandom(() => settings().seed, 0x1a7e);
  const sweeper = setInterval(
    function sweepExpired() {
      jobs.sweep();
      files.sweep();
    },
    Math.min(storeOptions.ttlMs, 60_000),
  );
  sweeper.unref();

  async function waitLatency(signal: AbortSignal): Promise<void> {
    const [min, max] = settings().latencyMs;
    if (max <= 0) return;
    const ms = Math.round(min + (max - min) * latencyRandom());
    if (ms > 0) await sleep(ms, undefined, { signal });
  }

  function createJob(input: JobInput): MockJob {
    const createdAt = now();
    const mock = settings();
    let failure: JobFailure | undefined;
    let pages: ExtractedPage[] = [];
    if (input.pages instanceof DocumentError) {
      failure = { code: 'PDF_IS_BROKEN', message: input.pages.message };
    } else {
      pages = selectPages(input.pages, input.selection);
      if (pages.length === 0)
        failure = { code: 'NO_PAGES_SELECTED', message: 'No page of the document matched the requested pages' };
    }
    // Drawn for every job, failed or not, so the fault sequence depends only on the call order.
    if (faultRandom() < mock.errorRate && !failure) {
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
      pages,
      failure,
      pageSeparator: input.pageSeparator ?? DEFAULT_PAGE_SEPARATOR,
      pagePrefix: input.pagePrefix ?? '',
      pageSuffix: input.pageSuffix ?? '',
      bookedAt: undefined,
    };
    jobs.set(job.id, job);
    return job;
  }

  /** Extracts at upload time: empty and unsupported files are refused here, broken ones fail the job. */
  async function extract(file: UploadedFile): Promise<ExtractedPage[] | DocumentError> {
    try {
      return (await extractDocument(file.bytes, file.filename)).pages;
    } catch (error) {
      if (error instanceof DocumentError && error.kind === 'broken') return error;
      throw error;
    }
  }

  async function readUpload(call: MockCall) {
    if (!call.body) throw invalidRequest('A multipart/form-data body is required', 'file');
    return readMultipart(call.body, call.headers, { maxBytes: maxUploadBytes, signal: call.signal });
  }

  async function uploadV1(call: MockCall): Promise<ProviderReply> {
    const form = await readUpload(call);
    if (!form.file) {
      if (field(form.fields, 'input_url') || field(form.fields, 'input_s3_path')) {
        return errorReply(
          invalidRequest(
            'The tollgate mock cannot fetch input_url or input_s3_path; upload the file instead',
            'input_url',
          ),
        );
      }
      return errorReply(invalidRequest('Either file or input_url must be provided', 'file'));
    }
    const pages = await extract(form.file);
    const targetPages = field(form.fields, 'target_pages');
    const selection = v1Selection(form.fields, targetPages);
    if (selection === undefined)
      return errorReply(invalidRequest(`Invalid target_pages: ${targetPages}`, 'target_pages'));
    const job = createJob({
      api: 'v1',
      tier: tierFromV1Fields(form.fields),
      version: field(form.fields, 'version') ?? 'latest',
      fileName: baseName(form.file.filename),
      projectId: call.query.get('project_id'),
      pages,
      selection,
      pageSeparator: textField(form.fields, 'page_separator'),
      pagePrefix: textField(form.fields, 'page_prefix'),
      pageSuffix: textField(form.fields, 'page_suffix'),
    });
    return json(200, v1JobBody(job, now()));
  }

  function v1Selection(fields: FormFields, targetPages: string | undefined): PageSelection | undefined {
    const maxPages = Number(field(fields, 'max_pages'));
    const selection: PageSelection = Number.isInteger(maxPages) && maxPages > 0 ? { maxPages } : {};
    if (targetPages === undefined || targetPages.trim() === '') return selection;
    const parsed = parsePageList(targetPages, 0);
    return parsed ? { ...selection, targetPages: parsed } : undefined;
  }

  /** v2 `configuration`: tier and version are required, as LlamaCloud requires them. */
  function v2Config(
    config: Record<string, unknown>,
    location: string[],
  ): ProviderReply | { tier: ParseTier; version: string; selection: PageSelection } {
    const tier = config.tier;
    if (tier === undefined) return validationError([...location, 'tier'], 'Field required');
    if (!isParseTier(tier)) {
      return validationError(
        [...location, 'tier'],
        "Input should be 'fast', 'cost_effective', 'agentic' or 'agentic_plus'",
        'enum',
      );
    }
    if (typeof config.version !== 'string' || config.version === '') {
      return validationError([...location, 'version'], 'Field required');
    }
    const ranges = isRecord(config.page_ranges) ? config.page_ranges : {};
    const selection: PageSelection = {};
    if (typeof ranges.max_pages === 'number' && ranges.max_pages > 0) selection.maxPages = ranges.max_pages;
    if (typeof ranges.target_pages === 'string' && ranges.target_pages.trim() !== '') {
      const parsed = parsePageList(ranges.target_pages, 1);
      if (!parsed)
        return validationError([...location, 'page_ranges', 'target_pages'], 'Invalid page list', 'value_error');
      selection.targetPages = parsed;
    }
    return { tier, version: config.version, selection };
  }

  async function uploadV2(call: MockCall): Promise<ProviderReply> {
    const form = await readUpload(call);
    const raw = field(form.fields, 'configuration');
    let config: unknown = {};
    if (raw !== undefined) {
      try {
        config = JSON.parse(raw);
      } catch {
        return validationError(['body', 'configuration'], 'Invalid JSON', 'json_invalid');
      }
    }
    if (!isRecord(config)) return validationError(['body', 'configuration'], 'Input should be an object', 'dict_type');
    if (!form.file) return validationError(['body', 'file'], 'Field required');
    const parsed = v2Config(config, ['body', 'configuration']);
    if ('status' in parsed) return parsed;
    const pages = await extract(form.file);
    const job = createJob({
      api: 'v2',
      ...parsed,
      fileName: baseName(form.file.filename),
      projectId: call.query.get('project_id'),
      pages,
    });
    return json(200, v2JobObject(job, now()));
  }

  function createV2(call: MockCall): ProviderReply {
    const body = call.json;
    if (!isRecord(body)) return validationError(['body'], 'Input should be a valid dictionary', 'dict_type');
    if (typeof body.source_url === 'string' && body.file_id === undefined) {
      return errorReply(
        invalidRequest('The tollgate mock cannot fetch source_url; upload the file instead', 'source_url'),
      );
    }
    if (typeof body.file_id !== 'string') return validationError(['body', 'file_id'], 'Field required');
    const parsed = v2Config(body, ['body']);
    if ('status' in parsed) return parsed;
    const file = files.get(body.file_id);
    if (!file) return errorReply(new TollgateError(404, 'not_found', `File ${body.file_id} not found`));
    const job = createJob({
      api: 'v2',
      ...parsed,
      fileName: file.name,
      projectId: call.query.get('project_id'),
      pages: file.pages,
    });
    return json(200, v2JobObject(job, now()));
  }

  async function uploadFile(call: MockCall): Promise<ProviderReply> {
    const form = await readUpload(call);
    if (!form.file) return validationError(['body', 'file'], 'Field required');
    const pages = await extract(form.file);
    const createdAt = now();
    const stored: StoredFile = { id: randomUUID(), createdAt, name: baseName(form.file.filename), pages };
    files.set(stored.id, stored);
    return json(200, {
      id: stored.id,
      name: stored.name,
      project_id: call.query.get('project_id') ?? MOCK_PROJECT_ID,
      purpose: field(form.fields, 'purpose') ?? null,
      external_file_id: field(form.fields, 'external_file_id') ?? null,
      file_type: form.file.mimeType,
      expires_at: new Date(createdAt + storeOptions.ttlMs).toISOString(),
    });
  }

  function jobOr404(call: MockCall): MockJob | ProviderReply {
    const id = call.params.id ?? '';
    return jobs.get(id) ?? errorReply(new TollgateError(404, 'not_found', 'Job not found'));
  }

  function v1Result(call: MockCall, kind: 'markdown' | 'text' | 'json'): ProviderReply {
    const job = jobOr404(call);
    if (!('id' in job)) return job;
    const status = v1Status(job, now());
    if (status === 'PENDING') return errorReply(new TollgateError(404, 'not_found', 'Job not completed yet'));
    if (status === 'ERROR') {
      return errorReply(invalidRequest(`Job failed: ${job.failure?.code}: ${job.failure?.message}`));
    }
    if (kind === 'markdown') return json(200, v1MarkdownBody(job));
    if (kind === 'text') return json(200, v1TextBody(job));
    return json(200, v1JsonBody(job));
  }

  async function dispatch(call: MockCall): Promise<ProviderReply> {
    switch (call.operation) {
      case 'parse.upload':
        return uploadV1(call);
      case 'parse.job': {
        const job = jobOr404(call);
        return 'id' in job ? json(200, v1JobBody(job, now())) : job;
      }
      case 'parse.details': {
        const job = jobOr404(call);
        return 'id' in job ? json(200, v1DetailsBody(job, now())) : job;
      }
      case 'parse.result.markdown':
        return v1Result(call, 'markdown');
      case 'parse.result.text':
        return v1Result(call, 'text');
      case 'parse.result.json':
        return v1Result(call, 'json');
      case 'parse.result.other': {
        const job = jobOr404(call);
        if (!('id' in job)) return job;
        return errorReply(
          new TollgateError(404, 'not_found', `Result type ${call.params.kind ?? ''} is not available for this job`),
        );
      }
      case 'parse.v2.upload':
        return uploadV2(call);
      case 'parse.v2.create':
        return createV2(call);
      case 'parse.v2.get': {
        const job = jobOr404(call);
        if (!('id' in job)) return job;
        const expand = expandSet(call.query);
        const unknown = [...expand].find((value) => !(V2_EXPAND_VALUES as readonly string[]).includes(value));
        // Presigned-URL expands (…_content_metadata) have nothing to point at in the mock; they are ignored.
        if (unknown && !unknown.endsWith('_content_metadata')) {
          return validationError(['query', 'expand'], `Unknown expand value: ${unknown}`, 'value_error');
        }
        return json(200, v2GetBody(job, now(), expand));
      }
      case 'files.upload':
        return uploadFile(call);
      default:
        return errorReply(notFound(call.method, call.path));
    }
  }

  return {
    async handle(call: MockCall): Promise<ProviderReply> {
      await waitLatency(call.signal);
      try {
        return await dispatch(call);
      } catch (error) {
        if (error instanceof TollgateError) return errorReply(error);
        if (error instanceof DocumentError) return documentErrorReply(error);
        throw error;
      }
    },

    describeJob(id: string): JobDescription | undefined {
      const job = jobs.get(id);
      if (!job) return undefined;
      return {
        id: job.id,
        api: job.api,
        status: v1Status(job, now()),
        fileName: job.fileName,
        pages: job.failure ? 0 : job.pages.length,
        tier: job.tier,
        credits: jobCredits(job),
        ...(job.bookedAt === undefined ? {} : { bookedAt: job.bookedAt }),
      };
    },

    markBooked(id: string, at: number = now()): boolean {
      const job = jobs.get(id);
      if (!job || job.bookedAt !== undefined) return false;
      job.bookedAt = at;
      return true;
    },

    close(): void {
      clearInterval(sweeper);
      jobs.clear();
      files.clear();
    },
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * FormData turns every newline of a text field into CRLF on the wire; the client meant `\n`,
 * and LlamaParseReader splits results on its own (`\n`) separator, so CRLF goes back to LF.
 */
function textField(fields: FormFields, name: string): string | undefined {
  return field(fields, name)?.replace(/\r\n/g, '\n');
}

function baseName(filename: string): string {
  return filename.split(/[\\/]/).pop() || 'file';
}
