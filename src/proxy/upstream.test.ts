import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { UpstreamAbort, UpstreamFailure, Upstreams } from './upstream.js';

describe('Upstreams.request with an UpstreamAbort', () => {
  // A provider that takes the request and never answers it.
  const server = createServer(() => {});
  const upstreams = new Upstreams();
  let baseUrl = '';
  before(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  });
  after(async () => {
    await upstreams.close();
    server.closeAllConnections();
    server.close();
  });

  const ask = (abort: UpstreamAbort, timeoutMs = 30_000) =>
    upstreams.request(
      'openai',
      { baseUrl, connectTimeoutMs: 5_000, timeoutMs },
      { method: 'GET', path: '/models', headers: {}, body: null, abort },
    );

  it('stops a request in flight when the worker goes (an AbortError, not the provider’s failure)', async () => {
    const abort = new UpstreamAbort();
    const pending = ask(abort);
    await once(server, 'request');
    abort.abort();
    abort.abort();
    await assert.rejects(pending, (e: Error) => e.name === 'AbortError' && !(e instanceof UpstreamFailure));
    assert.equal(abort.aborted, true);
    assert.equal(abort.listenerCount('abort'), 0, 'undici lets go of the signal');
  });

  it('refuses at once a request whose call was aborted before it was sent', async () => {
    const abort = new UpstreamAbort();
    abort.abort();
    await assert.rejects(ask(abort), { name: 'AbortError' });
  });

  it('turns its own timer into upstream_timeout', async () => {
    await assert.rejects(
      ask(new UpstreamAbort(), 50),
      (e: unknown) => e instanceof UpstreamFailure && e.reason === 'upstream_timeout',
    );
  });
});
