import type { IncomingMessage, ServerResponse } from 'node:http';
import { noUpstreamKey } from '../config/index.js';
import { providerUnavailable } from '../errors.js';
import type { Admission } from '../limits/index.js';
import type { ProviderAdapter, RouteSpec } from '../providers/index.js';
import type { Recording } from '../recording/index.js';
import { type Decision, decide } from '../routing/index.js';
import { admitCall, worstCaseOf } from './admit.js';
import { type CallRecord, newCall, readRequestParams, servedByOf } from './call.js';
import { deliver } from './deliver.js';
import type { ProxyDeps } from './deps.js';
import { type Exchange, openExchange } from './exchange.js';
import { fail } from './fail.js';
import { type Fallback, forward } from './forward.js';
import { askMock } from './mock.js';
import { modeOf, type Request, readRequest } from './read.js';
import { missError, type Recall, recall } from './recall.js';
import { Booking } from './settle.js';
import { storedReply } from './stored.js';

/** One proxied route: the raw Node request and response, and the route's parameters. */
export type ProxyRoute = (
  incoming: IncomingMessage,
  outgoing: ServerResponse,
  params: Record<string, string>,
) => Promise<void>;

const decodePath = (raw: string) => {
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
};

/** Who answers, given the mode, the admission, what is stored and the provider's state (routing decides; this gathers). */
function whoAnswers(x: Exchange, req: Request, admission: Admission | undefined, recalled: Recall): Decision {
  const { deps, adapter, route, params, cfg } = x;
  const provider = adapter.name;
  return decide({
    mode: req.mode,
    budgetExceeded: admission?.budgetExceeded !== undefined,
    mockOwns: adapter.mockOwns?.(deps.mocks[provider], route.operation, params) === true,
    hasKey: !noUpstreamKey(cfg, provider),
    healthy: deps.providerHealthy?.(provider) ?? true,
    circuit: deps.circuits[provider],
    stored: recalled.found !== undefined,
    replayMiss: cfg.cassettes.replayMiss,
  });
}

/** Serves the mock's answer, recording why it stands in for the provider. */
async function serveMock(
  x: Exchange,
  req: Request,
  fallback: Pick<Fallback, 'spooled'> & { reason: Fallback['reason'] | undefined },
) {
  x.call.servedBy = 'mock';
  x.call.fallbackReason = fallback.reason;
  return askMock(x, req, fallback.spooled);
}

/** Stages 4 and 5: the decided party answers, and the answer is relayed and metered. */
async function answer(x: Exchange, req: Request, decision: Decision, recalled: Recall, booking: Booking) {
  if (decision.serve === 'refuse') throw providerUnavailable(x.adapter.name, decision.retryAfterMs / 1000);
  if (decision.serve === 'miss') throw missError(x, recalled);
  const stripUsage = req.prepared?.stripUsage === true;
  if (decision.serve === 'stored') {
    x.call.servedBy = decision.from;
    // decide() says 'stored' only when recall found one.
    return deliver(x, storedReply(x, recalled.found as Recording), stripUsage, booking.settle);
  }
  if (decision.serve === 'mock') {
    const reply = await serveMock(x, req, { reason: decision.reason, spooled: undefined });
    return deliver(x, reply, stripUsage, booking.settle);
  }
  const fallback = await forward(x, req, decision.probe, booking.settle, recalled.keep);
  if (fallback !== undefined) return deliver(x, await serveMock(x, req, fallback), stripUsage, booking.settle);
}

/** The call's record, before anything was read. */
function callFor(
  incoming: IncomingMessage,
  deps: ProxyDeps,
  adapter: ProviderAdapter,
  route: RouteSpec,
  routePath: string,
) {
  const method = incoming.method ?? 'GET';
  const rawUrl = incoming.url ?? '/';
  const q = rawUrl.indexOf('?');
  // Forward the path as the worker encoded it (the edge refused dot segments and encoded separators):
  // a decoded path would turn %20 into a raw space the upstream request cannot carry.
  const rawPath = q === -1 ? rawUrl : rawUrl.slice(0, q);
  const call: CallRecord = newCall({
    correlationId: incoming.headers['x-correlation-id'] as string,
    provider: adapter.name,
    operation: route.operation,
    genAiOperation: adapter.genAiOperation(route.operation),
    route: route.method === '*' ? `${method} ${routePath}` : `${route.method} ${routePath}`,
    method,
    path: decodePath(rawPath),
    mode: deps.modes.get(adapter.name),
    metered: route.metered,
  });
  return { call, rest: rawPath.slice(adapter.prefix.length) || '/', search: q === -1 ? '' : rawUrl.slice(q) };
}

/**
 * The proxy handler for one route of one provider, as a pipeline of stages: read the request → admit
 * → decide who answers → forward or mock → relay and meter → settle and book → report. It writes to
 * the Node response itself, so upstream bytes go out without being re-buffered.
 */
export function proxyHandler(
  deps: ProxyDeps,
  adapter: ProviderAdapter,
  route: RouteSpec,
  routePath: string,
): ProxyRoute {
  return async function proxy(incoming, outgoing, params) {
    const started = performance.now();
    const { call, rest, search } = callFor(incoming, deps, adapter, route, routePath);
    const x = openExchange(
      { deps, adapter, route, params, incoming, cfg: deps.config(), call, started, rest, search },
      outgoing,
    );
    let booking: Booking | undefined;
    let begun = false;
    try {
      call.mode = modeOf(x);
      call.servedBy = servedByOf(call.mode);
      const req = await readRequest(x, call.mode);
      call.model = req.json !== undefined ? adapter.requestModel(route.operation, req.json) : undefined;
      call.stream = req.json?.stream === true;
      if (req.json !== undefined) readRequestParams(call, req.json);
      deps.observer.begin(call, incoming.headers, started);
      begun = true;
      const worst = worstCaseOf(x, req);
      const admission = await admitCall(x, req, worst);
      booking = new Booking(x, worst, admission);
      if (admission !== undefined) {
        x.sink.limitHeaders = admission.headers;
        if (admission.budgetExceeded !== undefined) call.limitedBy = 'budget';
      }
      const recalled = await recall(x, req);
      await answer(x, req, whoAnswers(x, req, admission, recalled), recalled, booking);
    } catch (e) {
      fail(x, e);
    } finally {
      await report(x, booking, begun);
    }
  };
}

/** Stage 7: books what was not booked yet (an abandoned or failed call), releases the call's resources, reports it. */
async function report(x: Exchange & { close(): void }, booking: Booking | undefined, begun: boolean) {
  const { call, deps } = x;
  try {
    await booking?.settle();
  } catch (e) {
    // The answer is gone already (or failed); the ledger failure is logged, the worker saw the cut.
    deps.observer.error(e, call);
  }
  x.close();
  for (const cleanup of x.cleanups) cleanup();
  call.durationMs = performance.now() - x.started;
  if (call.status === 0) call.status = 499;
  if (!begun) deps.observer.begin(call, x.incoming.headers, x.started);
  deps.observer.end(call);
}
