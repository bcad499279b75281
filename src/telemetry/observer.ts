import type { CallObserver, CallRecord } from '../proxy/index.js';
import { type Logger, logCall } from './logger.js';
import type { Metrics } from './metrics.js';
import type { CallSpan, CallTracer } from './tracing.js';

export interface ObserverParts {
  tracer: CallTracer;
  metrics: Pick<Metrics, 'recordCall'>;
  log: Logger;
  /** Also told of every finished call (tests). */
  onCall?: ((call: CallRecord) => void) | undefined;
}

/**
 * Turns what the request path reports into spans, metrics and log lines: the proxy's stages record
 * what happened on the call record and this is the only place that makes telemetry of it.
 */
export function callObserver({ tracer, metrics, log, onCall }: ObserverParts): CallObserver {
  const spans = new WeakMap<CallRecord, CallSpan>();
  return {
    begin(call, headers, startTime) {
      spans.set(call, tracer.start(call, headers, startTime));
    },
    upstream(call, method, baseUrl, path) {
      return spans.get(call)?.upstream(method, baseUrl, path) ?? '';
    },
    upstreamEnd(call) {
      spans.get(call)?.upstreamEnd(call.upstream?.status, call.upstream?.errorType);
    },
    end(call) {
      spans.get(call)?.end(call);
      metrics.recordCall(call);
      logCall(log, call);
      onCall?.(call);
    },
    error(err, call) {
      log.error({ err, correlation_id: call.correlationId }, 'proxy error');
    },
  };
}
