import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { afterEach, describe, it } from 'node:test';
import type { MockCall, MockSettings, ProviderReply } from '../../types.js';
import { createLlamaParseMock, type LlamaParseMock, parsePageList, TIER_CREDITS_PER_PAGE } from './index.js';

const fixture = (name: string) => readFile(new URL(`../../../../test/fixtures/${name}`, import.meta.url));

const baseSettings: MockSettings = {
  latencyMs: [0, 0],
  streamChunkDelayMs: 0,
  errorRate: 0,
  seed: 0,
  parseDelayMs: 500,
};

function clock(start = 1_700_000_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

function call(operation: string, init: Partial<MockCall> = {}): MockCall {
  return {
    operation,
    method: 'GET',
    path: '/',
    params: {},
    query: new URLSearchParams(),
    headers: {},
    signal: new AbortController().signal,
    correlationId: 'test',
    ...init,
  };
}

/** A MockCall whose body is a real multipart request stream, as the sidecar hands it over. */
function multipart(operation: string, form: FormData, init: Partial<MockCall> = {}): MockCall {
  const request = new Request('http://mock.test/', { method: 'POST', body: form });
  const body = Readable.fromWeb(request.body as unknown as NodeReadableStream<Uint8Array>);
  return call(operation, {
    method: 'POST',
    headers: { 'content-type': request.headers.get('content-type') ?? '' },
    body,
    ...init,
  });
}

function fileForm(name: string, bytes: Uint8Array | string, fields: Record<string, string | string[]> = {}): FormData {
  const form = new FormData();
  form.append('file', new File([typeof bytes === 'string' ? bytes : new Uint8Array(bytes)], name));
  for (const [key, value] of Object.entries(fields)) {
    for (const v of Array.isArray(value) ? value : [value]) form.append(key, v);
  }
  return form;
}

// biome-ignore lint/suspicious/noExplicitAny: test helper reads arbitrary JSON bodies
function bodyOf(reply: ProviderReply): any {
  assert.equal(typeof reply.body, 'string');
  return JSON.parse(reply.body as string);
}

describe('LlamaParse mock', () => {
  let mock: LlamaParseMock | undefined;
  afterEach(() => mock?.close());

  function setup(settings: Partial<MockSettings> = {}, options: { maxUploadBytes?: number; maxJobs?: number } = {}) {
    const time = clock();
    const current = { ...baseSettings, ...settings };
    mock = createLlamaParseMock(() => current, time.now, options);
    return { mock, time, current };
  }

  async function uploadV1(m: LlamaParseMock, name: string, bytes: Uint8Array | string, fields = {}) {
    const reply = await m.handle(multipart('parse.upload', fileForm(name, bytes, fields)));
    return { reply, body: bodyOf(reply) };
  }

  it('answers an upload with a PENDING job, then SUCCESS once the parse delay has passed', async () => {
    const { mock, time } = setup();
    const { reply, body } = await uploadV1(mock, 'notes.md', '# Title\n\nHello');
    assert.equal(reply.status, 200);
    assert.match(body.id, /^[0-9a-f-]{36}$/);
    assert.equal(body.status, 'PENDING');
    const job = () => mock.handle(call('parse.job', { params: { id: body.id } })).then(bodyOf);
    assert.equal((await job()).status, 'PENDING');
    time.advance(499);
    assert.equal((await job()).status, 'PENDING');
    time.advance(1);
    assert.deepEqual(await job(), { id: body.id, status: 'SUCCESS', error_code: null, error_message: null });
  });

  it('serves markdown, text and json results drawn from the file, with job_metadata', async () => {
    const { mock, time } = setup();
    const pdf = await fixture('documents/sample-report.pdf');
    const { body } = await uploadV1(mock, 'sample-report.pdf', pdf);
    time.advance(500);
    const params = { id: body.id };
    const markdown = bodyOf(await mock.handle(call('parse.result.markdown', { params })));
    assert.equal(markdown.markdown.split('\n---\n').length, 3);
    assert.match(markdown.markdown, /^# Tollgate Sample Report/);
    assert.deepEqual(markdown.job_metadata, {
      credits_used: 9,
      job_credits_usage: 9,
      job_pages: 3,
      job_auto_mode_triggered_pages: 0,
      job_is_cache_hit: false,
    });
    const text = bodyOf(await mock.handle(call('parse.result.text', { params })));
    assert.match(text.text, /Each page of this file is drawn/);
    assert.equal(text.job_metadata.credits_used, 9);
    const json = bodyOf(await mock.handle(call('parse.result.json', { params })));
    assert.equal(json.pages.length, 3);
    assert.deepEqual(Object.keys(json.pages[0]).slice(0, 5), ['page', 'text', 'md', 'images', 'charts']);
    assert.equal(json.pages[1].page, 2);
    assert.deepEqual(json.pages[0].images, []);
    assert.equal(json.pages[0].items[0].type, 'heading');
    assert.equal(json.job_metadata.job_pages, 3);
  });

  it('prices pages by tier: fast 1, cost_effective 3, agentic 10, agentic_plus 45 credits', async () => {
    const { mock, time } = setup();
    const pdf = await fixture('documents/sample-report.pdf');
    const cases: Array<[Record<string, string>, string]> = [
      [{}, 'cost_effective'],
      [{ fast_mode: 'true' }, 'fast'],
      [{ parse_mode: 'parse_page_without_llm' }, 'fast'],
      [{ parse_mode: 'parse_page_with_llm' }, 'cost_effective'],
      [{ parse_mode: 'parse_page_with_agent' }, 'agentic'],
      [{ premium_mode: 'true' }, 'agentic_plus'],
      [{ tier: 'agentic', parse_mode: 'parse_page_without_llm' }, 'agentic'],
      [{ premium_mode: 'false', fast_mode: 'false' }, 'cost_effective'],
    ];
    for (const [fields, tier] of cases) {
      const { body } = await uploadV1(mock, 'r.pdf', pdf, fields);
      time.advance(500);
      const described = mock.describeJob(body.id);
      assert.deepEqual(
        described && { tier: described.tier, pages: described.pages, credits: described.credits },
        { tier, pages: 3, credits: 3 * TIER_CREDITS_PER_PAGE[tier as keyof typeof TIER_CREDITS_PER_PAGE] },
        JSON.stringify(fields),
      );
      const result = bodyOf(await mock.handle(call('parse.result.markdown', { params: { id: body.id } })));
      assert.equal(result.job_metadata.credits_used, described?.credits);
    }
  });

  it('honours target_pages (0-based), max_pages, page_separator and page prefixes', async () => {
    const { mock, time } = setup();
    const pdf = await fixture('documents/sample-report.pdf');
    const { body } = await uploadV1(mock, 'r.pdf', pdf, {
      target_pages: '0,2',
      page_separator: '\n<<{pageNumber}>>\n',
      page_prefix: '[p{pageNumber}]',
    });
    time.advance(500);
    const result = bodyOf(await mock.handle(call('parse.result.text', { params: { id: body.id } })));
    assert.match(result.text, /^\[p1\]Tollgate Sample Report/);
    assert.match(result.text, /\n<<3>>\n\[p3\]Conclusion/);
    assert.doesNotMatch(result.text, /Methods/);
    assert.equal(result.job_metadata.job_pages, 2);
    const limited = await uploadV1(mock, 'r.pdf', pdf, { max_pages: '1' });
    assert.equal(mock.describeJob(limited.body.id)?.pages, 1);
    const bad = await uploadV1(mock, 'r.pdf', pdf, { target_pages: 'one' });
    assert.equal(bad.reply.status, 400);
  });

  it('refuses an empty file and an unsupported type at upload, as LlamaCloud does', async () => {
    const { mock } = setup();
    const empty = await uploadV1(mock, 'empty.pdf', new Uint8Array());
    assert.equal(empty.reply.status, 400);
    assert.deepEqual(empty.body, { detail: 'File is empty', code: 'invalid_request' });
    const exe = await uploadV1(mock, 'setup.exe', new Uint8Array([0x4d, 0x5a, 0, 0]));
    assert.equal(exe.reply.status, 400);
    assert.match(exe.body.detail, /^Unsupported file type/);
    const bin = await uploadV1(mock, 'firmware.bin', await fixture('bad-documents/firmware.bin'));
    assert.equal(bin.body.detail, 'Unsupported file type: .bin');
    const none = await mock.handle(multipart('parse.upload', new FormData()));
    assert.equal(none.status, 400);
  });

  it('fails the job, not the upload, for a corrupt PDF', async () => {
    const { mock, time } = setup();
    const { reply, body } = await uploadV1(mock, 'corrupt.pdf', await fixture('bad-documents/corrupt.pdf'));
    assert.equal(reply.status, 200);
    time.advance(500);
    const job = bodyOf(await mock.handle(call('parse.job', { params: { id: body.id } })));
    assert.equal(job.status, 'ERROR');
    assert.equal(job.error_code, 'PDF_IS_BROKEN');
    assert.match(job.error_message, /PDF/);
    const result = await mock.handle(call('parse.result.markdown', { params: { id: body.id } }));
    assert.equal(result.status, 400);
    assert.deepEqual(mock.describeJob(body.id), {
      id: body.id,
      api: 'v1',
      status: 'ERROR',
      fileName: 'corrupt.pdf',
      pages: 0,
      tier: 'cost_effective',
      credits: 0,
    });
  });

  it('answers 404 for an unknown job and for results before the job is done', async () => {
    const { mock } = setup();
    const unknown = await mock.handle(call('parse.job', { params: { id: 'nope' } }));
    assert.equal(unknown.status, 404);
    assert.deepEqual(bodyOf(unknown), { detail: 'Job not found', code: 'not_found' });
    const { body } = await uploadV1(mock, 'a.txt', 'hello');
    const early = await mock.handle(call('parse.result.markdown', { params: { id: body.id } }));
    assert.equal(early.status, 404);
    assert.equal(bodyOf(early).detail, 'Job not completed yet');
    const other = await mock.handle(call('parse.result.other', { params: { id: body.id, kind: 'xlsx' } }));
    assert.equal(other.status, 404);
    const route = await mock.handle(call('nope', { path: '/api/v1/whatever' }));
    assert.equal(route.status, 404);
    assert.equal(bodyOf(route).code, 'not_found');
  });

  it('answers 413 request_too_large for an upload over the byte cap', async () => {
    const { mock } = setup({}, { maxUploadBytes: 10_000 });
    const big = 'x'.repeat(20_000);
    const reply = await mock.handle(multipart('parse.upload', fileForm('big.txt', big)));
    assert.equal(reply.status, 413);
    assert.equal(bodyOf(reply).code, 'request_too_large');
    // A declared Content-Length over the cap is refused before reading.
    const declared = multipart('parse.upload', fileForm('a.txt', 'small'));
    declared.headers['content-length'] = '50000';
    assert.equal((await mock.handle(declared)).status, 413);
    const small = await mock.handle(multipart('parse.upload', fileForm('ok.txt', 'fine')));
    assert.equal(small.status, 200);
  });

  it('answers 415 for an upload that is not multipart', async () => {
    const { mock } = setup();
    const reply = await mock.handle(
      call('parse.upload', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: Readable.from(['{}']),
      }),
    );
    assert.equal(reply.status, 415);
  });

  it('fails jobs at MOCK_ERROR_RATE, the same jobs for the same seed and call order', async () => {
    async function outcomes(seed: number) {
      const { mock, time } = setup({ errorRate: 0.5, seed });
      const statuses: string[] = [];
      for (let i = 0; i < 12; i++) {
        const { body } = await uploadV1(mock, 'a.md', `# Doc ${i}`);
        time.advance(500);
        statuses.push(bodyOf(await mock.handle(call('parse.job', { params: { id: body.id } }))).status);
      }
      mock.close();
      return statuses;
    }
    const first = await outcomes(42);
    assert.deepEqual(await outcomes(42), first);
    assert.ok(first.includes('ERROR') && first.includes('SUCCESS'), first.join());
    assert.notDeepEqual(await outcomes(7), first);
  });

  it('waits the configured latency before answering', async () => {
    const { mock } = setup({ latencyMs: [30, 30] });
    const started = performance.now();
    await mock.handle(call('parse.job', { params: { id: 'x' } }));
    assert.ok(performance.now() - started >= 25);
  });

  it('books a job once', async () => {
    const { mock, time } = setup();
    const { body } = await uploadV1(mock, 'a.md', '# A');
    time.advance(500);
    assert.equal(mock.markBooked(body.id), true);
    assert.equal(mock.markBooked(body.id), false);
    assert.equal(mock.describeJob(body.id)?.bookedAt, time.now());
    assert.equal(mock.markBooked('unknown'), false);
  });

  it('evicts the oldest jobs past the limit and jobs older than an hour', async () => {
    const { mock, time } = setup({}, { maxJobs: 2 });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await uploadV1(mock, 'a.md', `# ${i}`)).body.id);
    assert.equal(mock.describeJob(ids[0]!), undefined);
    assert.ok(mock.describeJob(ids[2]!));
    time.advance(60 * 60 * 1000 + 1);
    assert.equal(mock.describeJob(ids[2]!), undefined);
  });

  describe('v2', () => {
    it('uploads with a configuration, moves PENDING → RUNNING → COMPLETED, and expands results', async () => {
      const { mock, time } = setup();
      const form = fileForm('handbook.md', await fixture('documents/handbook.md'), {
        configuration: JSON.stringify({ tier: 'agentic', version: 'latest' }),
      });
      const created = bodyOf(await mock.handle(multipart('parse.v2.upload', form)));
      assert.equal(created.status, 'PENDING');
      assert.equal(created.tier, 'agentic');
      assert.equal(created.name, 'handbook.md');
      const get = (expand?: string) =>
        mock
          .handle(
            call('parse.v2.get', { params: { id: created.id }, query: new URLSearchParams(expand ? { expand } : {}) }),
          )
          .then(bodyOf);
      assert.deepEqual(Object.keys(await get('markdown')), ['job']);
      time.advance(250);
      assert.equal((await get()).job.status, 'RUNNING');
      time.advance(250);
      const done = await get('markdown,text,items');
      assert.equal(done.job.status, 'COMPLETED');
      assert.equal(done.job.error_message, null);
      assert.equal(done.markdown.pages[0].page_number, 1);
      assert.equal(done.markdown.pages[0].success, true);
      assert.match(done.markdown.pages[0].markdown, /^## Budgets$/m);
      assert.match(done.text.pages[0].text, /^Budgets$/m);
      assert.ok(Array.isArray(done.items.pages[0].items));
      assert.equal(done.job_metadata.credits_used, 10);
      assert.deepEqual(Object.keys(await get()), ['job']);
      const full = await get('markdown_full');
      assert.match(full.markdown_full, /^# Operator Handbook/);
      assert.equal(mock.describeJob(created.id)?.tier, 'agentic');
    });

    it('requires tier and version, as LlamaCloud validates them (422)', async () => {
      const { mock } = setup();
      const noTier = await mock.handle(
        multipart('parse.v2.upload', fileForm('a.md', '# A', { configuration: JSON.stringify({ version: 'latest' }) })),
      );
      assert.equal(noTier.status, 422);
      assert.deepEqual(bodyOf(noTier).detail[0].loc, ['body', 'configuration', 'tier']);
      const badTier = await mock.handle(
        multipart('parse.v2.upload', fileForm('a.md', '# A', { configuration: '{"tier":"gold","version":"latest"}' })),
      );
      assert.equal(badTier.status, 422);
      const badExpand = await mock.handle(
        call('parse.v2.get', { params: { id: 'x' }, query: new URLSearchParams({ expand: 'markdown' }) }),
      );
      assert.equal(badExpand.status, 404);
    });

    it('parses a file uploaded to /api/v1/beta/files by file_id', async () => {
      const { mock, time } = setup();
      const file = bodyOf(
        await mock.handle(multipart('files.upload', fileForm('notes.txt', 'Hello\f World', { purpose: 'parse' }))),
      );
      assert.equal(file.name, 'notes.txt');
      assert.equal(file.purpose, 'parse');
      const created = await mock.handle(
        call('parse.v2.create', { method: 'POST', json: { file_id: file.id, tier: 'fast', version: 'latest' } }),
      );
      assert.equal(created.status, 200);
      const job = bodyOf(created);
      time.advance(500);
      const done = bodyOf(
        await mock.handle(call('parse.v2.get', { params: { id: job.id }, query: new URLSearchParams('expand=text') })),
      );
      assert.deepEqual(done.text.pages, [
        { page_number: 1, text: 'Hello' },
        { page_number: 2, text: ' World' },
      ]);
      assert.equal(done.job_metadata.credits_used, 2);
      const missing = await mock.handle(
        call('parse.v2.create', { method: 'POST', json: { file_id: 'nope', tier: 'fast', version: 'latest' } }),
      );
      assert.equal(missing.status, 404);
      const noFile = await mock.handle(
        call('parse.v2.create', { method: 'POST', json: { tier: 'fast', version: 'latest' } }),
      );
      assert.equal(noFile.status, 422);
    });

    it('reports a failed job as FAILED with its error message', async () => {
      const { mock, time } = setup();
      const form = fileForm('corrupt.pdf', await fixture('bad-documents/corrupt.pdf'), {
        configuration: '{"tier":"cost_effective","version":"latest"}',
      });
      const created = bodyOf(await mock.handle(multipart('parse.v2.upload', form)));
      time.advance(500);
      const failed = bodyOf(
        await mock.handle(
          call('parse.v2.get', { params: { id: created.id }, query: new URLSearchParams('expand=markdown') }),
        ),
      );
      assert.equal(failed.job.status, 'FAILED');
      assert.match(failed.job.error_message, /PDF/);
      assert.equal(failed.markdown, undefined);
    });
  });

  it('parses page lists 0- and 1-based', () => {
    assert.deepEqual([...(parsePageList('0,2-3', 0) ?? [])], [1, 3, 4]);
    assert.deepEqual([...(parsePageList('1,3', 1) ?? [])], [1, 3]);
    assert.equal(parsePageList('x', 0), undefined);
  });
});
