/**
 * The front door and the proxy behind it, driven without a socket: light-my-request injects requests
 * into the Node listener the server would run.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { inject } from 'light-my-request';
import { assemble } from '../wire.js';

const quiet = new Writable({ write: (_c, _e, done) => done() });

describe('the edge listener, without a socket', () => {
  let parts: Awaited<ReturnType<typeof assemble>>;
  before(async () => {
    parts = await assemble({
      env: {
        ENV_FILE: '',
        STATE_URL: 'memory:',
        SERVICE_MODE: 'mock',
        OPENAI_REQUESTS_PER_HOUR: '1',
        OPENAI_REQUESTS_BURST: '2',
        LOG_LEVEL: 'silent',
      },
      cwd: process.cwd(),
      watch: false,
      logDestination: quiet,
    });
  });
  after(() => parts.close());

  it('serves a proxied chat call from the mock, with the sidecar headers', async () => {
    const res = await inject(parts.listener, {
      method: 'POST',
      url: '/openai/v1/chat/completions',
      headers: { 'content-type': 'application/json', 'x-correlation-id': 'edge-1' },
      payload: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['x-tollgate-served-by'], 'mock');
    assert.equal(res.headers['x-correlation-id'], 'edge-1');
    assert.equal(res.json().object, 'chat.completion');
  });

  it('refuses a call past the two-call burst with 429 in the OpenAI shape', async () => {
    const call = () =>
      inject(parts.listener, {
        method: 'POST',
        url: '/openai/v1/embeddings',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify({ model: 'text-embedding-3-small', input: 'x' }),
      });
    // The chat call above took one of the two; the bucket refills one call an hour.
    assert.equal((await call()).statusCode, 200);
    const refused = await call();
    assert.equal(refused.statusCode, 429);
    assert.equal(refused.json().error.code, 'rate_limit_exceeded');
  });

  it('settles a bad correlation id and refuses an encoded separator in the provider shape', async () => {
    const res = await inject(parts.listener, {
      method: 'GET',
      url: '/llamaparse/api/v1%2fparsing/job/x',
      headers: { 'x-correlation-id': 'not valid!' },
    });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().code, 'invalid_request');
    assert.match(String(res.headers['x-correlation-id']), /^[0-9a-f-]{36}$/);
  });

  it('hands what no proxy route claims to the app (health, unknown routes)', async () => {
    assert.equal((await inject(parts.listener, { method: 'GET', url: '/livez' })).statusCode, 200);
    const unknown = await inject(parts.listener, { method: 'GET', url: '/nowhere' });
    assert.equal(unknown.statusCode, 404);
    assert.equal(unknown.json().error.code, 'not_found');
  });
});
