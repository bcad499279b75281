/**
 * `npm run worker -- <folder> [--out DIR] [--concurrency N]`
 *
 * Parses every file in <folder> with LlamaParse, chunks the markdown, embeds the chunks with
 * OpenAI and writes `<DIR>/<file name>.jsonl` — all through the tollgate sidecar, configured the
 * way the SDKs are (`OPENAI_BASE_URL`, `LLAMA_CLOUD_BASE_URL`, API keys). The only file that reads
 * process.env and argv.
 *
 * Exit codes: 0 every file processed, 1 at least one failed (the others still complete) or a
 * budget stopped the run (429 budget_exceeded: no file is started after it), 2 bad usage,
 * 130 interrupted.
 */
import { mkdir, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_MAX_CHARS, DEFAULT_OVERLAP_CHARS } from './chunk.js';
import { createPipeline, listDocuments, type PipelineConfig } from './pipeline.js';
import { createProgress } from './progress.js';

const USAGE = `usage: npm run worker -- <folder> [--out DIR] [--concurrency N]

Processes every file in <folder> (not recursive, dotfiles skipped):
LlamaParse -> markdown -> chunks -> OpenAI embeddings -> DIR/<file name>.jsonl

  -o, --out DIR          where to write the .jsonl files (default ./out)
  -c, --concurrency N    documents in flight at once (default WORKER_CONCURRENCY or 4)
  -h, --help             this text

environment: OPENAI_BASE_URL, LLAMA_CLOUD_BASE_URL, OPENAI_API_KEY, LLAMA_CLOUD_API_KEY,
EMBEDDING_MODEL, EMBEDDING_BATCH_SIZE, CHUNK_MAX_CHARS, CHUNK_OVERLAP_CHARS,
PARSE_POLL_INTERVAL_MS, PARSE_MAX_POLL_INTERVAL_MS, PARSE_TIMEOUT_MS, OPENAI_MAX_RETRIES
(see examples/document-worker/README.md)`;

/** The sidecar holds the real keys; the SDKs only need something non-empty to start. */
const PLACEHOLDER_KEY = 'placeholder-key-held-by-tollgate';

class UsageError extends Error {}

function integer(raw: string | undefined, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER) {
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(`${name} must be an integer between ${min} and ${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function configFrom(env: NodeJS.ProcessEnv): PipelineConfig {
  const maxRetries = env.OPENAI_MAX_RETRIES
    ? integer(env.OPENAI_MAX_RETRIES, 'OPENAI_MAX_RETRIES', 2, 0, 10)
    : undefined;
  const maxChars = integer(env.CHUNK_MAX_CHARS, 'CHUNK_MAX_CHARS', DEFAULT_MAX_CHARS, 100, 30_000);
  const overlapChars = integer(
    env.CHUNK_OVERLAP_CHARS,
    'CHUNK_OVERLAP_CHARS',
    Math.min(DEFAULT_OVERLAP_CHARS, Math.floor(maxChars / 4)),
    0,
  );
  if (overlapChars * 2 >= maxChars)
    throw new UsageError('CHUNK_OVERLAP_CHARS must be less than half of CHUNK_MAX_CHARS');
  const pollIntervalMs = integer(env.PARSE_POLL_INTERVAL_MS, 'PARSE_POLL_INTERVAL_MS', 1000, 10);
  return {
    openai: {
      baseURL: env.OPENAI_BASE_URL || 'http://127.0.0.1:8790/openai/v1',
      apiKey: env.OPENAI_API_KEY || PLACEHOLDER_KEY,
      ...(maxRetries === undefined ? {} : { maxRetries }),
    },
    llamaParse: {
      baseUrl: env.LLAMA_CLOUD_BASE_URL || 'http://127.0.0.1:8790/llamaparse',
      apiKey: env.LLAMA_CLOUD_API_KEY || PLACEHOLDER_KEY,
      pollIntervalMs,
      maxPollIntervalMs: Math.max(
        pollIntervalMs,
        integer(env.PARSE_MAX_POLL_INTERVAL_MS, 'PARSE_MAX_POLL_INTERVAL_MS', 5000, 10),
      ),
      jobTimeoutMs: integer(env.PARSE_TIMEOUT_MS, 'PARSE_TIMEOUT_MS', 30 * 60_000, 1000),
      requestTimeoutMs: 120_000,
      maxErrorCount: 4,
    },
    embeddingModel: env.EMBEDDING_MODEL || 'text-embedding-3-small',
    batchSize: integer(env.EMBEDDING_BATCH_SIZE, 'EMBEDDING_BATCH_SIZE', 64, 1, 2048),
    chunk: { maxChars, overlapChars },
  };
}

async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let folder: string;
  let outDir: string;
  let concurrency: number;
  let config: PipelineConfig;
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        out: { type: 'string', short: 'o', default: './out' },
        concurrency: { type: 'string', short: 'c' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    if (positionals.length !== 1)
      throw new UsageError(positionals.length === 0 ? 'missing <folder>' : 'one folder at a time');
    folder = resolve(positionals[0]!);
    outDir = resolve(values.out);
    concurrency =
      values.concurrency !== undefined
        ? integer(values.concurrency, '--concurrency', 4, 1, 64)
        : integer(env.WORKER_CONCURRENCY, 'WORKER_CONCURRENCY', 4, 1, 64);
    config = configFrom(env);
    const folderStat = await stat(folder).catch(() => undefined);
    if (!folderStat?.isDirectory()) throw new UsageError(`${positionals[0]} is not a folder`);
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      const message = (error as Error).message;
      process.stderr.write(`error: ${message}\n\n${USAGE}\n`);
      return 2;
    }
    throw error;
  }

  const files = await listDocuments(folder);
  await mkdir(outDir, { recursive: true });
  const progress = createProgress({ total: files.length });
  if (files.length === 0) {
    progress.print(`no files in ${folder}`);
    return 0;
  }

  const controller = new AbortController();
  process.once('SIGINT', () => {
    progress.print('interrupted: stopping (Ctrl-C again to quit at once)');
    controller.abort(new Error('interrupted'));
    process.once('SIGINT', () => process.exit(130));
  });

  const started = performance.now();
  const pipeline = createPipeline(config);
  const summary = await pipeline.run(files, {
    outDir,
    concurrency,
    signal: controller.signal,
    onEvent: (event) => progress.handle(event),
  });
  progress.finish();
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const notStarted = summary.total - summary.succeeded.length - summary.failed.length;
  process.stderr.write(
    `${summary.total} files: ${summary.succeeded.length} processed, ${summary.failed.length} failed, ` +
      `${notStarted > 0 ? `${notStarted} not started, ` : ''}${summary.chunks} chunks embedded in ${seconds} s -> ${outDir}\n`,
  );
  if (summary.stoppedBy) {
    const { file, failure } = summary.stoppedBy;
    process.stderr.write(
      `STOPPED at the budget: ${notStarted} file${notStarted === 1 ? '' : 's'} not started after ${file} was refused ` +
        `(429 budget_exceeded). ${failure.message}\n`,
    );
  }
  if (controller.signal.aborted) return 130;
  return summary.failed.length > 0 ? 1 : 0;
}

main(process.argv.slice(2), process.env).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
