/**
 * The errors a worker meets on /openai/… in MOCK mode — the mock's own 400s and 404s, an injected
 * 500, and the sidecar's 400 invalid_json, 413, and 429 (requests, tokens, budget) — validated
 * against the description's ErrorResponse, over generated requests and paths.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import fc from 'fast-check';
import { startTestTollgate, type TestTollgate } from '../support/tollgate.js';
import { countCase, reportCases } from './support/cases.js';
import { assertValid, parseJson, runs } from './support/check.js';
import { differencesFor } from './support/differences.js';
import { chatRequest, embeddingsRequest, responsesRequest } from './support/openai-requests.js';
import { describeWithSpec, loadSpec } from './support/specs.js';
import { createSpecValidator, type SpecValidator } from './support/validator.js';

const OP = 'openai ';
type Json = Record<string, unknown>;

async function send(base: string, method: string, path: string, body?: string) {
  const res = await fetch(`${base}/openai/v1${path}`, {
    method,
    headers: { authorization: 'Bearer sk-placeholder', 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body }),
  });
  return { status: res.status, text: await res.text() };
}

/** Ways to break a valid request, each with the `param` OpenAI names in its 400. */
const BREAKERS: { path: string; param: string; breaks: (body: Json) => Json }[] = [
  { path: '/chat/completions', param: 'model', breaks: ({ model: _m, ...rest }) => rest },
  { path: '/chat/completions', param: 'messages', breaks: (body) => ({ ...body, messages: [] }) },
  { path: '/chat/completions', param: 'n', breaks: (body) => ({ ...body, n: 0 }) },
  { path: '/chat/completions', param: 'temperature', breaks: (body) => ({ ...body, temperature: 3 }) },
  { path: '/responses', param: 'input', breaks: ({ input: _i, ...rest }) => rest },
  { path: '/responses', param: 'max_output_tokens', breaks: (body) => ({ ...body, max_output_tokens: 1 }) },
  { path: '/embeddings', param: 'encoding_format', breaks: (body) => ({ ...body, encoding_format: 'int8' }) },
  { path: '/embeddings', param: 'input', breaks: (body) => ({ ...body, input: '' }) },
];

const requestFor = (path: string): fc.Arbitrary<Json> =>
  path === '/chat/completions'
    ? chatRequest(false)
    : path === '/responses'
      ? responsesRequest(false)
      : embeddingsRequest();

