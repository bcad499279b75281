import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../config/index.js';
import { TollgateError } from '../errors.js';
import type { ProviderAdapter, RouteSpec } from '../providers/index.js';
import type { CallRecord } from './call.js';
import type { ProxyDeps } from './deps.js';
import { Sink } from './sink.js';
import { classify, UpstreamAbort, UpstreamFailure } from './upstream.js';

/**
 * Cancellation of one call. Controllers are made only when something can be cancelled (a mock that
 * reads its signal to wait or stream, an upstream call); the upstream call has its own, so its timeout
 * does not cancel a mock fallback. The worker going away aborts both.
 */
export class Cancel {
  #mock: AbortController | undefined;
  #upstream: UpstreamAbort | undefined;
  constructor(readonly call: CallRecord) {}

  /** The worker closed the connection before the answer was complete. */
  abort(): void {
    this.call.aborted = true;
    this.#mock?.abort();
    this.#upstream?.abort();
  }

  mockSignal(): AbortSignal {
    this.#mock ??= new AbortController();
    if (this.call.aborted) this.#mock.abort();
    return this.#mock.signal;
  }

  /** A new controller for an upstream request (its timeout aborts it through this controller). */
  upstream(): UpstreamAbort {
    this.#upstream = new UpstreamAbort();
    if (this.call.aborted) this.#upstream.abort();
    return this.#upstream;
  }

  /** An upstream body that failed before anything reached the worker: a transport failure like any other. */
  bodyFailure(e: unknown): unknown {
    if (e instanceof TollgateError || e instanceof UpstreamFailure) return e;
    const timedOut = this.#upstream?.aborted === true && !this.call.aborted;
    return classify(e, timedOut) ?? e;
  }
}

/** Everything the stages of one call share: what was asked, where the answer goes, and the record. */
export interface Exchange {
  readonly deps: ProxyDeps;
  readonly adapter: ProviderAdapter;
  readonly route: RouteSpec;
  readonly params: Record<string, string>;
  readonly incoming: IncomingMessage;
  /** The config in force when the call arrived (a reload mid-call does not change it). */
  readonly cfg: Config;
  readonly call: CallRecord;
  /** performance.now() when the call arrived. */
  readonly started: number;
  /** The path below the provider's prefix, as the worker encoded it. */
  readonly rest: string;
  /** The query string, '?' included, or ''. */
  readonly search: string;
  readonly sink: Sink;
  readonly cancel: Cancel;
  /** Run when the call is over, whatever happened (temporary files). */
  readonly cleanups: (() => void)[];
}

export function openExchange(
  fields: Omit<Exchange, 'sink' | 'cancel' | 'cleanups'>,
  outgoing: ServerResponse,
): Exchange & { close(): void } {
  const { call } = fields;
  const cancel = new Cancel(call);
  const onClose = () => {
    if (!outgoing.writableFinished) cancel.abort();
  };
  outgoing.once('close', onClose);
  // Fields spelled out, not spread (the hot path: one exchange per call).
  return {
    deps: fields.deps,
    adapter: fields.adapter,
    route: fields.route,
    params: fields.params,
    incoming: fields.incoming,
    cfg: fields.cfg,
    call,
    started: fields.started,
    rest: fields.rest,
    search: fields.search,
    sink: new Sink(outgoing, call, fields.started),
    cancel,
    cleanups: [],
    close: () => outgoing.off('close', onClose),
  };
}
