/**
 * LlamaParse upload → poll → markdown, through the official generated client of
 * `llama-cloud-services` — the same three v1 calls, in the same order, that `LlamaParseReader`
 * makes, but with headers of our own on each of them.
 *
 * Why not `LlamaParseReader` itself: it builds its HTTP client privately with only an
 * `Authorization` header and has no option for extra headers, so it cannot send the document's
 * `x-correlation-id`. It also swallows failures by default (`ignoreErrors`) and prints to the
 * console. The functions it calls are exported from `llama-cloud-services/api` and accept
 * `baseUrl`, `auth`, `headers` and `signal` per call, which is all we need.
 */

import { setTimeout as delay } from 'node:timers/promises';
import {
  getJobApiV1ParsingJobJobIdGet,
  getJobResultApiV1ParsingJobJobIdResultMarkdownGet,
  type ParsingJob,
  type ParsingJobMarkdownResult,
  uploadFileApiV1ParsingUploadPost,
} from 'llama-cloud-services/api';
import { inSpan } from './tracing.js';

export interface LlamaParseOptions {
  /** LlamaCloud base, e.g. `http://127.0.0.1:8790/llamaparse` (a trailing `/api/parsing` is tolerated, as the reader does). */
  baseUrl: string;
  apiKey: string;
  /** First wait before polling; grows linearly by itself up to `maxPollIntervalMs` (the reader's default backoff). */
  pollIntervalMs: number;
  maxPollIntervalMs: number;
  /** Give up on a job that is still PENDING after this long. */
  jobTimeoutMs: number;
  /** Limit for each HTTP call. */
  requestTimeoutMs: number;
  /** Extra attempts for a status/result GET that failed with a 5xx or a network error (the reader's `maxErrorCount`). */
  maxErrorCount: number;
  /** Page prefix sent as `page_prefix` (LlamaCloud fills `{pageNumber}`). */
  pagePrefix?: string;
}

export interface ParseRequest {
  fileName: string;
  bytes: Uint8Array<ArrayBuffer>;
  /** Extra headers on every call of this document (the correlation id). */
  headers: Record<string, string>;
  signal?: AbortSignal;
  onStatus?: (status: 'uploaded' | 'pending' | 'done', jobId: string) => void;
}

export interface ParseResult {
  jobId: string;
  markdown: string;
  /** `job_metadata` as LlamaCloud reports it (credits, pages). */
  jobMetadata: unknown;
}

/** A document LlamaParse refused or could not parse; `code` says which step and why. */
export class ParseError extends Error {
  override name = 'ParseError';
  constructor(
    readonly code: 'upload_refused' | 'job_failed' | 'job_timeout' | 'request_failed',
    message: string,
    readonly status?: number,
    /** The `code` of LlamaCloud's (or the sidecar's) error body, e.g. `budget_exceeded`. */
    readonly errorCode?: string,
  ) {
    super(message);
  }
}

interface CallOutcome<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