describeWithSpec("the errors on /openai are OpenAI's ErrorResponse", loadSpec('openai'), (spec) => {
  let v: SpecValidator;
  let mock: TestTollgate;
  const sidecars: TestTollgate[] = [];
  const start = async (vars: Record<string, string>) => {
    const tg = await startTestTollgate({ SERVICE_MODE: 'mock', MOCK_SEED: '7', ...vars });
    sidecars.push(tg);
    return tg;
  };

  /** The answer is an ErrorResponse with this status and code. */
  const expectError = (answer: { status: number; text: string }, status: number, code: string | null, what: string) => {
    assert.equal(answer.status, status, `${what}: ${answer.text}`);
    const body = parseJson(answer.text, what) as { error: { code: unknown } };
    assertValid(v, 'ErrorResponse', body, what);
    if (code !== null) assert.equal(body.error.code, code, what);
  };

  before(async () => {
    v = createSpecValidator('openai', spec.doc, differencesFor('openai'));
    mock = await start({});
  });
  after(async () => {
    await Promise.all(sidecars.map((tg) => tg.close()));
    reportCases(OP);
  });

  it('400 invalid_json for any body that is not JSON', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('/chat/completions', '/responses', '/embeddings'),
        fc.string({ minLength: 1, maxLength: 30 }).filter((s) => {
          try {
            JSON.parse(s);
            return false;
          } catch {
            return true;
          }
        }),
        async (path, body) => {
          expectError(
            await send(mock.url, 'POST', path, body),
            400,
            'invalid_json',
            `POST ${path} ${JSON.stringify(body)}`,
          );
          countCase(`${OP}error 400 invalid_json`);
        },
      ),
      runs(20),
    );
  });

  it("400 from the mock's request checks, naming the parameter", async () => {
    const cases = fc
      .constantFrom(...BREAKERS)
      .chain((breaker) => requestFor(breaker.path).map((body) => ({ breaker, body: breaker.breaks(body) })));
    await fc.assert(
      fc.asyncProperty(cases, async ({ breaker, body }) => {
        const answer = await send(mock.url, 'POST', breaker.path, JSON.stringify(body));
        expectError(answer, 400, null, `POST ${breaker.path} without a valid ${breaker.param}`);
        assert.equal((JSON.parse(answer.text) as { error: { param: unknown } }).error.param, breaker.param);
        countCase(`${OP}error 400 invalid_request`);
      }),
      runs(),
    );
  });

  it('404 for a path the mock does not implement, and for an unknown model', async () => {
    const known = new Set(['models', 'chat', 'embeddings', 'responses']);
    await fc.assert(
      fc.asyncProperty(
        fc.stringMatching(/^[a-z][a-z_]{0,11}(\/[a-z0-9_]{1,8})?$/).filter((p) => !known.has(p.split('/')[0] ?? '')),
        fc.constantFrom('GET', 'POST', 'DELETE'),
        async (path, method) => {
          const body = method === 'POST' ? '{}' : undefined;
          expectError(await send(mock.url, method, `/${path}`, body), 404, null, `${method} /v1/${path}`);
          countCase(`${OP}error 404 unknown path`);
        },
      ),
      runs(20),
    );
    expectError(await send(mock.url, 'GET', '/models/gpt-nonexistent'), 404, 'model_not_found', 'an unknown model');
    countCase(`${OP}error 404 model_not_found`);
  });

  it('500 server_error injected by MOCK_ERROR_RATE', async () => {
    const faulty = await start({ MOCK_ERROR_RATE: '1' });
    await fc.assert(
      fc.asyncProperty(chatRequest(false), async (body) => {
        expectError(await send(faulty.url, 'POST', '/chat/completions', JSON.stringify(body)), 500, null, 'a fault');
        countCase(`${OP}error 500 server_error`);
      }),
      runs(10),
    );
  });

  it('413 over MAX_BODY_BYTES; 429 for the requests bucket, the tokens bucket and the budget', async () => {
    const small = await start({ MAX_BODY_BYTES: '2048', OPENAI_TOKENS_PER_HOUR: '100', OPENAI_TOKENS_BURST: '100' });
    const big = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x'.repeat(4096) }] });
    expectError(await send(small.url, 'POST', '/chat/completions', big), 413, 'request_too_large', 'a large body');
    countCase(`${OP}error 413 request_too_large`);
    const greedy = JSON.stringify({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 1000,
    });
    expectError(await send(small.url, 'POST', '/chat/completions', greedy), 429, 'rate_limit_exceeded', 'tokens');
    countCase(`${OP}error 429 rate_limit_exceeded (tokens)`);

    const once = await start({ OPENAI_REQUESTS_PER_HOUR: '1', OPENAI_REQUESTS_BURST: '1' });
    const ask = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal((await send(once.url, 'POST', '/chat/completions', ask)).status, 200);
    expectError(await send(once.url, 'POST', '/chat/completions', ask), 429, 'rate_limit_exceeded', 'requests');
    countCase(`${OP}error 429 rate_limit_exceeded (requests)`);

    const broke = await start({ OPENAI_BUDGET_DAILY_USD: '0.0000001', BUDGET_INCLUDE_MOCK: 'true' });
    expectError(await send(broke.url, 'POST', '/chat/completions', greedy), 429, 'budget_exceeded', 'the budget');
    countCase(`${OP}error 429 budget_exceeded`);
  });
});
