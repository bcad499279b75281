import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import {
  boundedPieces,
  chunkMarkdown,
  headingSections,
  pagesOf,
  removePageMarkers,
} from '../examples/document-worker/src/chunk.js';
import type { ChunkRecord } from '../examples/document-worker/src/pipeline.js';
import { startTestTollgate, type TestTollgate } from './support/tollgate.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const fixture = (path: string) => join(repoRoot, 'test/fixtures', path);
const workerMain = join(repoRoot, 'examples/document-worker/src/main.ts');
const ADMIN_TOKEN = 'admin-token-document-worker-0123456789';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const words = (n: number, word = 'lorem') => Array.from({ length: n }, (_, i) => `${word}${i % 10}`).join(' ');

describe('chunkMarkdown', () => {
  const handbook = [
    '# Operator Handbook',
    '',
    'Intro paragraph.',
    '',
    '## Installing',
    '',
    'Run npm ci.',
    '',
    '## Budgets',
    '',
    'Budgets cap spend.',
    '',
    '### Forecasts',
    '',
    'The report forecasts spend.',
    '',
    '## Troubleshooting',
    '',
    'Check /health first.',
    '',
  ].join('\n');

  it('gives each heading section its own chunk, with the heading path as metadata', () => {
    const chunks = chunkMarkdown(handbook);
    assert.deepEqual(
      chunks.map((c) => c.headingPath),
      [
        ['Operator Handbook'],
        ['Operator Handbook', 'Installing'],
        ['Operator Handbook', 'Budgets'],
        ['Operator Handbook', 'Budgets', 'Forecasts'],
        ['Operator Handbook', 'Troubleshooting'],
      ],
    );
    assert.deepEqual(
      chunks.map((c) => c.text.split('\n')[0]),
      ['# Operator Handbook', '## Installing', '## Budgets', '### Forecasts', '## Troubleshooting'],
    );
    for (const c of chunks) {
      assert.equal(c.text.match(/^#{1,6} /gm)?.length, 1, 'one heading per chunk');
      assert.equal(c.text, handbook.slice(c.charStart, c.charEnd));
    }
  });

  it('keeps text before the first heading as a chunk with an empty heading path', () => {
    const chunks = chunkMarkdown('Preamble line.\n\n# Title\n\nBody.');
    assert.deepEqual(
      chunks.map((c) => [c.text, c.headingPath]),
      [
        ['Preamble line.', []],
        ['# Title\n\nBody.', ['Title']],
      ],
    );
  });

  it('merges a heading with no body of its own into the section after it', () => {
    const chunks = chunkMarkdown('# Title\n\n## Part one\n\nText one.\n\n## Part two\n\nText two.');
    assert.equal(chunks.length, 2);
    assert.equal(chunks[0]!.text, '# Title\n\n## Part one\n\nText one.');
    assert.deepEqual(chunks[0]!.headingPath, ['Title', 'Part one']);
    assert.deepEqual(chunks[1]!.headingPath, ['Title', 'Part two']);
  });

  it('ignores # lines inside fenced code blocks', () => {
    const md = '# Setup\n\n```sh\n# not a heading\necho hi\n```\n\nAfter the code.\n\n## Next\n\nMore.';
    const sections = headingSections(md);
    assert.deepEqual(
      sections.map((s) => s.headingPath),
      [['Setup'], ['Setup', 'Next']],
    );
    assert.match(chunkMarkdown(md)[0]!.text, /# not a heading\necho hi/);
  });

  it('returns one chunk for a tiny document and none for an empty or blank one', () => {
    assert.deepEqual(
      chunkMarkdown('Hello.').map((c) => c.text),
      ['Hello.'],
    );
    assert.deepEqual(chunkMarkdown(''), []);
    assert.deepEqual(chunkMarkdown('  \n\n \t\n'), []);
    assert.deepEqual(
      chunkMarkdown('# Only a title\n').map((c) => c.text),
      ['# Only a title'],
    );
  });

  it('bounds every chunk to maxChars and cuts long sections at word boundaries with overlap', () => {
    const body = words(1200);
    const md = `# Long\n\n${body}\n`;
    const chunks = chunkMarkdown(md, { maxChars: 1500, overlapChars: 150 });
    assert.ok(chunks.length > 4);
    for (const [i, c] of chunks.entries()) {
      assert.ok(c.text.length <= 1500, `chunk ${i} has ${c.text.length} chars`);
      assert.ok(c.charStart === 0 || /\s/.test(md[c.charStart - 1]!), `chunk ${i} starts inside a word`);
      assert.ok(c.charEnd === md.length || /\s/.test(md[c.charEnd]!), `chunk ${i} ends inside a word`);
      assert.deepEqual(c.headingPath, ['Long']);
    }
    for (let i = 1; i < chunks.length; i++) {
      const overlap = chunks[i - 1]!.charEnd - chunks[i]!.charStart;
      assert.ok(overlap > 0 && overlap <= 150, `overlap ${overlap} between chunks ${i - 1} and ${i}`);
      assert.ok(overlap >= 150 - 'lorem0 '.length, `overlap ${overlap} is short of ~150`);
    }
    assert.equal(chunks.at(-1)!.charEnd, md.trimEnd().length, 'the text is covered to its end');
  });

  it('prefers a paragraph break, then a line break, then a sentence end to a plain space', () => {
    const para = (n: number) => words(n).slice(0, n);
    const md = `${para(900)}\n\n${para(900)}`;
    const chunks = chunkMarkdown(md, { maxChars: 1500, overlapChars: 0 });
    assert.equal(chunks[0]!.charEnd, 900, 'cut at the blank line');
    const lines = `${para(800)}\n${para(800)}`;
    assert.equal(chunkMarkdown(lines, { maxChars: 1500, overlapChars: 0 })[0]!.charEnd, 800, 'cut at the line end');
    const sentences = `${para(799)}. ${para(800)}`;
    assert.equal(
      chunkMarkdown(sentences, { maxChars: 1500, overlapChars: 0 })[0]!.charEnd,
      800,
      'cut after the period',
    );
  });

  it('cuts a word longer than maxChars, and never between the halves of a surrogate pair', () => {
    const long = 'x'.repeat(3999);
    const chunks = chunkMarkdown(long, { maxChars: 1000, overlapChars: 100 });
    assert.ok(chunks.every((c) => c.text.length > 0 && c.text.length <= 1000));
    assert.equal(chunks.at(-1)!.charEnd, long.length);
    const emoji = '😀'.repeat(800);
    for (const c of chunkMarkdown(emoji, { maxChars: 999, overlapChars: 0 })) {
      assert.equal(c.text.length % 2, 0, 'no lone surrogate');
    }
  });

  it('rejects an overlap of half the size or more', () => {
    assert.throws(() => chunkMarkdown('x', { maxChars: 100, overlapChars: 50 }), RangeError);
    assert.throws(() => chunkMarkdown('x', { maxChars: 0 }), RangeError);
  });

  it('property: chunks are non-empty, trimmed, bounded, true slices in order, and cover every word', () => {
    const text = fc.stringMatching(/^[a-z #.\n`-]{0,400}$/);
    fc.assert(
      fc.property(text, fc.integer({ min: 20, max: 120 }), fc.integer({ min: 0, max: 9 }), (md, maxChars, overlap) => {
        const chunks = chunkMarkdown(md, { maxChars, overlapChars: overlap });
        let covered = 0;
        for (const c of chunks) {
          assert.ok(c.text.length > 0 && c.text.length <= maxChars);
          assert.equal(c.text, c.text.trim());
          assert.equal(c.text, md.slice(c.charStart, c.charEnd));
          assert.ok(c.charStart >= covered - overlap, 'starts no further back than the overlap');
          const gap = md.slice(covered, c.charStart);
          assert.ok(c.charStart <= covered || gap.trim() === '', `text ${JSON.stringify(gap)} was dropped`);
          covered = Math.max(covered, c.charEnd);
        }
        assert.equal(md.slice(covered).trim(), '', 'the tail was dropped');
      }),
      { numRuns: 300 },
    );
  });

  it('boundedPieces always makes progress, whatever the overlap', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), fc.integer({ min: 2, max: 50 }), (s, max) => {
        const pieces = boundedPieces(s, 0, s.length, max, Math.floor((max - 1) / 2));
        for (let i = 1; i < pieces.length; i++) assert.ok(pieces[i]![0] > pieces[i - 1]![0]);
      }),
    );
  });
});

describe('page markers', () => {
  it('removes the markers and maps chunk offsets to the pages they overlap', () => {
    const marked =
      '<!-- document-worker:page 1 -->\n# A\n\none\n\n<!-- document-worker:page 2 -->\ntwo\n\n<!-- document-worker:page 3 -->\nthree';
    const { markdown, pageStarts } = removePageMarkers(marked);
    assert.equal(markdown, '# A\n\none\n\ntwo\n\nthree');
    assert.deepEqual(
      pageStarts.map((p) => p.page),
      [1, 2, 3],
    );
    assert.deepEqual(pagesOf(pageStarts, 0, 3), [1]);
    assert.deepEqual(pagesOf(pageStarts, markdown.indexOf('one'), markdown.indexOf('two') + 3), [1, 2]);
    assert.deepEqual(pagesOf(pageStarts, markdown.indexOf('three'), markdown.length), [3]);
    assert.deepEqual(removePageMarkers('no markers').pageStarts, []);
  });
});

// --- end to end ----------------------------------------------------------------------------

interface WorkerRun {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs the worker as a child process, the way `npm run worker` does; the sidecar keeps serving meanwhile. */
function runWorker(args: string[], tg?: TestTollgate): Promise<WorkerRun> {
  const env: NodeJS.ProcessEnv = { ...process.env, PARSE_POLL_INTERVAL_MS: '20' };
  delete env.OPENAI_API_KEY;
  delete env.LLAMA_CLOUD_API_KEY;
  if (tg) {
    env.OPENAI_BASE_URL = `${tg.url}/openai/v1`;
    env.LLAMA_CLOUD_BASE_URL = `${tg.url}/llamaparse`;
  }
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', workerMain, ...args], { cwd: repoRoot, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: performance.now() - started }));
  });
}