export function createLlamaParse(options: LlamaParseOptions) {
  const baseUrl = options.baseUrl.replace(/\/+$/, '').replace(/\/api\/parsing$/, '');

  function callOptions(request: ParseRequest) {
    const timeout = AbortSignal.timeout(options.requestTimeoutMs);
    return {
      baseUrl,
      auth: options.apiKey,
      headers: request.headers,
      signal: request.signal ? AbortSignal.any([request.signal, timeout]) : timeout,
    };
  }

  /** GETs are retried on 5xx and network errors, as the reader retries them; the upload is not. */
  async function getWithRetry<T>(request: ParseRequest, what: string, call: () => Promise<CallOutcome<T>>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      let outcome: CallOutcome<T> | undefined;
      let failure: string;
      try {
        outcome = await call();
        if (outcome.response.ok && outcome.data !== undefined) return outcome.data;
        failure = describeHttpError(outcome.response.status, outcome.error);
      } catch (error) {
        if (request.signal?.aborted) throw error;
        failure = describeThrown(error);
      }
      const status = outcome?.response.status;
      const transient = status === undefined || status >= 500;
      if (!transient || attempt >= options.maxErrorCount) {
        throw new ParseError(
          'request_failed',
          `LlamaParse ${what} failed: ${failure}`,
          status,
          errorCodeOf(outcome?.error),
        );
      }
      await delay(Math.min(1000 * 2 ** attempt, 8000), undefined, { signal: request.signal });
    }
  }

  return {
    /** Upload, then poll until the job is done and read its markdown: the spans `upload` and `poll`. */
    async parseToMarkdown(request: ParseRequest): Promise<ParseResult> {
      const jobId = await inSpan('upload', { 'file.size': request.bytes.byteLength }, () => uploadFile(request));
      request.onStatus?.('uploaded', jobId);
      return inSpan('poll', { 'llamaparse.job_id': jobId }, () => pollMarkdown(request, jobId));
    },
  };

  /** The upload; returns the job id. */
  async function uploadFile(request: ParseRequest): Promise<string> {
    let upload: CallOutcome<ParsingJob>;
    try {
      upload = (await uploadFileApiV1ParsingUploadPost({
        ...callOptions(request),
        body: {
          file: new File([request.bytes], request.fileName),
          ...(options.pagePrefix ? { page_prefix: options.pagePrefix, page_separator: '\n\n' } : {}),
        },
      })) as CallOutcome<ParsingJob>;
    } catch (error) {
      if (request.signal?.aborted) throw error;
      throw new ParseError('request_failed', `LlamaParse upload to ${baseUrl} failed: ${describeThrown(error)}`);
    }
    if (!upload.response.ok || !upload.data?.id) {
      throw new ParseError(
        'upload_refused',
        `LlamaParse refused the file: ${describeHttpError(upload.response.status, upload.error)}`,
        upload.response.status,
        errorCodeOf(upload.error),
      );
    }
    return upload.data.id;
  }

  /** Polls the job's status until it is done, then reads its markdown. */
  async function pollMarkdown(request: ParseRequest, jobId: string): Promise<ParseResult> {
    const deadline = Date.now() + options.jobTimeoutMs;
    let interval = options.pollIntervalMs;
    for (;;) {
      await delay(interval, undefined, { signal: request.signal });
      const job = await getWithRetry(
        request,
        'status',
        () =>
          getJobApiV1ParsingJobJobIdGet({ ...callOptions(request), path: { job_id: jobId } }) as Promise<
            CallOutcome<ParsingJob>
          >,
      );
      if (job.status === 'SUCCESS') break;
      if (job.status !== 'PENDING') {
        const reason = [job.error_code, job.error_message].filter(Boolean).join(': ') || `status ${job.status}`;
        throw new ParseError('job_failed', `LlamaParse job ${jobId} failed: ${reason}`);
      }
      request.onStatus?.('pending', jobId);
      if (Date.now() + interval > deadline) {
        throw new ParseError('job_timeout', `LlamaParse job ${jobId} still pending after ${options.jobTimeoutMs} ms`);
      }
      interval = Math.min(interval + options.pollIntervalMs, options.maxPollIntervalMs);
    }

    const result = await getWithRetry(
      request,
      'markdown result',
      () =>
        getJobResultApiV1ParsingJobJobIdResultMarkdownGet({
          ...callOptions(request),
          path: { job_id: jobId },
        }) as Promise<CallOutcome<ParsingJobMarkdownResult>>,
    );
    request.onStatus?.('done', jobId);
    return { jobId, markdown: result.markdown ?? '', jobMetadata: result.job_metadata };
  }
}

/** LlamaCloud errors are `{detail, code?}`; FastAPI validation errors have `detail` as a list. */
function describeHttpError(status: number, body: unknown): string {
  let detail = '';
  if (typeof body === 'string') detail = body;
  else if (body && typeof body === 'object') {
    const { detail: d, code } = body as { detail?: unknown; code?: unknown };
    detail = typeof d === 'string' ? d : d === undefined ? '' : JSON.stringify(d);
    if (typeof code === 'string') detail = detail ? `${detail} (${code})` : code;
  }
  return detail ? `HTTP ${status}: ${detail.slice(0, 500)}` : `HTTP ${status}`;
}

function errorCodeOf(body: unknown): string | undefined {
  const code = body && typeof body === 'object' ? (body as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

function describeThrown(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  const detail = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : '';
  return detail ? `${error.message} (${detail})` : error.message;
}
