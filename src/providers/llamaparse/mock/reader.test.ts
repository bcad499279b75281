/**
 * End to end: the official LlamaCloud client (llama-cloud-services' LlamaParseReader) and plain
 * fetch against the mock behind a tiny HTTP server that routes by llamaparseRoutes, the way the
 * sidecar exposes it under /llamaparse.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LlamaParseReader } from 'llama-cloud-services/reader';
import type { MockSettings } from '../../types.js';
import { matchLlamaparseRoute } from '../routes.js';
import { createLlamaParseMock } from './index.js';

const documents = (name: string) => fileURLToPath(new URL(`../../../../test/fixtures/${name}`, import.meta.url));

const settings: MockSettings = { latencyMs: [0, 0], streamChunkDelayMs: 0, errorRate: 0, seed: 1, parseDelayMs: 150 };
const PREFIX = '/llamaparse';

interface Seen {
  method: string;
  path: string;
  operation: string;
  contentType: string | undefined;
  authorization: string | undefined;
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return chunks.length === 0 ? undefined : JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

describe('LlamaParse mock through the official client', () => {
  const mock = createLlamaParseMock(() => settings);
  const seen: Seen[] = [];
  let server: Server;
  let base = '';

  before(async () => {
    server = createServer(async function route(request, response) {
      const url = new URL(request.url ?? '/', 'http://localhost');
      const path = url.pathname.startsWith(PREFIX) ? url.pathname.slice(PREFIX.length) : url.pathname;
      const match = matchLlamaparseRoute(request.method ?? 'GET', path);
      seen.push({
        method: request.method ?? '',
        path: url.pathname + url.search,
        operation: match?.route.operation ?? 'none',
        contentType: request.headers['content-type'],
        authorization: request.headers.authorization,
      });
      if (!match) {
        response.writeHead(404, { 'content-type': 'application/json' }).end('{"detail":"Not Found"}');
        return;
      }
      const controller = new AbortController();
      response.on('close', () => controller.abort());
      const reply = await mock.handle({
        operation: match.route.operation,
        method: request.method ?? 'GET',
        path,
        params: match.params,
        query: url.searchParams,
        headers: request.headers,
        json: match.route.body === 'json' ? await readJson(request) : undefined,
        body: match.route.body === 'stream' ? request : undefined,
        signal: controller.signal,
        correlationId: 'e2e',
      });
      response.writeHead(reply.status, reply.headers).end(reply.body as string);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}${PREFIX}`;
  });

  after(async () => {
    mock.close();
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });

  function reader(options: Record<string, unknown> = {}) {
    return new LlamaParseReader({
      apiKey: 'llx-test',
      baseUrl: base,
      resultType: 'markdown',
      checkInterval: 0.05,
      maxCheckInterval: 0.1,
      verbose: false,
      ignoreErrors: false,
      ...options,
    });
  }

  it('loadData of a PDF: upload, poll, markdown split into its real pages', async () => {
    seen.length = 0;
    const docs = await reader().loadData(documents('documents/sample-report.pdf'));
    assert.equal(docs.length, 3);
    assert.match(docs[0]!.text, /^# Tollgate Sample Report/);
    assert.match(docs[1]!.text, /## Methods/);
    assert.match(docs[2]!.text, /The end of the sample report\./);

    const upload = seen[0]!;
    assert.equal(upload.method, 'POST');
    assert.equal(upload.path, '/llamaparse/api/v1/parsing/upload');
    assert.match(upload.contentType ?? '', /^multipart\/form-data; boundary=/);
    assert.equal(upload.authorization, 'Bearer llx-test');
    const polls = seen.filter((s) => s.operation === 'parse.job');
    assert.ok(polls.length >= 1);
    assert.match(polls[0]!.path, /^\/llamaparse\/api\/v1\/parsing\/job\/[0-9a-f-]{36}$/);
    const last = seen[seen.length - 1]!;
    assert.equal(last.operation, 'parse.result.markdown');
    assert.match(last.path, /\/api\/v1\/parsing\/job\/[0-9a-f-]{36}\/result\/markdown$/);
    const jobId = /job\/([0-9a-f-]{36})/.exec(last.path)?.[1] ?? '';
    assert.deepEqual(
      { ...mock.describeJob(jobId), id: undefined },
      {
        id: undefined,
        api: 'v1',
        status: 'SUCCESS',
        fileName: 'sample-report.pdf',
        pages: 3,
        tier: 'cost_effective',
        credits: 9,
      },
    );
  });

  it('loadData of markdown keeps its headings; text results too', async () => {
    const docs = await reader().loadData(documents('documents/handbook.md'));
    assert.equal(docs.length, 1);
    assert.match(docs[0]!.text, /^## Troubleshooting$/m);
    const text = await reader({ resultType: 'text', fastMode: true }).loadData(
      documents('documents/release-notes.txt'),
    );
    assert.match(text[0]!.text, /Version 0\.3/);
  });

  it('parse() returns json pages and job_metadata with the credits of the tier', async () => {
    const [result] = await reader({ premiumMode: true }).parse(documents('documents/sample-report.pdf'));
    assert.ok(result);
    assert.equal(result.pages.length, 3);
    assert.equal(result.pages[0]!.page, 1);
    assert.match(result.pages[0]!.md, /^# Tollgate Sample Report/);
    assert.deepEqual(result.job_metadata, {
      credits_used: 135,
      job_credits_usage: 135,
      job_pages: 3,
      job_auto_mode_triggered_pages: 0,
      job_is_cache_hit: false,
    });
  });

  it('a custom page separator round-trips through the reader', async () => {
    const docs = await reader({ pageSeparator: '\n=== page ===\n' }).loadData(documents('documents/sample-report.pdf'));
    assert.equal(docs.length, 3);
  });

  it('an unsupported file fails the upload the way LlamaCloud does', async () => {
    await assert.rejects(reader().loadData(documents('bad-documents/firmware.bin')), (error: unknown) => {
      assert.deepEqual(error, { detail: 'Unsupported file type: .bin', code: 'invalid_request' });
      return true;
    });
    await assert.rejects(reader().loadData(documents('bad-documents/corrupt.pdf')), /status: ERROR/);
  });

  it('raw v1 over fetch with the unversioned /api/parsing paths', async () => {
    const form = new FormData();
    form.append('file', new File([await readFile(documents('documents/price-list.csv'))], 'price-list.csv'));
    form.append('fast_mode', 'true');
    const upload = await fetch(`${base}/api/parsing/upload`, { method: 'POST', body: form });
    assert.equal(upload.status, 200);
    const { id, status } = (await upload.json()) as { id: string; status: string };
    assert.equal(status, 'PENDING');
    let job: { status: string } = { status };
    while (job.status === 'PENDING') {
      await new Promise((resolve) => setTimeout(resolve, 30));
      job = (await (await fetch(`${base}/api/parsing/job/${id}`)).json()) as { status: string };
    }
    assert.equal(job.status, 'SUCCESS');
    const result = (await (await fetch(`${base}/api/parsing/job/${id}/result/markdown`)).json()) as {
      markdown: string;
      job_metadata: { credits_used: number; job_pages: number };
    };
    // The fast tier outputs text only: the table comes back as tab-separated rows.
    assert.match(result.markdown, /^model\tinput_per_1m/);
    assert.deepEqual([result.job_metadata.credits_used, result.job_metadata.job_pages], [1, 1]);
    const json = (await (await fetch(`${base}/api/parsing/job/${id}/result/json`)).json()) as {
      pages: Array<{ items: Array<{ type: string }> }>;
    };
    assert.equal(json.pages[0]!.items[0]!.type, 'table');
    const details = await fetch(`${base}/api/v1/parsing/job/${id}/details`);
    assert.equal(details.status, 200);
    const missing = await fetch(`${base}/api/v1/parsing/job/00000000-0000-0000-0000-000000000000`);
    assert.equal(missing.status, 404);
    assert.deepEqual(await missing.json(), { detail: 'Job not found', code: 'not_found' });
  });

  it('raw v2 over fetch: upload with configuration, poll with expand', async () => {
    const form = new FormData();
    form.append('file', new File([await readFile(documents('documents/product-page.html'))], 'product-page.html'));
    form.append('configuration', JSON.stringify({ tier: 'cost_effective', version: 'latest' }));
    const upload = await fetch(`${base}/api/v2/parse/upload`, { method: 'POST', body: form });
    assert.equal(upload.status, 200);
    const created = (await upload.json()) as { id: string; status: string; project_id: string };
    assert.equal(created.status, 'PENDING');
    let body: {
      job: { status: string };
      markdown?: { pages: Array<{ markdown: string }> };
      job_metadata?: { credits_used: number };
    };
    do {
      await new Promise((resolve) => setTimeout(resolve, 30));
      body = (await (
        await fetch(`${base}/api/v2/parse/${created.id}?expand=markdown&expand=text`)
      ).json()) as typeof body;
    } while (body.job.status === 'PENDING' || body.job.status === 'RUNNING');
    assert.equal(body.job.status, 'COMPLETED');
    assert.match(body.markdown?.pages[0]?.markdown ?? '', /^## Features$/m);
    assert.equal(body.job_metadata?.credits_used, 3);

    const file = new FormData();
    file.append('file', new File(['# From files\n\nbody'], 'from-files.md'));
    file.append('purpose', 'parse');
    const stored = (await (await fetch(`${base}/api/v1/beta/files`, { method: 'POST', body: file })).json()) as {
      id: string;
    };
    const byId = await fetch(`${base}/api/v2/parse`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ file_id: stored.id, tier: 'agentic_plus', version: 'latest' }),
    });
    assert.equal(byId.status, 200);
    assert.equal(((await byId.json()) as { tier: string }).tier, 'agentic_plus');
  });
});
