/**
 * The LlamaParse mock's v1 routes (upload, job, details, every result format, job_metadata)
 * against the LlamaCloud OpenAPI document's schemas for those routes, over generated documents
 * and upload options, as a worker sees them through the sidecar.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import fc from 'fast-check';
import { startTestTollgate, type TestTollgate } from '../support/tollgate.js';
import { countCase, reportCases } from './support/cases.js';
import { assertValidAgainst, assertValidRoute, parseJson, runs } from './support/check.js';
import { differencesFor } from './support/differences.js';
import { HTTP_ERROR, JOB_METADATA, JSON_PAGE } from './support/llamacloud-shapes.js';
import { document, formOf, makePdfs, v1Fields } from './support/llamaparse-requests.js';
import { describeWithSpec, loadSpec } from './support/specs.js';
import { createSpecValidator, type SpecValidator } from './support/validator.js';

const OP = 'llamaparse ';
const PREFIXES = ['/api/v1/parsing', '/api/parsing'] as const;

async function get(base: string, path: string) {
  const res = await fetch(`${base}/llamaparse${path}`, { headers: { authorization: 'Bearer llx-placeholder' } });
  return { status: res.status, text: await res.text() };
}

async function upload(base: string, path: string, form: FormData) {
  const res = await fetch(`${base}/llamaparse${path}`, {
    method: 'POST',
    headers: { authorization: 'Bearer llx-placeholder' },
    body: form,
  });
  return { status: res.status, text: await res.text() };
}

describeWithSpec(
  "the LlamaParse mock's v1 routes answer as the LlamaCloud document says",
  loadSpec('llamacloud'),
  (spec) => {
    let v: SpecValidator;
    let pdfs: Uint8Array[];
    const sidecars: TestTollgate[] = [];
    const start = async (vars: Record<string, string> = {}) => {
      const tg = await startTestTollgate({ SERVICE_MODE: 'mock', MOCK_SEED: '7', MOCK_PARSE_DELAY_MS: '0', ...vars });
      sidecars.push(tg);
      return tg;
    };

    /** The answer of `GET|POST prefix+route` validates against the document's schema for it. */
    const expectRoute = (method: string, docPath: string, answer: { status: number; text: string }, what: string) => {
      assert.equal(answer.status, 200, `${what}: ${answer.text}`);
      const body = parseJson(answer.text, what);
      assertValidRoute(v, method, docPath, 200, body, what);
      return body as Record<string, unknown>;
    };
    const expectError = (answer: { status: number; text: string }, status: number, what: string) => {
      assert.equal(answer.status, status, `${what}: ${answer.text}`);
      assertValidAgainst(v, HTTP_ERROR.id, HTTP_ERROR.schema, parseJson(answer.text, what), what);
    };

    before(async () => {
      v = createSpecValidator('llamacloud', spec.doc, differencesFor('llamacloud'));
      pdfs = await makePdfs();
    });
    after(async () => {
      await Promise.all(sidecars.map((tg) => tg.close()));
      reportCases(OP);
    });

    it('upload → job → details → markdown, text and json results, each as documented', async () => {
      const tg = await start();
      await fc.assert(
        fc.asyncProperty(document(pdfs), v1Fields, fc.constantFrom(...PREFIXES), async (doc, fields, prefix) => {
          const job = expectRoute(
            'POST',
            `${prefix}/upload`,
            await upload(tg.url, `${prefix}/upload`, formOf(doc, fields)),
            'upload',
          );
          countCase(`${OP}POST ${prefix}/upload`);
          const id = String(job.id);
          const status = expectRoute('GET', `${prefix}/job/{job_id}`, await get(tg.url, `${prefix}/job/${id}`), 'job');
          assert.equal(status.status, 'SUCCESS');
          countCase(`${OP}GET ${prefix}/job/{job_id}`);
          const details = expectRoute(
            'GET',
            `${prefix}/job/{job_id}/details`,
            await get(tg.url, `${prefix}/job/${id}/details`),
            'details',
          );
          assertValidAgainst(v, JOB_METADATA.id, JOB_METADATA.schema, details.job_metadata, 'details.job_metadata');
          countCase(`${OP}GET ${prefix}/job/{job_id}/details`);
          for (const kind of ['markdown', 'text', 'json'] as const) {
            const route = `${prefix}/job/{job_id}/result/${kind}`;
            const result = expectRoute('GET', route, await get(tg.url, `${prefix}/job/${id}/result/${kind}`), kind);
            assertValidAgainst(v, JOB_METADATA.id, JOB_METADATA.schema, result.job_metadata, `${kind}.job_metadata`);
            if (kind === 'json') assertValidAgainst(v, JSON_PAGE.id, JSON_PAGE.schema, result.pages, 'json.pages');
            countCase(`${OP}GET ${route}`);
          }
        }),
        runs(25),
      );
    });

    it('a pending job, a failed job, an unknown job and result kinds the mock does not make', async () => {
      const slow = await start({ MOCK_PARSE_DELAY_MS: '600000' });
      const failing = await start({ MOCK_ERROR_RATE: '1' });
      await fc.assert(
        fc.asyncProperty(document(pdfs), fc.constantFrom(...PREFIXES), async (doc, prefix) => {
          const pending = expectRoute(
            'POST',
            `${prefix}/upload`,
            await upload(slow.url, `${prefix}/upload`, formOf(doc, {})),
            'upload',
          );
          const job = expectRoute(
            'GET',
            `${prefix}/job/{job_id}`,
            await get(slow.url, `${prefix}/job/${pending.id}`),
            'pending',
          );
          assert.equal(job.status, 'PENDING');
          expectError(await get(slow.url, `${prefix}/job/${pending.id}/result/markdown`), 404, 'a pending result');
          countCase(`${OP}job PENDING (job, result 404)`);

          const failed = expectRoute(
            'POST',
            `${prefix}/upload`,
            await upload(failing.url, `${prefix}/upload`, formOf(doc, {})),
            'upload',
          );
          const error = expectRoute(
            'GET',
            `${prefix}/job/{job_id}`,
            await get(failing.url, `${prefix}/job/${failed.id}`),
            'failed',
          );
          assert.equal(error.status, 'ERROR');
          assert.equal(typeof error.error_message, 'string');
          expectError(await get(failing.url, `${prefix}/job/${failed.id}/result/text`), 400, 'a failed result');
          countCase(`${OP}job ERROR (job, result 400)`);

          for (const kind of ['structured', 'xlsx', 'pdf']) {
            expectError(await get(slow.url, `${prefix}/job/${pending.id}/result/${kind}`), 404, `result/${kind}`);
          }
          expectError(await get(slow.url, `${prefix}/job/00000000-0000-4000-8000-000000000000`), 404, 'an unknown job');
          countCase(`${OP}error 404 (unknown job, result kinds)`);
        }),
        runs(10),
      );
    });

    it("the sidecar's own refusals: an empty file, 413 over the upload cap, 429 over the pages bucket, 404 unknown path", async () => {
      const plain = await start();
      const empty = { name: 'empty.txt', type: 'text/plain', bytes: new Uint8Array() };
      expectError(await upload(plain.url, '/api/v1/parsing/upload', formOf(empty, {})), 400, 'an empty file');
      countCase(`${OP}error 400 (empty file)`);
      expectError(await get(plain.url, '/api/v1/parsing/nothing/here'), 404, 'an unknown path');
      countCase(`${OP}error 404 unknown path`);

      const tg = await start({
        LLAMAPARSE_MAX_UPLOAD_BYTES: '4096',
        LLAMAPARSE_PAGES_PER_HOUR: '2',
        LLAMAPARSE_PAGES_BURST: '2',
      });
      const big = { name: 'big.txt', type: 'text/plain', bytes: new Uint8Array(8192).fill(65) };
      expectError(await upload(tg.url, '/api/v1/parsing/upload', formOf(big, {})), 413, 'a file over the cap');
      countCase(`${OP}error 413 request_too_large`);
      const three = { name: 'three.pdf', type: 'application/pdf', bytes: pdfs[2] as Uint8Array };
      expectError(
        await upload(tg.url, '/api/v1/parsing/upload', formOf(three, {})),
        429,
        'three pages over a bucket of two',
      );
      countCase(`${OP}error 429 rate_limit_exceeded (pages)`);
    });
  },
);
