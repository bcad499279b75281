import { notFound } from '../errors.js';
import { cappedBody, type Spooled } from './body.js';
import type { Exchange } from './exchange.js';
import type { Request } from './read.js';
import { mockReply, type Reply } from './reply.js';

/**
 * Stage 4, the mock's side: asks the provider's mock for the answer. An upload already spooled for a
 * HYBRID call that failed over is read again from its file; else the mock reads the request as it comes.
 */
export async function askMock(x: Exchange, req: Request, spooled: Spooled | undefined): Promise<Reply> {
  const { adapter, route, incoming, call, cancel } = x;
  // Pass-through paths have no mock: they exist only at the provider.
  if (route.operation === 'passthrough') throw notFound(call.method, call.path);
  const file = spooled ?? req.spooled;
  const body = req.streamed ? (file ? file.open() : cappedBody(incoming, req.uploadCap)) : undefined;
  const reply = await x.deps.mocks[adapter.name].handle({
    operation: route.operation,
    method: call.method,
    path: adapter.mockPath(x.rest),
    params: x.params,
    query: new URLSearchParams(x.search),
    headers: incoming.headers,
    json: req.prepared?.body ?? req.json,
    body,
    // Made when a mock reads it (one that waits or streams): an AbortController costs 3–4 µs a call.
    get signal() {
      return cancel.mockSignal();
    },
    correlationId: call.correlationId,
  });
  // A worker that hung up before the answer was made gets none (a mock that did not wait never looked).
  if (call.aborted) cancel.mockSignal().throwIfAborted();
  return mockReply(reply);
}
