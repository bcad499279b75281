import { randomUUID } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Config, Mode, Provider } from '../config/schema.js';
import {
  internalError,
  invalidJson,
  invalidRequest,
  notFound,
  providerUnavailable,
  TollgateError,
  upstreamTimeout,
  upstreamUnreachable,
} from '../errors.js';
import type { Admission, Limiter } from '../limits/limiter.js';
import { toNano } from '../limits/limiter.js';
import type { Meter } from '../metering/meter.js';
import { emptyUsage, type ProviderAdapter, type RouteSpec, type WorstCase } from '../providers/adapter.js';
import type { ProviderMock, ProviderReply } from '../providers/types.js';
import type { CircuitBreaker } from '../routing/circuit.js';
import { type FallbackReason, isMode, type ModeState } from '../routing/mode.js';
import type { LedgerRow } from '../state/types.js';
import type { CallSpan, CallTracer } from '../telemetry/tracing.js';
import { cappedBody, collect, readBody, type Spooled, spool } from './body.js';
import type { CallRecord } from './call.js';
import { downstreamHeaders, upstreamHeaders } from './headers.js';
import { SseParser } from './sse.js';
import { classify, UpstreamFailure, type UpstreamResponse, type Upstreams } from './upstream.js';

export interface ProxyDeps {
  config: () => Config;
  modes: ModeState;
  circuits: Record<Provider, CircuitBreaker>;
  upstreams: Upstreams;
  mocks: Record<Provider, ProviderMock>;
  limiter: Limiter;
  meter: Meter;
  tracer: CallTracer;
  /** False while background health probes say the provider is down (HYBRID treats it as an open circuit). */
  providerHealthy?: (provider: Provider) => boolean;
  /** Called once per call, when the answer is complete or abandoned. */
  onCallEnd: (call: CallRecord) => void;
  /** Logs an unexpected error (never shown to the worker). */
  onError: (error: unknown, call: CallRecord) => void;
}

export type ProxyEnv = {
  Bindings: { incoming: IncomingMessage; outgoing: ServerResponse };
  Variables: { correlationId: string };
};

/** One proxied route: the raw Node request and response, and the route's parameters. */
export type ProxyRoute = (
  incoming: IncomingMessage,
  outgoing: ServerResponse,
  params: Record<string, string>,
) => Promise<void>;

/** Bodies of non-streamed metered answers are held (to put the cost in a header) up to this size. */
const HOLD_LIMIT = 8 * 1024 * 1024;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const headerValue = (h: string | string[] | number | undefined): string | undefined =>
  Array.isArray(h) ? h[0] : h === undefined ? undefined : String(h);

const isJsonType = (ct: string | undefined) => ct !== undefined && /^application\/(?:[\w.+-]+\+)?json\b/i.test(ct);
const isSseType = (ct: string | undefined) => ct !== undefined && /^text\/event-stream\b/i.test(ct);

const chunkBytes = (chunk: string | Uint8Array) =>
  typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;

/** The event that ends a stream: held back until the call is booked. */
const isFinalEvent = (ev: { event: string | undefined; data: string }) =>
  ev.data === '[DONE]' ||
  ev.event === 'response.completed' ||
  ev.event === 'response.incomplete' ||
  ev.event === 'response.failed';

async function* iterate(body: ProviderReply['body'] | Readable): AsyncIterable<string | Uint8Array> {
  if (body === null || body === undefined) return;
  if (typeof body === 'string' || body instanceof Uint8Array) {
    yield body;
    return;
  }
  yield* body as AsyncIterable<string | Uint8Array>;
}

/** Waits until the response can take more, or is gone. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

const decodePath = (raw: string) => {
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
};

/**
 * The proxy handler for one route of one provider: decides who answers (mode, circuit, fallback),
 * relays the answer chunk by chunk, and reports a CallRecord. It writes to the Node response itself,
 * so upstream bytes go out without being re-buffered.
 */
