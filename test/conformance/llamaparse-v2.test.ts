/**
 * The LlamaParse mock's v2 routes, which the LlamaCloud document lacks, against what the official
 * client parses: the response types of `@llamaindex/llama-cloud` 2.16 (ParsingCreateResponse,
 * ParsingGetResponse, FileCreateResponse), read from its declarations into JSON Schema; the 422s
 * against the document's HTTPValidationError.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, it } from 'node:test';
import fc from 'fast-check';
import { startTestTollgate, type TestTollgate } from '../support/tollgate.js';
import { countCase, reportCases } from './support/cases.js';
import { assertValid, assertValidAgainst, parseJson, runs } from './support/check.js';
import { differencesFor } from './support/differences.js';
import { JOB_METADATA } from './support/llamacloud-shapes.js';
import { document, makePdfs, v2Request } from './support/llamaparse-requests.js';
import { describeWithSpec, loadSpec } from './support/specs.js';
import { schemasFromDeclarations, type TypeSchemas } from './support/ts-schema.js';
import { createSpecValidator, type SpecValidator } from './support/validator.js';

const OP = 'llamaparse ';
const SDK = '@llamaindex/llama-cloud';

function sdkDeclarations(): string[] {
  const main = createRequire(import.meta.url).resolve(SDK);
  return ['resources/parsing.d.ts', 'resources/files.d.ts'].map((file) => main.replace(/index\.js$/, file));
}

async function request(base: string, method: string, path: string, body?: FormData | string) {
  const headers: Record<string, string> = { authorization: 'Bearer llx-placeholder' };
  if (typeof body === 'string') headers['content-type'] = 'application/json';
  const res = await fetch(`${base}/llamaparse${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
  return { status: res.status, text: await res.text() };
}

describeWithSpec(
  "the LlamaParse mock's v2 routes answer as the official client's types say",
  loadSpec('llamacloud'),
  (spec) => {
    let v: SpecValidator;
    let types: TypeSchemas;
    let pdfs: Uint8Array[];
    let tg: TestTollgate;

    /** 200, and the body validates against the SDK type `type`. */
    const expectType = (answer: { status: number; text: string }, type: string, what: string) => {
      assert.equal(answer.status, 200, `${what}: ${answer.text}`);
      const body = parseJson(answer.text, what) as Record<string, unknown>;
      assertValidAgainst(v, `${SDK} ${type}`, types.schemaOf(type), body, what);
      return body;
    };

    before(async () => {
      v = createSpecValidator('llamacloud', spec.doc, differencesFor('llamacloud'));
      types = schemasFromDeclarations(
        sdkDeclarations(),
        ['ParsingCreateResponse', 'ParsingGetResponse', 'FileCreateResponse'],
        `${SDK} 2.16`,
      );
      pdfs = await makePdfs();
      tg = await startTestTollgate({ SERVICE_MODE: 'mock', MOCK_SEED: '7', MOCK_PARSE_DELAY_MS: '0' });
    });
    after(async () => {
      await tg?.close();
      reportCases(OP);
    });

    it('upload (or file + create) → get with any expand: ParsingCreateResponse, FileCreateResponse, ParsingGetResponse', async () => {
      await fc.assert(
        fc.asyncProperty(document(pdfs), v2Request, async (doc, { configuration, expand, viaFileId }) => {
          const file = new Blob([Buffer.from(doc.bytes)], { type: doc.type });
          let job: Record<string, unknown>;
          if (viaFileId) {
            const form = new FormData();
            form.append('file', file, doc.name);
            form.append('purpose', 'parse');
            const stored = expectType(
              await request(tg.url, 'POST', '/api/v1/beta/files', form),
              'FileCreateResponse',
              'file',
            );
            countCase(`${OP}POST /api/v1/beta/files`);
            const body = JSON.stringify({ file_id: stored.id, ...configuration });
            job = expectType(await request(tg.url, 'POST', '/api/v2/parse', body), 'ParsingCreateResponse', 'create');
            countCase(`${OP}POST /api/v2/parse`);
          } else {
            const form = new FormData();
            form.append('file', file, doc.name);
            form.append('configuration', JSON.stringify(configuration));
            job = expectType(
              await request(tg.url, 'POST', '/api/v2/parse/upload', form),
              'ParsingCreateResponse',
              'upload',
            );
            countCase(`${OP}POST /api/v2/parse/upload`);
          }
          const query = expand.length === 0 ? '' : `?expand=${expand.join(',')}`;
          const got = expectType(
            await request(tg.url, 'GET', `/api/v2/parse/${job.id}${query}`),
            'ParsingGetResponse',
            'get',
          );
          assert.equal((got.job as { status?: string }).status, 'COMPLETED');
          if (expand.includes('job_metadata')) {
            assertValidAgainst(v, JOB_METADATA.id, JOB_METADATA.schema, got.job_metadata, 'job_metadata');
          }
          for (const name of expand) {
            if (name === 'usage') continue;
            const key =
              name.endsWith('_content_metadata') && name !== 'images_content_metadata'
                ? 'result_content_metadata'
                : name;
            assert.ok(key in got, `expand=${name} is answered`);
          }
          countCase(`${OP}GET /api/v2/parse/{job_id}`);
        }),
        runs(30),
      );
    });

    it("a PENDING job's get, and 422s as the document's HTTPValidationError", async () => {
      const slow = await startTestTollgate({ SERVICE_MODE: 'mock', MOCK_PARSE_DELAY_MS: '600000' });
      try {
        const form = new FormData();
        form.append('file', new Blob([Buffer.from(pdfs[0] as Uint8Array)], { type: 'application/pdf' }), 'a.pdf');
        form.append('configuration', JSON.stringify({ tier: 'fast', version: 'latest' }));
        const job = expectType(
          await request(slow.url, 'POST', '/api/v2/parse/upload', form),
          'ParsingCreateResponse',
          'upload',
        );
        const got = expectType(
          await request(slow.url, 'GET', `/api/v2/parse/${job.id}?expand=text,usage`),
          'ParsingGetResponse',
          'pending',
        );
        assert.equal((got.job as { status?: string }).status, 'PENDING');
        countCase(`${OP}GET /api/v2/parse/{job_id} (PENDING)`);
      } finally {
        await slow.close();
      }
      const invalid = [
        JSON.stringify({ file_id: 'x', version: 'latest' }),
        JSON.stringify({ file_id: 'x', tier: 'cheapest', version: 'latest' }),
        JSON.stringify({ tier: 'fast', version: 'latest' }),
      ];
      for (const body of invalid) {
        const answer = await request(tg.url, 'POST', '/api/v2/parse', body);
        assert.equal(answer.status, 422, answer.text);
        assertValid(v, 'HTTPValidationError', parseJson(answer.text, body), `422 for ${body}`);
        countCase(`${OP}error 422 (v2 validation)`);
      }
    });
  },
);
