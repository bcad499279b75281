/**
 * One document: read → LlamaParse (upload, poll, markdown) → chunks → embeddings in batches →
 * `<out>/<file name>.jsonl`. One correlation id per document, sent as `x-correlation-id` on
 * every call made for it, so the sidecar's ledger, spans and logs group a document's calls.
 *
 * Retries are the SDKs' own: the openai client's (`maxRetries`, honouring `retry-after` and
 * `x-should-retry`), and for LlamaParse the status/result GETs on 5xx as the reader does. Nothing
 * here retries on top of them, so no call is billed twice.
 */
import { randomUUID } from 'node:crypto';
import { open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Span } from '@opentelemetry/api';
import OpenAI from 'openai';
import { type ChunkOptions, chunkMarkdown, PAGE_MARKER_TEMPLATE, pagesOf, removePageMarkers } from './chunk.js';
import { createLlamaParse, type LlamaParseOptions, ParseError } from './llamaparse.js';
import { inDocument, inSpan } from './tracing.js';

export interface PipelineConfig {
  openai: { baseURL: string; apiKey: string; maxRetries?: number };
  llamaParse: Omit<LlamaParseOptions, 'pagePrefix'>;
  embeddingModel: string;
  /** Inputs per embeddings request. */
  batchSize: number;
  chunk: ChunkOptions;
}

/** What a written `.jsonl` line holds. */
export interface ChunkRecord {
  document: string;
  chunk_index: number;
  text: string;
  embedding: number[];
  correlation_id: string;
  /** Heading path, outermost first. */
  heading: string[];
  /** Pages of the source the chunk overlaps (when LlamaParse reported page boundaries). */
  pages?: number[];
  model: string;
  /** Offsets of `text` in the parsed markdown (page markers removed). */
  char_start: number;
  char_end: number;
  parse_job_id: string;
}

export type Stage = 'reading' | 'uploading' | 'parsing' | 'embedding' | 'writing';

export type PipelineEvent =
  | { type: 'stage'; file: string; stage: Stage }
  | { type: 'chunked'; file: string; chunks: number }
  | { type: 'embedded'; file: string; count: number }
  | { type: 'done'; file: string; result: DocumentResult }
  | { type: 'failed'; file: string; failure: DocumentFailure };

export interface DocumentResult {
  file: string;
  outPath: string;
  chunks: number;
  pages: number | undefined;
  correlationId: string;
}

export type FailureCode =
  | 'unreadable'
  | 'no_text'
  | 'embeddings_failed'
  | 'write_failed'
  | 'interrupted'
  | 'unexpected'
  | 'budget_exceeded'
  | ParseError['code'];

/** Why a document was not processed; `message` is the one line the CLI prints. */
export class DocumentFailure extends Error {
  override name = 'DocumentFailure';
  constructor(
    readonly code: FailureCode,
    message: string,
    readonly correlationId: string,
  ) {
    super(message);
  }
}

export interface RunSummary {
  total: number;
  succeeded: DocumentResult[];
  failed: { file: string; failure: DocumentFailure }[];
  chunks: number;
  /**
   * Set when a call was refused because a budget is spent (429 `budget_exceeded`, which the
   * sidecar marks `x-should-retry: false`): the run started no file after it.
   */
  stoppedBy?: { file: string; failure: DocumentFailure };
}

/** The files a run processes: regular files directly in `folder`, no dotfiles, sorted by name. */
export async function listDocuments(folder: string): Promise<string[]> {
  const names = (await readdir(folder)).filter((name) => !name.startsWith('.')).sort();
  const files: string[] = [];
  for (const name of names) {
    const path = join(folder, name);
    // stat, not the dirent: a symlink to a file counts as a file.
    if ((await stat(path).catch(() => undefined))?.isFile()) files.push(path);
  }
  return files;
}

/**
 * @example
 * const pipeline = createPipeline(config);
 * const summary = await pipeline.run(await listDocuments('docs'), { outDir: 'out', concurrency: 4 });
 */
