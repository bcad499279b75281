import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import type { MockCall, ProviderMock } from '../providers/index.js';
import type { CallRecord } from './call.js';
import { Cancel, type Exchange } from './exchange.js';
import { askMock } from './mock.js';
import type { Request } from './read.js';

/** The parts of an exchange askMock reads, around a mock that keeps the call it was given. */
function exchange(handle: (call: MockCall) => void) {
  const call = { method: 'POST', aborted: false, correlationId: 'corr-1' } as CallRecord;
  const mock: ProviderMock = {
    async handle(c) {
      handle(c);
      return { status: 200, headers: { 'content-type': 'application/json' }, body: '{}' };
    },
  };
  const x = {
    adapter: { name: 'openai', mockPath: (rest: string) => rest },
    route: { operation: 'chat' },
    params: {},
    incoming: { headers: {} } as IncomingMessage,
    call,
    rest: '/v1/chat/completions',
    search: '?limit=2',
    cancel: new Cancel(call),
    deps: { mocks: { openai: mock } },
  } as unknown as Exchange;
  return { x, call };
}

const request = { streamed: false, json: {} } as unknown as Request;

describe('askMock', () => {
  it('hands the mock a signal that follows the worker and the query, when it reads them', async () => {
    let seen: MockCall | undefined;
    const { x } = exchange((c) => {
      seen = c;
    });
    const reply = await askMock(x, request, undefined);
    assert.equal(reply.status, 200);
    assert.ok(seen);
    assert.equal(seen.query.get('limit'), '2');
    const signal = seen.signal;
    assert.equal(signal.aborted, false);
    assert.equal(seen.signal, signal, 'one signal per call, whenever it is read');
    x.cancel.abort();
    assert.equal(signal.aborted, true, 'the worker hanging up aborts what the mock holds');
  });

  it('gives a worker that hung up before the answer was made none, though the mock never looked', async () => {
    const { x, call } = exchange(() => {
      call.aborted = true;
    });
    await assert.rejects(askMock(x, request, undefined), { name: 'AbortError' });
  });
});
