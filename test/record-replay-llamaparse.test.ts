/**
 * LlamaParse jobs recorded whole and replayed with no provider: the official LlamaParseReader (v1),
 * the official `@llamaindex/llama-cloud` SDK (v2) and the document worker (`npm run worker`, a child
 * process) run once through a sidecar in RECORD against the stand-in, then through one in REPLAY with
 * the stand-in gone, and get the same documents, job ids, job_metadata and output files.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import LlamaCloud, { toFile } from '@llamaindex/llama-cloud';
import { type Standin, startStandin } from './support/standin.js';
import { llamaParseReader, startTestTollgate, type TestTollgate } from './support/tollgate.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const documents = join(repoRoot, 'test/fixtures/documents');
const workerMain = join(repoRoot, 'examples/document-worker/src/main.ts');
const KEY = 'sk-test-llama-record-0123456789abcdef';
const LLX = 'llx-test-llama-record-0123456789abcdef';

interface Run {
  reader: string[];
  v2: unknown;
  worker: Map<string, string>;
}

function runWorker(tg: TestTollgate, out: string): Promise<{ code: number | null; stderr: string }> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PARSE_POLL_INTERVAL_MS: '20',
    OPENAI_BASE_URL: `${tg.url}/openai/v1`,
    LLAMA_CLOUD_BASE_URL: `${tg.url}/llamaparse`,
  };
  delete env.OPENAI_API_KEY;
  delete env.LLAMA_CLOUD_API_KEY;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', workerMain, documents, '--out', out], {
      cwd: repoRoot,
      env,
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

/** The worker's output files, each line without its correlation id (a new one per document per run). */
async function outputs(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const name of (await readdir(dir)).sort()) {
    const lines = (await readFile(join(dir, name), 'utf8')).split('\n').filter((l) => l !== '');
    out.set(
      name,
      lines
        .map((l) => {
          const { correlation_id: _, ...rest } = JSON.parse(l) as Record<string, unknown>;
          return JSON.stringify(rest);
        })
        .join('\n'),
    );
  }
  return out;
}

async function drive(tg: TestTollgate, out: string): Promise<Run> {
  const reader = llamaParseReader(`${tg.url}/llamaparse`, 'llx-worker-placeholder');
  const docs = await reader.loadData(join(documents, 'sample-report.pdf'));
  const client = new LlamaCloud({ apiKey: 'llx-placeholder', baseURL: `${tg.url}/llamaparse`, maxRetries: 0 });
  const pdf = await readFile(join(documents, 'sample-report.pdf'));
  const v2 = await client.parsing.parse(
    {
      tier: 'cost_effective',
      version: 'latest',
      upload_file: await toFile(pdf, 'sample-report.pdf'),
      expand: ['text', 'markdown', 'job_metadata'],
    },
    { pollingInterval: 0.02, maxInterval: 0.05, timeout: 30 },
  );
  const run = await runWorker(tg, out);
  assert.equal(run.code, 0, run.stderr);
  return { reader: docs.map((d) => d.text), v2, worker: await outputs(out) };
}

describe('LlamaParse jobs recorded once, replayed with no provider', () => {
  let standin: Standin;
  let dir: string;
  let recorded: Run;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-llama-cassettes-'));
    standin = await startStandin({ expectOpenAIKey: KEY, expectLlamaKey: LLX, parseDelayMs: 40, quiet: true });
    const recorder = await startTestTollgate({
      SERVICE_MODE: 'record',
      ANTHROPIC_MODE: 'mock',
      OPENAI_API_KEY: KEY,
      LLAMA_CLOUD_API_KEY: LLX,
      OPENAI_UPSTREAM_URL: standin.openaiBase,
      LLAMAPARSE_UPSTREAM_URL: standin.llamaparseBase,
      CASSETTE_DIR: join(dir, 'cassettes'),
    });
    try {
      recorded = await drive(recorder, join(dir, 'out-record'));
    } finally {
      await recorder.close();
      await standin.close();
    }
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('keeps each parse job as one recording: upload, last status and every result fetched', async () => {
    const files = (await readdir(join(dir, 'cassettes'))).filter((f) => f.startsWith('llamaparse_'));
    const uploads = files.filter((f) => f.includes('upload'));
    assert.equal(files.length, uploads.length, `only uploads have files of their own: ${files.join(', ')}`);
    for (const f of uploads) {
      const c = JSON.parse(await readFile(join(dir, 'cassettes', f), 'utf8')) as {
        job_id?: string;
        request: { upload?: { sha256: string } };
        follow_ups?: Record<string, { status: number }>;
      };
      assert.match(c.job_id ?? '', /.+/, `${f} names its job`);
      assert.match(c.request.upload?.sha256 ?? '', /^[0-9a-f]{64}$/);
      const followUps = Object.keys(c.follow_ups ?? {});
      // v1: the status poll and the markdown result; v2: the job read with its expansions.
      const expected = f.includes('v2')
        ? [/^GET \/api\/v2\/parse\/[^/?]+\?/]
        : [/\/job\/[^/]+$/, /\/result\/markdown$/];
      for (const re of expected)
        assert.ok(
          followUps.some((k) => re.test(k)),
          `${f}: ${followUps.join(', ')}`,
        );
      assert.ok(Object.values(c.follow_ups ?? {}).every((a) => a.status === 200));
    }
  });

  it('replays the reader, the v2 SDK and the document worker identically with no provider', async () => {
    const replayer = await startTestTollgate({
      SERVICE_MODE: 'replay',
      REPLAY_MISS: 'error',
      CASSETTE_DIR: join(dir, 'cassettes'),
    });
    try {
      const replayed = await drive(replayer, join(dir, 'out-replay'));
      assert.deepEqual(replayed.reader, recorded.reader);
      assert.deepEqual(replayed.v2, recorded.v2, 'same job id, job_metadata and pages');
      assert.deepEqual([...replayed.worker.keys()], [...recorded.worker.keys()]);
      for (const [name, text] of recorded.worker) assert.equal(replayed.worker.get(name), text, name);
      const served = new Set(replayer.calls.map((c) => c.servedBy));
      assert.deepEqual([...served], ['replay']);
      const rows = await replayer.store.rows({ from: 0, to: Date.now() + 1000 });
      const parsed = rows.filter((r) => r.provider === 'llamaparse');
      assert.ok(parsed.length > 0 && parsed.every((r) => r.servedBy === 'replay' && r.pages > 0));
    } finally {
      await replayer.close();
    }
  });

  it('never writes a key to a recording', async () => {
    for (const f of await readdir(join(dir, 'cassettes'))) {
      const text = await readFile(join(dir, 'cassettes', f), 'utf8');
      assert.ok(!text.includes(KEY) && !text.includes(LLX) && !/authorization/i.test(text), f);
    }
  });
});