export function createPipeline(config: PipelineConfig) {
  const openai = new OpenAI({
    baseURL: config.openai.baseURL,
    apiKey: config.openai.apiKey,
    ...(config.openai.maxRetries === undefined ? {} : { maxRetries: config.openai.maxRetries }),
  });
  const llamaParse = createLlamaParse({ ...config.llamaParse, pagePrefix: PAGE_MARKER_TEMPLATE });

  /** One document under its root span `process <file name>`, which records the file's size and the outcome. */
  function processDocument(
    path: string,
    outDir: string,
    {
      signal,
      onEvent = () => {},
      correlationId = randomUUID(),
    }: { signal?: AbortSignal; onEvent?: (event: PipelineEvent) => void; correlationId?: string } = {},
  ): Promise<DocumentResult> {
    return inDocument(basename(path), correlationId, async function traced(span) {
      try {
        const result = await processOne(path, outDir, { signal, onEvent, correlationId }, span);
        span.setAttribute(OUTCOME, 'processed');
        return result;
      } catch (error) {
        const code = error instanceof DocumentFailure ? error.code : signal?.aborted ? 'interrupted' : 'unexpected';
        span.setAttribute(OUTCOME, code);
        throw error;
      }
    });
  }

  async function processOne(
    path: string,
    outDir: string,
    {
      signal,
      onEvent,
      correlationId,
    }: { signal: AbortSignal | undefined; onEvent: (event: PipelineEvent) => void; correlationId: string },
    span: Span,
  ): Promise<DocumentResult> {
    const file = basename(path);
    const headers = { 'x-correlation-id': correlationId };
    const fail = (code: FailureCode, message: string) => new DocumentFailure(code, message, correlationId);

    onEvent({ type: 'stage', file, stage: 'reading' });
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = await readFile(path, { signal });
    } catch (error) {
      throw fail('unreadable', `cannot read the file: ${(error as Error).message}`);
    }
    span.setAttribute('file.size', bytes.byteLength);

    onEvent({ type: 'stage', file, stage: 'uploading' });
    let parsed: Awaited<ReturnType<typeof llamaParse.parseToMarkdown>>;
    try {
      parsed = await llamaParse.parseToMarkdown({
        fileName: file,
        bytes,
        headers,
        signal,
        onStatus: (status) => status === 'uploaded' && onEvent({ type: 'stage', file, stage: 'parsing' }),
      });
    } catch (error) {
      if (error instanceof ParseError) {
        throw fail(
          error.status === 429 && error.errorCode === BUDGET_EXCEEDED ? BUDGET_EXCEEDED : error.code,
          error.message,
        );
      }
      throw error;
    }

    const { pageStarts, chunks } = await inSpan('chunk', {}, async function chunk(s) {
      const { markdown, pageStarts } = removePageMarkers(parsed.markdown);
      const made = chunkMarkdown(markdown, config.chunk);
      s.setAttribute('document.chunks', made.length);
      return { pageStarts, chunks: made };
    });
    if (chunks.length === 0) throw fail('no_text', `LlamaParse found no text in the document (job ${parsed.jobId})`);
    onEvent({ type: 'chunked', file, chunks: chunks.length });

    onEvent({ type: 'stage', file, stage: 'embedding' });
    const outPath = join(outDir, `${file}.jsonl`);
    // Written beside the target and renamed at the end: a failed document never leaves half a file.
    const partPath = join(outDir, `.${file}.jsonl.${process.pid}.part`);
    const out = await open(partPath, 'w').catch((error: Error) => {
      throw fail('write_failed', `cannot write ${partPath}: ${error.message}`);
    });
    try {
      for (let first = 0; first < chunks.length; first += config.batchSize) {
        const batch = chunks.slice(first, first + config.batchSize);
        const vectors = await embed(
          batch.map((c) => c.text),
          headers,
          signal,
        ).catch((error: unknown) => {
          if (signal?.aborted) throw error;
          const code = isBudgetRefusal(error) ? BUDGET_EXCEEDED : 'embeddings_failed';
          throw fail(code, `embeddings failed: ${describeOpenAIError(error)}`);
        });
        const lines = batch.map((chunk, i) => {
          const pages = pagesOf(pageStarts, chunk.charStart, chunk.charEnd);
          const record: ChunkRecord = {
            document: file,
            chunk_index: chunk.index,
            text: chunk.text,
            embedding: vectors.embeddings[i]!,
            correlation_id: correlationId,
            heading: chunk.headingPath,
            ...(pageStarts.length > 0 ? { pages } : {}),
            model: vectors.model,
            char_start: chunk.charStart,
            char_end: chunk.charEnd,
            parse_job_id: parsed.jobId,
          };
          return JSON.stringify(record);
        });
        await out.write(`${lines.join('\n')}\n`);
        onEvent({ type: 'embedded', file, count: batch.length });
      }
      onEvent({ type: 'stage', file, stage: 'writing' });
      await out.close();
      await rename(partPath, outPath);
    } catch (error) {
      await out.close().catch(() => {});
      await rm(partPath, { force: true });
      if (error instanceof DocumentFailure || signal?.aborted) throw error;
      throw fail('write_failed', `cannot write ${outPath}: ${(error as Error).message}`);
    }
    return {
      file,
      outPath,
      chunks: chunks.length,
      pages: pageStarts.length > 0 ? pageStarts.length : undefined,
      correlationId,
    };
  }

  async function embed(inputs: string[], headers: Record<string, string>, signal: AbortSignal | undefined) {
    const response = await inSpan('embed', { 'embed.inputs': inputs.length }, () =>
      openai.embeddings.create(
        { model: config.embeddingModel, input: inputs },
        { headers, ...(signal ? { signal } : {}) },
      ),
    );
    if (response.data.length !== inputs.length) {
      throw new Error(`asked for ${inputs.length} embeddings, got ${response.data.length}`);
    }
    const embeddings = [...response.data].sort((a, b) => a.index - b.index).map((d) => d.embedding);
    return { embeddings, model: response.model || config.embeddingModel };
  }

  /**
   * Processes `files` with up to `concurrency` documents in flight. A failed document is reported
   * and the run goes on; an abort stops taking new files and fails the ones in flight. A call
   * refused because a budget is spent stops the run too: no file is started after it (retrying the
   * next file would only be refused again), the ones in flight finish.
   */
  async function run(
    files: string[],
    {
      outDir,
      concurrency = 4,
      signal,
      onEvent = () => {},
    }: { outDir: string; concurrency?: number; signal?: AbortSignal; onEvent?: (event: PipelineEvent) => void },
  ): Promise<RunSummary> {
    const summary: RunSummary = { total: files.length, succeeded: [], failed: [], chunks: 0 };
    let next = 0;
    async function lane() {
      while (next < files.length && !signal?.aborted && !summary.stoppedBy) {
        const path = files[next++]!;
        const file = basename(path);
        const correlationId = randomUUID();
        try {
          const result = await processDocument(path, outDir, { signal, onEvent, correlationId });
          summary.succeeded.push(result);
          summary.chunks += result.chunks;
          onEvent({ type: 'done', file, result });
        } catch (error) {
          const failure =
            error instanceof DocumentFailure
              ? error
              : signal?.aborted
                ? new DocumentFailure('interrupted', 'interrupted', correlationId)
                : new DocumentFailure(
                    'unexpected',
                    `unexpected error: ${(error as Error)?.message ?? error}`,
                    correlationId,
                  );
          summary.failed.push({ file, failure });
          if (failure.code === BUDGET_EXCEEDED) summary.stoppedBy ??= { file, failure };
          onEvent({ type: 'failed', file, failure });
        }
      }
    }
    await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, files.length)) }, lane));
    return summary;
  }

  return { processDocument, run };
}

const BUDGET_EXCEEDED = 'budget_exceeded';
/** How a document's run ended, on its root span: `processed` or the failure code. */
const OUTCOME = 'document.outcome';

/** The sidecar's budget refusal as the openai SDK reports it (429, code `budget_exceeded`). */
function isBudgetRefusal(error: unknown): boolean {
  return error instanceof OpenAI.APIError && error.status === 429 && error.code === BUDGET_EXCEEDED;
}

/** The SDK's message already starts with the status (`429 Budget exceeded …`); add the stable code. */
function describeOpenAIError(error: unknown): string {
  if (error instanceof OpenAI.APIError) return error.code ? `${error.message} (${error.code})` : error.message;
  return error instanceof Error ? error.message : String(error);
}