export function proxyHandler(
  deps: ProxyDeps,
  adapter: ProviderAdapter,
  route: RouteSpec,
  routePath: string,
): ProxyRoute {
  const provider = adapter.name;
  const mock = () => deps.mocks[provider];
  const genAiOperation = adapter.genAiOperation(route.operation);
  const fixedTemplate = route.method === '*' ? undefined : `${route.method} ${routePath}`;

  return async function proxy(incoming, outgoing, params) {
    const started = performance.now();
    const cfg = deps.config();
    const method = incoming.method ?? 'GET';
    const template = fixedTemplate ?? `${method} ${routePath}`;
    const rawUrl = incoming.url ?? '/';
    const q = rawUrl.indexOf('?');
    const search = q === -1 ? '' : rawUrl.slice(q);
    // Forward the path as the worker encoded it (pathGuard has refused dot segments and encoded separators);
    // A decoded path would turn %20 into a raw space the upstream request cannot carry.
    const rawPath = q === -1 ? rawUrl : rawUrl.slice(0, q);
    const rest = rawPath.slice(adapter.prefix.length) || '/';
    const call: CallRecord = {
      correlationId: incoming.headers['x-correlation-id'] as string,
      traceId: '',
      spanId: '',
      provider,
      operation: route.operation,
      genAiOperation,
      route: template,
      method,
      path: decodePath(rawPath),
      mode: deps.modes.get(provider),
      servedBy: 'mock',
      fallbackReason: undefined,
      model: undefined,
      stream: false,
      metered: route.metered,
      status: 0,
      startedAt: Date.now(),
      firstChunkMs: undefined,
      durationMs: 0,
      usage: undefined,
      costUsd: undefined,
      errorType: undefined,
      aborted: false,
      unpriced: false,
      limitedBy: undefined,
    };
    // Controllers are made only when something can be cancelled (a mock answer, an upstream call).
    // The upstream call has its own: its timeout must not cancel a mock fallback.
    let aborter: AbortController | undefined;
    let upstreamAbort: AbortController | undefined;
    const onClose = () => {
      if (!outgoing.writableFinished) {
        call.aborted = true;
        aborter?.abort();
        upstreamAbort?.abort();
      }
    };
    outgoing.once('close', onClose);
    let span: CallSpan | undefined;
    let spooled: Spooled | undefined;
    let admission: Admission | undefined;
    let worst: WorstCase | undefined;
    /** The exact worst case (tokenizer counts), when admission reserved only a bound. */
    let exactWorst: (() => WorstCase) | undefined;
    const exact = (): WorstCase | undefined => {
      if (exactWorst !== undefined) {
        worst = exactWorst();
        exactWorst = undefined;
      }
      return worst;
    };
    let limitHeaders: Record<string, string> = {};
    let finished = false;

    /**
     * Books the call and settles its admission, once. Runs before the last byte goes out (the
     * worker never holds a whole answer the ledger lacks), or at the end of an abandoned call.
     */
    const finish = async () => {
      if (finished) return;
      finished = true;
      let row: LedgerRow | undefined;
      let tokens = 0;
      let pages = 0;
      const ok = call.status >= 200 && call.status < 300;
      const bookingId = adapter.bookingId?.(route.operation, params);
      if (route.metered && ok && (call.usage !== undefined || worst !== undefined)) {
        const u = call.usage ?? emptyUsage();
        if (!u.reported && worst !== undefined) {
          // No usage from the provider (a stream cut short): count what was delivered, never book zero.
          worst = exact() as WorstCase;
          u.inputTokens = worst.inputTokens;
          u.outputTokens = adapter.countTokens?.(u.model ?? call.model, u.deliveredText ?? '') ?? 0;
        }
        call.usage = u;
        if (u.reported || (worst !== undefined && worst.inputTokens + worst.outputTokens > 0)) {
          const cost = deps.meter.cost(provider, u, call.model);
          call.unpriced = !cost.priced;
          tokens = u.inputTokens + u.outputTokens;
          pages = u.pages;
          row = {
            id: bookingId ?? randomUUID(),
            ts: Date.now(),
            correlationId: call.correlationId,
            traceId: call.traceId,
            provider,
            operation: route.operation,
            model: u.model ?? cost.model ?? call.model ?? u.tier ?? 'unknown',
            servedBy: call.servedBy,
            inputTokens: u.inputTokens,
            cachedInputTokens: u.cachedInputTokens,
            outputTokens: u.outputTokens,
            pages: u.pages,
            costNanoUsd: toNano(cost.usd),
            billable: call.servedBy === 'real' || deps.config().budgets.includeMock,
          };
          call.costUsd = cost.usd;
        }
      }
      if (admission !== undefined) {
        await admission.settle({ row, tokens: row ? tokens : (exact()?.inputTokens ?? 0), pages });
      } else if (row !== undefined) {
        const fresh = await deps.limiter.book(row, { provider, model: call.model, pages });
        // A job read a second time was booked already: this call adds nothing.
        if (!fresh) call.costUsd = 0;
      }
    };

    const ours = (): OutgoingHttpHeaders => {
      const h: OutgoingHttpHeaders = {
        'x-correlation-id': call.correlationId,
        'x-tollgate-served-by': call.servedBy,
        'x-tollgate-mode': call.mode,
      };
      if (call.fallbackReason !== undefined) h['x-tollgate-fallback'] = call.fallbackReason;
      for (const k in limitHeaders) h[k] = limitHeaders[k];
      return h;
    };

    const writeWhole = (status: number, headers: OutgoingHttpHeaders, body: string | Uint8Array) => {
      call.status = status;
      headers['content-length'] = chunkBytes(body);
      outgoing.writeHead(status, Object.assign(headers, ours()));
      call.firstChunkMs = performance.now() - started;
      outgoing.end(body);
    };

    /**
     * Relays a body chunk by chunk; `onChunk` may rewrite or drop (return undefined) a chunk. The status
     * line goes out with the first chunk: until then a failing upstream can still get a clean error or a
     * fallback. `onEnd` returns what was held back (the stream's final event): it goes out only after the
     * call is booked, so a worker never holds a whole stream the ledger lacks.
     */
    const relay = async (
      status: number,
      headers: OutgoingHttpHeaders,
      body: AsyncIterable<string | Uint8Array>,
      onChunk?: (chunk: string | Uint8Array) => string | Uint8Array | undefined,
      onEnd?: () => string | undefined,
    ) => {
      let head = false;
      const writeHead = () => {
        if (head) return;
        head = true;
        call.status = status;
        outgoing.writeHead(status, Object.assign(headers, ours()));
      };
      try {
        for await (const chunk of body) {
          if (outgoing.destroyed) break;
          const out = onChunk ? onChunk(chunk) : chunk;
          if (out === undefined || chunkBytes(out) === 0) continue;
          writeHead();
          call.firstChunkMs ??= performance.now() - started;
          if (!outgoing.write(out)) await drained(outgoing);
        }
      } catch (e) {
        if (!head && !call.aborted) throw upstreamBodyFailure(e);
        throw e;
      }
      if (call.aborted) return;
      const tail = onEnd?.();
      call.status = status;
      await finish();
      writeHead();
      if (tail && !outgoing.destroyed) outgoing.write(tail);
      outgoing.end();
    };

    /** An upstream body that failed before anything reached the worker: a transport failure like any other. */
    const upstreamBodyFailure = (e: unknown) => {
      if (e instanceof TollgateError || e instanceof UpstreamFailure) return e;
      const timedOut = upstreamAbort?.signal.aborted === true && !call.aborted;
      return classify(e, timedOut) ?? e;
    };

    /** Delivers an answer (mock or upstream), metering it on the way. */
    const deliver = async (
      status: number,
      headers: OutgoingHttpHeaders,
      body: ProviderReply['body'] | Readable,
      stripUsage: boolean,
    ) => {
      const ct = headerValue(headers['content-type']);
      if (route.metered && isSseType(ct) && adapter.usageFromSse) {
        call.stream = true;
        const usage = emptyUsage();
        call.usage = usage;
        const parser = new SseParser();
        const fold = adapter.usageFromSse.bind(adapter);
        delete headers['content-length'];
        // Relay event by event: the injected usage chunk (and its `usage: null` markers) can be removed,
        // and the final event is held until the call is booked.
        let held = '';
        await relay(
          status,
          headers,
          iterate(body),
          (chunk) => {
            let out = '';
            for (const ev of parser.push(chunk)) {
              const usageOnly = fold(route.operation, ev, usage);
              if (usageOnly && stripUsage) continue;
              const raw =
                stripUsage && ev.raw.includes('"usage":null') ? ev.raw.replace(/,\s*"usage":\s*null/g, '') : ev.raw;
              if (isFinalEvent(ev)) held += raw;
              else out += raw;
            }
            return out;
          },
          () => held + (parser.flush()?.raw ?? ''),
        );
        return;
      }
      if (route.metered && isJsonType(ct)) {
        // Hold small whole answers so the usage (and cost) is known before the headers go out.
        let text: string | undefined;
        let rest: (string | Uint8Array)[] | undefined;
        if (typeof body === 'string') text = body;
        else if (body instanceof Uint8Array)
          text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString();
        else if (body === null) text = '';
        else if (typeof (body as Readable).on === 'function') {
          let got: Awaited<ReturnType<typeof collect>>;
          try {
            got = await collect(body as Readable, HOLD_LIMIT, 'upstream body closed early');
          } catch (e) {
            throw call.aborted ? e : upstreamBodyFailure(e);
          }
          if (got.whole !== undefined) text = got.whole.toString('utf8');
          else rest = got.rest;
        } else {
          const parts: (string | Uint8Array)[] = [];
          for await (const part of body as AsyncIterable<string | Uint8Array>) parts.push(part);
          text = parts.map((p) => (typeof p === 'string' ? p : Buffer.from(p).toString('utf8'))).join('');
        }
        if (text !== undefined) {
          try {
            call.usage = adapter.usageFromJson(route.operation, JSON.parse(text));
          } catch {
            // Not JSON after all: relay as is, unmetered.
          }
          delete headers['content-encoding'];
          call.status = status;
          try {
            await finish();
          } catch (e) {
            // The ledger could not take the row: the worker must not hold an answer it lacks.
            throw new TollgateError(
              503,
              'state_unavailable',
              'The spend ledger could not be written; the answer was withheld',
              { cause: e },
            );
          }
          if (call.costUsd !== undefined)
            headers['x-tollgate-cost-usd'] = call.costUsd.toFixed(9).replace(/\.?0+$/, '') || '0';
          writeWhole(status, headers, text);
          return;
        }
        // Too large to hold: relay what we have and the rest as it comes.
        const stream = body as Readable;
        const held = rest ?? [];
        await relay(
          status,
          headers,
          (async function* () {
            yield* held;
            stream.resume();
            yield* stream;
          })(),
        );
        return;
      }
      if (typeof body === 'string' || body instanceof Uint8Array) writeWhole(status, headers, body);
      else if (body === null) writeWhole(status, headers, '');
      else await relay(status, headers, iterate(body));
    };

    const sendError = (error: unknown) => {
      if (outgoing.headersSent || outgoing.destroyed) {
        // Once the first byte went out there is no clean way to report: cut the stream.
        call.errorType ??= 'stream_interrupted';
        outgoing.destroy();
        return;
      }
      let err: TollgateError;
      if (error instanceof TollgateError) err = error;
      else {
        deps.onError(error, call);
        err = internalError();
      }
      call.errorType = err.code;
      if (err.code === 'rate_limit_exceeded') call.limitedBy = err.type;
      else if (err.code === 'budget_exceeded') call.limitedBy = 'budget';
      writeWhole(
        err.status,
        { 'content-type': 'application/json', ...err.headers },
        JSON.stringify(err.body(adapter.errorShape)),
      );
    };

    try {
      const headerMode = headerValue(incoming.headers['x-tollgate-mode']);
      if (headerMode !== undefined && cfg.allowModeHeader) {
        const m = headerMode.toLowerCase();
        if (!isMode(m)) throw invalidRequest('x-tollgate-mode must be one of mock, real, hybrid', 'x-tollgate-mode');
        if (m === 'real' && cfg.providers[provider].apiKey === undefined && !cfg.forwardClientAuth) {
          throw invalidRequest(`${provider} has no API key configured; it cannot run in real mode`, 'x-tollgate-mode');
        }
        call.mode = m;
      }
      const mode: Mode = call.mode;
      call.servedBy = mode === 'mock' ? 'mock' : 'real';

      let json: unknown;
      let raw: Buffer | undefined;
      if (route.body === 'json') {
        const ct = headerValue(incoming.headers['content-type']);
        if (ct !== undefined && !isJsonType(ct)) {
          throw invalidRequest(`Content-Type must be application/json for ${template}, got ${ct}`, 'content-type');
        }
        raw = await readBody(incoming, cfg.maxBodyBytes);
        try {
          json = JSON.parse(raw.toString('utf8'));
        } catch (e) {
          throw invalidJson((e as Error).message);
        }
        if (!isObject(json)) throw invalidRequest('The request body must be a JSON object');
        call.model = adapter.requestModel(route.operation, json);
        call.stream = json.stream === true;
      }
      span = deps.tracer.start(call, incoming.headers, started);
      const uploadCap = provider === 'llamaparse' ? cfg.maxUploadBytes : cfg.maxBodyBytes;
      const hasBody = route.body === 'stream' && incoming.method !== 'GET' && incoming.method !== 'HEAD';

      // Streams are metered from the usage the answer carries: ask for it, strip it if the worker did not.
      const prepared = json === undefined ? undefined : adapter.prepareJson?.(route.operation, json);

      const serveMock = async (reason?: FallbackReason) => {
        call.servedBy = 'mock';
        call.fallbackReason = reason;
        if (route.operation === 'passthrough') throw notFound(method, call.path);
        aborter ??= new AbortController();
        if (call.aborted) aborter.abort();
        const reply = await mock().handle({
          operation: route.operation,
          method,
          path: adapter.mockPath(rest),
          params,
          query: new URLSearchParams(search),
          headers: incoming.headers,
          json: prepared?.body ?? json,
          body: hasBody ? (spooled ? spooled.open() : cappedBody(incoming, uploadCap)) : undefined,
          signal: aborter.signal,
          correlationId: call.correlationId,
        });
        await deliver(reply.status, { ...reply.headers }, reply.body, prepared?.stripUsage === true);
      };

      if (route.metered) {
        // Admission reserves a cheap upper bound of the prompt (its bytes) and runs the tokenizer only
        // when that bound would be refused; the exact count is used wherever a count is booked.
        const bound =
          raw !== undefined ? adapter.worstCaseBound?.(route.operation, json, raw, cfg.reserveOutputTokens) : undefined;
        if (bound !== undefined) {
          worst = bound;
          exactWorst = () => adapter.worstCase?.(route.operation, json, cfg.reserveOutputTokens) ?? bound;
        } else worst = adapter.worstCase?.(route.operation, json, cfg.reserveOutputTokens);
      }
      if (worst !== undefined) {
        const w = worst;
        const worstUsd = (c: WorstCase) =>
          deps.meter.worst(provider, c.model, c.pages || c.inputTokens, c.outputTokens);
        const request = {
          id: randomUUID(),
          provider,
          model: call.model ?? w.model,
          tokens: w.inputTokens + w.outputTokens,
          pages: w.pages,
          worstUsd: worstUsd(w),
          budgeted: mode !== 'mock' || cfg.budgets.includeMock,
          mayDegrade: mode === 'hybrid',
          refine:
            exactWorst === undefined
              ? undefined
              : () => {
                  const e = exact() as WorstCase;
                  return { tokens: e.inputTokens + e.outputTokens, worstUsd: worstUsd(e) };
                },
        };
        admission = await deps.limiter.admit(request).catch((e: unknown) => {
          if (e instanceof TollgateError) throw e;
          // The store could not decide: refuse clearly rather than run an unmetered call.
          throw new TollgateError(503, 'state_unavailable', 'The limits store could not admit this call', {
            cause: e,
          });
        });
        limitHeaders = admission.headers;
        if (admission.budgetExceeded !== undefined) {
          call.limitedBy = 'budget';
          await serveMock('budget_exceeded');
          return;
        }
      }
      if (mode === 'mock' || adapter.mockOwns?.(mock(), route.operation, params)) {
        await serveMock();
        return;
      }

      const pcfg = cfg.providers[provider];
      const key = pcfg.apiKey;
      if (mode === 'hybrid' && key === undefined && !cfg.forwardClientAuth) {
        await serveMock('no_api_key');
        return;
      }
      const circuit = deps.circuits[provider];
      const healthy = deps.providerHealthy?.(provider) ?? true;
      const permit = healthy || mode === 'real' ? circuit.tryAcquire() : { allowed: false, probe: false };
      if (!permit.allowed) {
        if (mode === 'hybrid') {
          await serveMock('circuit_open');
          return;
        }
        throw providerUnavailable(provider, circuit.retryAfterMs() / 1000);
      }

      const headers = upstreamHeaders(incoming.headers, cfg.forwardClientAuth);
      if (!cfg.forwardClientAuth && key !== undefined) Object.assign(headers, adapter.authHeaders(key));
      headers['x-correlation-id'] = call.correlationId;
      headers.traceparent = span.upstream(method, pcfg.upstreamUrl, rest + search);
      if (route.metered) headers['accept-encoding'] = 'identity';
      let body: Buffer | Readable | null = null;
      if (raw !== undefined) {
        body = prepared ? Buffer.from(JSON.stringify(prepared.body)) : raw;
        headers['content-type'] = 'application/json';
        headers['content-length'] = String(body.length);
      } else if (hasBody) {
        if (mode === 'hybrid') {
          spooled = await spool(incoming, uploadCap);
          body = spooled.open();
          headers['content-length'] = String(spooled.size);
        } else {
          body = cappedBody(incoming, uploadCap);
          const declared = headerValue(incoming.headers['content-length']);
          if (declared !== undefined) headers['content-length'] = declared;
        }
      }

      let res: UpstreamResponse;
      upstreamAbort = new AbortController();
      if (call.aborted) upstreamAbort.abort();
      try {
        res = await deps.upstreams.request(
          provider,
          {
            baseUrl: pcfg.upstreamUrl,
            connectTimeoutMs: cfg.upstream.connectTimeoutMs,
            timeoutMs: cfg.upstream.timeoutMs,
          },
          { method, path: rest + search, headers, body, abort: upstreamAbort },
        );
      } catch (e) {
        span.upstreamEnd(undefined, e instanceof UpstreamFailure ? e.reason : 'error');
        // A body refused on the way up (over the size cap) is the worker's error, not the provider's.
        const bodyError = body !== null && !Buffer.isBuffer(body) ? body.errored : null;
        if (bodyError instanceof TollgateError) {
          circuit.release(permit.probe);
          throw bodyError;
        }
        if (e instanceof UpstreamFailure) {
          circuit.failure();
          if (mode === 'hybrid' && !call.aborted) {
            await serveMock(e.reason);
            return;
          }
          throw e.reason === 'upstream_timeout' ? upstreamTimeout(provider, e) : upstreamUnreachable(provider, e);
        }
        circuit.release(permit.probe);
        if ((e as { code?: string }).code === 'UND_ERR_INVALID_ARG') {
          throw invalidRequest(`The request cannot be forwarded: ${(e as Error).message}`);
        }
        throw e;
      }
      // A 5xx is a failure at once; anything else counts as a success only once its body arrived whole.
      if (res.status >= 500) circuit.failure();
      else if (res.status === 429) circuit.success();
      if (mode === 'hybrid' && (res.status >= 500 || res.status === 429)) {
        span.upstreamEnd(res.status);
        // Discard the failed answer; its stream errors on destroy, which must not become an uncaught error.
        res.body.on('error', () => {});
        res.body.destroy();
        await serveMock(res.status === 429 ? 'upstream_429' : 'upstream_5xx');
        return;
      }
      if (res.status >= 400) call.errorType = String(res.status);
      try {
        await deliver(
          res.status,
          downstreamHeaders(res.headers, route.metered),
          res.body,
          prepared?.stripUsage === true,
        );
        span.upstreamEnd(res.status);
        if (res.status < 500 && res.status !== 429) circuit.success();
      } catch (e) {
        span.upstreamEnd(res.status, call.aborted ? 'aborted' : 'body_failed');
        if (!(e instanceof UpstreamFailure) && (call.aborted || !(e instanceof Error))) throw e;
        const failure = e instanceof UpstreamFailure ? e : upstreamBodyFailure(e);
        if (!(failure instanceof UpstreamFailure)) throw e;
        // The provider failed mid-answer: it counts against the circuit like a failed connection.
        circuit.failure();
        if (outgoing.headersSent) throw failure;
        if (mode === 'hybrid') {
          await serveMock(failure.reason);
          return;
        }
        throw failure.reason === 'upstream_timeout'
          ? upstreamTimeout(provider, failure)
          : upstreamUnreachable(provider, failure);
      }
    } catch (e) {
      if (!(call.aborted && !(e instanceof TollgateError))) sendError(e);
      else if (!outgoing.destroyed) outgoing.destroy();
    } finally {
      try {
        await finish();
      } catch (e) {
        // The answer is gone already (or failed); the ledger failure is logged, the worker saw the cut.
        deps.onError(e, call);
      }
      outgoing.off('close', onClose);
      void spooled?.cleanup();
      call.durationMs = performance.now() - started;
      if (call.status === 0) call.status = 499;
      (span ?? deps.tracer.start(call, incoming.headers, started)).end(call);
      deps.onCallEnd(call);
    }
  };
}
