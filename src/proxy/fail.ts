import { internalError, TollgateError } from '../errors.js';
import type { Exchange } from './exchange.js';

/**
 * Answers a failed call with an error in the provider's shape, and records why on the call. Once the
 * first byte went out there is no clean way to report: the answer is cut.
 */
export function fail(x: Exchange, error: unknown): void {
  const { call, sink } = x;
  if (call.aborted && !(error instanceof TollgateError)) {
    if (!sink.out.destroyed) sink.cut();
    return;
  }
  if (sink.committed) {
    call.errorType ??= 'stream_interrupted';
    sink.cut();
    return;
  }
  let err: TollgateError;
  if (error instanceof TollgateError) err = error;
  else {
    x.deps.observer.error(error, call);
    err = internalError();
  }
  call.errorType = err.code;
  if (err.code === 'rate_limit_exceeded') call.limitedBy = err.type;
  else if (err.code === 'budget_exceeded') call.limitedBy = 'budget';
  sink.whole(
    err.status,
    { 'content-type': 'application/json', ...err.headers },
    JSON.stringify(err.body(x.adapter.errorShape)),
  );
}