async function readOutputs(dir: string): Promise<Map<string, ChunkRecord[]>> {
  const outputs = new Map<string, ChunkRecord[]>();
  for (const name of (await readdir(dir)).sort()) {
    const lines = (await readFile(join(dir, name), 'utf8')).split('\n').filter((l) => l !== '');
    outputs.set(
      name,
      lines.map((l) => JSON.parse(l) as ChunkRecord),
    );
  }
  return outputs;
}

/** `tollgate_requests_total` summed by operation, from the Prometheus text. */
function requestsByOperation(metrics: string): Map<string, number> {
  const totals = new Map<string, number>();
  for (const line of metrics.split('\n')) {
    if (!line.startsWith('tollgate_requests_total{')) continue;
    const operation = /operation="([^"]+)"/.exec(line)?.[1] ?? '';
    totals.set(operation, (totals.get(operation) ?? 0) + Number(line.split(' ').at(-1)));
  }
  return totals;
}

const failedLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('FAILED '));

describe('document worker end to end (sidecar in MOCK mode, worker as a child process)', () => {
  const sampleFiles = ['handbook.md', 'price-list.csv', 'product-page.html', 'release-notes.txt', 'sample-report.pdf'];
  let tmp: string;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'document-worker-'));
  });
  after(() => rm(tmp, { recursive: true, force: true }));

  it('parses, chunks and embeds every sample document, each call under its document’s correlation id', async (t) => {
    const tg = await startTestTollgate({ ADMIN_TOKEN, MOCK_PARSE_DELAY_MS: '30' });
    t.after(() => tg.close());
    const out = join(tmp, 'good');

    const run = await runWorker([fixture('documents'), '--out', out], tg);
    t.diagnostic(`worker run over ${sampleFiles.length} documents took ${Math.round(run.ms)} ms`);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(failedLines(run.stderr), []);

    const outputs = await readOutputs(out);
    assert.deepEqual(
      [...outputs.keys()],
      sampleFiles.map((f) => `${f}.jsonl`).sort(),
      'one .jsonl per document, no leftovers',
    );

    const idOf = new Map<string, string>();
    for (const [name, records] of outputs) {
      const document = name.replace(/\.jsonl$/, '');
      assert.ok(records.length >= 1, `${name} has chunks`);
      const id = records[0]!.correlation_id;
      assert.match(id, UUID);
      idOf.set(document, id);
      records.forEach((r, i) => {
        assert.equal(r.document, document);
        assert.equal(r.chunk_index, i);
        assert.equal(r.correlation_id, id, 'one correlation id per document');
        assert.ok(r.text.trim().length > 0 && r.text.length <= 1500, `${name}#${i} text size ${r.text.length}`);
        assert.equal(r.model, 'text-embedding-3-small');
        assert.equal(r.embedding.length, 1536);
        const norm = Math.hypot(...r.embedding);
        assert.ok(Math.abs(norm - 1) < 1e-3, `${name}#${i} norm ${norm}`);
        assert.ok(Array.isArray(r.heading));
        assert.ok(r.char_end - r.char_start === r.text.length);
      });
    }
    assert.equal(new Set(idOf.values()).size, sampleFiles.length, 'different documents, different ids');

    // The mock returns a markdown file as it is, so its chunks are exactly the chunker's.
    const handbook = await readFile(fixture('documents/handbook.md'), 'utf8');
    assert.deepEqual(
      outputs.get('handbook.md.jsonl')!.map((r) => [r.text, r.heading]),
      chunkMarkdown(handbook).map((c) => [c.text, c.headingPath]),
    );

    const pdf = outputs.get('sample-report.pdf.jsonl')!;
    const pdfText = pdf.map((r) => r.text).join('\n');
    assert.match(pdfText, /Tollgate Sample Report/);
    assert.match(pdfText, /standard Helvetica font/);
    assert.match(pdfText, /Documents parsed in mock mode never leave the machine/);
    assert.deepEqual(pdf.find((r) => r.text.includes('## Conclusion'))?.pages, [3]);
    assert.deepEqual(pdf.find((r) => r.text.includes('## Methods'))?.pages, [2]);

    // The sidecar's view: every call belongs to one of the documents, each document has its own calls.
    const ids = new Set(idOf.values());
    const stray = tg.calls.filter((c) => !ids.has(c.correlationId));
    assert.deepEqual(
      stray.map((c) => `${c.operation} ${c.correlationId}`),
      [],
      'no call without a document’s correlation id',
    );
    for (const [document, id] of idOf) {
      const calls = tg.calls.filter((c) => c.correlationId === id);
      const ops = calls.map((c) => c.operation);
      assert.equal(ops.filter((o) => o === 'parse.upload').length, 1, `${document}: one upload`);
      assert.ok(ops.includes('parse.job'), `${document}: polled`);
      assert.equal(ops.filter((o) => o === 'parse.result.markdown').length, 1, `${document}: one result`);
      const bookings = calls.filter((c) => c.provider === 'llamaparse' && (c.usage?.pages ?? 0) > 0);
      assert.equal(bookings.length, 1, `${document}: the parse is booked once`);
      assert.equal(bookings[0]!.usage!.pages, document === 'sample-report.pdf' ? 3 : 1);
      const embeddings = calls.filter((c) => c.operation === 'embeddings');
      const chunks = outputs.get(`${document}.jsonl`)!.length;
      assert.equal(embeddings.length, Math.ceil(chunks / 64), `${document}: embeddings in batches of 64`);
      assert.ok(embeddings.every((c) => (c.usage?.inputTokens ?? 0) > 0 && c.model === 'text-embedding-3-small'));
      assert.ok(
        calls.every((c) => c.status === 200 && c.servedBy === 'mock'),
        `${document}: ${calls.map((c) => c.status)}`,
      );
    }

    // Metrics count the same calls.
    const metrics = await (await fetch(`${tg.url}/metrics`)).text();
    const byOperation = requestsByOperation(metrics);
    const count = (operation: string) => tg.calls.filter((c) => c.operation === operation).length;
    assert.equal(byOperation.get('embeddings'), count('embeddings'));
    assert.equal(byOperation.get('parse.upload'), sampleFiles.length);
    assert.equal(byOperation.get('parse.result.markdown'), sampleFiles.length);
    assert.equal(byOperation.get('parse.job'), count('parse.job'));

    // And the ledger: 7 pages parsed (3 + 4 × 1), every embeddings call booked under the model.
    const costs = (await (
      await fetch(`${tg.url}/admin/costs?window=day&group_by=provider,model`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      })
    ).json()) as {
      total: { pages: number; requests: number };
      groups: { provider: string; model: string; requests: number }[];
    };
    assert.equal(costs.total.pages, 7);
    const embeddingGroup = costs.groups.find((g) => g.provider === 'openai' && g.model === 'text-embedding-3-small');
    assert.equal(embeddingGroup?.requests, count('embeddings'));
  });

  it('reports one FAILED line per unreadable file, writes nothing for them and exits 1', async (t) => {
    const tg = await startTestTollgate({ MOCK_PARSE_DELAY_MS: '10' });
    t.after(() => tg.close());
    const out = join(tmp, 'bad');

    const run = await runWorker([fixture('bad-documents'), '--out', out], tg);
    assert.equal(run.code, 1, run.stderr);
    const failed = failedLines(run.stderr);
    assert.equal(failed.length, 3, run.stderr);
    assert.match(failed.find((l) => l.startsWith('FAILED empty.pdf: ')) ?? '', /empty/i);
    assert.match(failed.find((l) => l.startsWith('FAILED corrupt.pdf: ')) ?? '', /PDF_IS_BROKEN/);
    assert.match(failed.find((l) => l.startsWith('FAILED firmware.bin: ')) ?? '', /Unsupported file type/);
    assert.doesNotMatch(run.stderr, /^\s+at /m, 'no stack trace');
    assert.deepEqual(await readdir(out), [], 'no output, not even a partial one');

    // Each failure names its correlation id, and the sidecar saw that document's calls under it.
    for (const line of failed) {
      const id = /\[correlation_id=([^\]]+)\]$/.exec(line)?.[1];
      assert.ok(id && UUID.test(id), line);
      const calls = tg.calls.filter((c) => c.correlationId === id);
      assert.ok(calls.length >= 1, line);
      assert.ok(
        calls.every((c) => (c.usage?.pages ?? 0) === 0),
        'a failed parse is not billed',
      );
    }
    assert.equal(tg.calls.filter((c) => c.operation === 'embeddings').length, 0);
  });

  it('still writes the good documents of a mixed folder, skipping dotfiles and subfolders', async (t) => {
    const tg = await startTestTollgate({ MOCK_PARSE_DELAY_MS: '10' });
    t.after(() => tg.close());
    const folder = join(tmp, 'mixed');
    const out = join(tmp, 'mixed-out');
    await mkdir(join(folder, 'nested'), { recursive: true });
    await copyFile(fixture('documents/handbook.md'), join(folder, 'handbook.md'));
    await copyFile(fixture('documents/sample-report.pdf'), join(folder, 'sample-report.pdf'));
    await copyFile(fixture('bad-documents/corrupt.pdf'), join(folder, 'corrupt.pdf'));
    await copyFile(fixture('bad-documents/firmware.bin'), join(folder, 'firmware.bin'));
    await writeFile(join(folder, '.notes.txt'), 'a dotfile, skipped');
    await writeFile(join(folder, 'nested', 'inner.txt'), 'in a subfolder, skipped');

    const run = await runWorker([folder, '--out', out, '--concurrency', '2'], tg);
    assert.equal(run.code, 1, run.stderr);
    assert.deepEqual(
      failedLines(run.stderr)
        .map((l) => l.split(':')[0])
        .sort(),
      ['FAILED corrupt.pdf', 'FAILED firmware.bin'],
    );
    const outputs = await readOutputs(out);
    assert.deepEqual([...outputs.keys()], ['handbook.md.jsonl', 'sample-report.pdf.jsonl']);
    assert.ok([...outputs.values()].every((records) => records.length > 0));
    assert.equal(
      tg.calls.filter((c) => c.operation === 'parse.upload').length,
      4,
      'dotfile and subfolder not uploaded',
    );
  });

  describe('with a LlamaParse budget that fits 2 of the 7 pages (MOCK, BUDGET_INCLUDE_MOCK=true)', () => {
    // $0.01 a day; a page costs $0.00375 (cost_effective, 3 credits at $1.25 per 1000), so two
    // 1-page documents fit ($0.0075) and a third does not. The text documents' pages cannot be
    // counted before parsing, so the sidecar holds LLAMAPARSE_DEFAULT_PAGES for them: 1, what the
    // mock bills them.
    const BUDGET_USD = 0.01;
    const PAGE_USD = 0.00375;
    const budgetVars = {
      ADMIN_TOKEN,
      MOCK_PARSE_DELAY_MS: '10',
      BUDGET_INCLUDE_MOCK: 'true',
      LLAMAPARSE_BUDGET_DAILY_USD: String(BUDGET_USD),
      LLAMAPARSE_DEFAULT_PAGES: '1',
    };
    /** A sidecar with the budget, and the worker run over the sample documents against it (exit 1). */
    const runOverBudget = async (t: { after: (fn: () => Promise<void>) => void }, concurrency: number) => {
      const tg = await startTestTollgate(budgetVars);
      t.after(() => tg.close());
      const out = join(tmp, `budget-${concurrency}`);
      const run = await runWorker([fixture('documents'), '--out', out, '--concurrency', String(concurrency)], tg);
      assert.equal(run.code, 1, run.stderr);
      return { tg, run, out };
    };
    /** The ledger: 2 pages parsed, $0.0075 spent against the $0.01 budget, nothing left held. */
    const assertSpentTwoPages = async (tg: TestTollgate) => {
      const costs = (await (
        await fetch(`${tg.url}/admin/costs?window=day`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
      ).json()) as {
        total: { pages: number };
        budgets: { scope: string; limit_usd: number; spent_usd: number; held_usd: number }[];
      };
      const budget = costs.budgets.find((b) => b.scope === 'llamaparse')!;
      assert.equal(costs.total.pages, 2);
      assert.equal(budget.limit_usd, BUDGET_USD);
      assert.ok(Math.abs(budget.spent_usd - 2 * PAGE_USD) < 1e-9, `spent ${budget.spent_usd}`);
      assert.equal(budget.held_usd, 0);
      assert.ok(budget.spent_usd <= BUDGET_USD);
    };
    const stoppedLine = (stderr: string) => stderr.split('\n').find((l) => l.startsWith('STOPPED at the budget: '));

    it('one at a time: 2 documents processed, the third refused with the sidecar’s message, the rest not started', async (t) => {
      const { tg, run, out } = await runOverBudget(t, 1);
      // The files go in name order: handbook.md and price-list.csv fit, product-page.html does not.
      const failed = failedLines(run.stderr);
      assert.equal(failed.length, 1, run.stderr);
      assert.match(
        failed[0]!,
        /^FAILED product-page\.html: LlamaParse refused the file: HTTP 429: The daily llamaparse budget of \$0\.0100 \(set by LLAMAPARSE_BUDGET_DAILY_USD\) would be exceeded \(\$0\.007500 spent, this request may cost up to \$0\.003750\)\..* \(budget_exceeded\) \[correlation_id=/,
      );
      assert.match(run.stderr, /^5 files: 2 processed, 1 failed, 2 not started, /m);
      const stopped = stoppedLine(run.stderr);
      assert.match(
        stopped ?? '',
        /^STOPPED at the budget: 2 files not started after product-page\.html was refused \(429 budget_exceeded\)\. /,
      );
      assert.match(stopped ?? '', /LLAMAPARSE_BUDGET_DAILY_USD/, 'the stop line carries the sidecar’s message');

      assert.deepEqual([...(await readOutputs(out)).keys()], ['handbook.md.jsonl', 'price-list.csv.jsonl']);
      const uploads = tg.calls.filter((c) => c.operation === 'parse.upload');
      assert.deepEqual(
        uploads.map((c) => c.status),
        [200, 200, 429],
        'nothing uploaded after the refusal',
      );
      await assertSpentTwoPages(tg);
    });

    it('four at a time: the spend still stops at 2 pages, and no file starts after a refusal', async (t) => {
      const { tg, run, out } = await runOverBudget(t, 4);
      // Which two of the four 1-page documents arrive first is the scheduler's; that two fit is not.
      const outputs = await readOutputs(out);
      assert.equal(outputs.size, 2, run.stderr);
      const failed = failedLines(run.stderr);
      assert.ok(failed.length >= 2, run.stderr);
      assert.ok(
        failed.every((l) => /HTTP 429: .*LLAMAPARSE_BUDGET_DAILY_USD.*\(budget_exceeded\)/.test(l)),
        run.stderr,
      );
      assert.match(stoppedLine(run.stderr) ?? '', /not started after .* was refused \(429 budget_exceeded\)/);
      assert.equal(tg.calls.filter((c) => c.operation === 'parse.upload').length, 2 + failed.length);
      await assertSpentTwoPages(tg);
    });
  });

  it('exits 2 with the usage when the folder is missing or is not a folder', async () => {
    const missing = await runWorker([]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /missing <folder>/);
    assert.match(missing.stderr, /usage: npm run worker/);
    const notAFolder = await runWorker([fixture('documents/handbook.md')]);
    assert.equal(notAFolder.code, 2);
    assert.match(notAFolder.stderr, /is not a folder/);
  });
});
