/**
 * RECORD and REPLAY switch at runtime like the other modes: PUT /admin/mode, an edit of the env
 * file, and the per-request `x-tollgate-mode` header (where allowed). The next request uses the new mode.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Standin, startStandin } from './support/standin.js';
import { startTestTollgate, type TestTollgate, until } from './support/tollgate.js';

const KEY = 'sk-test-switch-key-0123456789abcdef';
const ADMIN = 'admin-token-for-switch-tests-0123';

const embed = (url: string, input: string, headers: Record<string, string> = {}) =>
  fetch(`${url}/openai/v1/embeddings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: 'text-embedding-3-small', input }),
  }).then(async (r) => ({
    status: r.status,
    by: r.headers.get('x-tollgate-served-by'),
    mode: r.headers.get('x-tollgate-mode'),
    text: await r.text(),
  }));

describe('switching to record and replay at runtime', () => {
  let standin: Standin;
  let tg: TestTollgate;
  let dir: string;
  let envFile: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-switch-'));
    standin = await startStandin({ expectOpenAIKey: KEY, quiet: true });
    envFile = join(dir, 'switch.env');
    const base = `OPENAI_API_KEY=${KEY}\nOPENAI_UPSTREAM_URL=${standin.openaiBase}\nCASSETTE_DIR=${join(dir, 'cassettes')}\n`;
    await writeFile(envFile, `SERVICE_MODE=mock\n${base}`);
    tg = await startTestTollgate({ ENV_FILE: envFile, ADMIN_TOKEN: ADMIN, ALLOW_MODE_HEADER: 'true' }, { watch: true });
  });
  after(async () => {
    await tg.close();
    await standin.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('records after PUT /admin/mode record, and replays after PUT /admin/mode replay', async () => {
    const put = (body: object) =>
      fetch(`${tg.url}/admin/mode`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    assert.equal((await put({ provider: 'openai', mode: 'record' })).status, 200);
    const recorded = await embed(tg.url, 'switch me');
    assert.deepEqual([recorded.status, recorded.by, recorded.mode], [200, 'real', 'record']);
    assert.equal((await readdir(join(dir, 'cassettes'))).length, 1);
    assert.equal((await put({ provider: 'openai', mode: 'replay' })).status, 200);
    const hits = standin.hits();
    const replayed = await embed(tg.url, 'switch me');
    assert.deepEqual([replayed.status, replayed.by, replayed.mode], [200, 'replay', 'replay']);
    assert.equal(replayed.text, recorded.text);
    assert.equal(standin.hits(), hits, 'nothing left the machine');
  });

  it('replays per request with x-tollgate-mode: replay', async () => {
    const r = await embed(tg.url, 'switch me', { 'x-tollgate-mode': 'replay' });
    assert.deepEqual([r.by, r.mode], ['replay', 'replay']);
  });

  it('follows an edit of the env file to OPENAI_MODE=replay', async () => {
    const base = `OPENAI_API_KEY=${KEY}\nOPENAI_UPSTREAM_URL=${standin.openaiBase}\nCASSETTE_DIR=${join(dir, 'cassettes')}\n`;
    await writeFile(envFile, `OPENAI_MODE=real\n${base}`);
    await until(async () => (await embed(tg.url, 'switch me')).mode === 'real', 3000, 10);
    await writeFile(envFile, `OPENAI_MODE=replay\nREPLAY_MISS=error\n${base}`);
    await until(async () => (await embed(tg.url, 'switch me')).mode === 'replay', 3000, 10);
    const miss = await embed(tg.url, 'never recorded');
    assert.equal(miss.status, 404);
    assert.equal((JSON.parse(miss.text) as { error: { code: string } }).error.code, 'cassette_miss');
  });
});
