import { trace } from '@opentelemetry/api';
import pino, { type DestinationStream, type Logger } from 'pino';
import { CATALOG } from '../config/index.js';
import type { CallRecord } from '../proxy/index.js';

export type { Logger };

/** Paths that may carry secrets in anything we log; pino censors them before serialising. */
const REDACT = [
  'authorization',
  '*.authorization',
  '*.*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'apiKey',
  '*.apiKey',
  'api_key',
  '*.api_key',
  'x-api-key',
  '*.x-api-key',
  '*.*.x-api-key',
  ...CATALOG.flatMap((p) => [p.keyVar, `*.${p.keyVar}`]),
  'ADMIN_TOKEN',
  '*.ADMIN_TOKEN',
  'adminToken',
  '*.adminToken',
  '*.*.apiKey',
];

/** Secret-looking values anywhere in a message or string field. */
const SECRET_PATTERN = /\b(?:sk-(?:proj-)?|llx-)[A-Za-z0-9_-]{6,}|Bearer\s+[A-Za-z0-9._~+/=-]{6,}/g;

export const scrub = (s: string) => s.replace(SECRET_PATTERN, '[REDACTED]');

export interface LoggerOptions {
  level: string;
  destination?: DestinationStream;
  base?: Record<string, unknown>;
}

/** What the mixin adds to a line that has its trace already, or is written outside any. */
const NO_TRACE: Readonly<Record<string, never>> = Object.freeze({});

/**
 * The line with its trace ids. pino's default copies every field of the line into the mixin's
 * object; with nothing to add (the request line, 2–3 % of a proxied call's bytes) the line goes as it is.
 */
function withTrace(line: object, trace: object): object {
  return trace === NO_TRACE ? line : Object.assign(trace, line);
}

export function createLogger({ level, destination, base = {} }: LoggerOptions): Logger {
  return pino(
    {
      level,
      base: { service: 'tollgate', ...base },
      redact: { paths: REDACT, censor: '[REDACTED]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Every line written inside a request carries its trace (the request line sets them itself).
      mixin(merge: object) {
        if ('trace_id' in merge) return NO_TRACE;
        const span = trace.getActiveSpan();
        if (span === undefined) return NO_TRACE;
        const c = span.spanContext();
        return { trace_id: c.traceId, span_id: c.spanId };
      },
      mixinMergeStrategy: withTrace,
      formatters: { level: (label) => ({ level: label }) },
      hooks: {
        // A key can hide in an error message or a free-text field; scrub every string argument.
        logMethod(args, method) {
          method.apply(this, args.map((a) => (typeof a === 'string' ? scrub(a) : a)) as Parameters<typeof method>);
        },
      },
      serializers: {
        err: (e: unknown) => {
          const s = pino.stdSerializers.err(e as Error);
          return { ...s, message: scrub(s.message ?? ''), stack: s.stack ? scrub(s.stack) : undefined };
        },
      },
    },
    destination ?? pino.destination({ sync: false }),
  );
}

/** The one log line per proxied request (contract section 8). */
export function logCall(log: Logger, call: CallRecord): void {
  // Build the line only when it will be written (the hot path runs at LOG_LEVEL=warn in production too).
  if (!log.isLevelEnabled(call.status >= 500 ? 'warn' : 'info')) return;
  const u = call.usage;
  const line = {
    correlation_id: call.correlationId,
    trace_id: call.traceId,
    span_id: call.spanId,
    provider: call.provider,
    operation: call.operation,
    route: call.route,
    model: u?.model ?? call.model,
    served_by: call.servedBy,
    mode: call.mode,
    status: call.status,
    duration_ms: Math.round(call.durationMs * 100) / 100,
    ttfb_ms: call.firstChunkMs === undefined ? undefined : Math.round(call.firstChunkMs * 100) / 100,
    stream: call.stream || undefined,
    input_tokens: u?.inputTokens,
    cached_input_tokens: u?.cachedInputTokens,
    output_tokens: u?.outputTokens,
    pages: u?.pages || undefined,
    cost_usd: call.costUsd,
    cache: call.cache,
    saved_usd: call.savedUsd,
    fallback_reason: call.fallbackReason,
    error_type: call.errorType,
    aborted: call.aborted || undefined,
  };
  const out = requestLogger(log);
  if (call.status >= 500) out.warn(line, 'request');
  else out.info(line, 'request');
}

const unredacted = new WeakMap<Logger, Logger>();

/**
 * The request line is built from the call's own fields, none at a path REDACT names, so redaction
 * walked it for nothing: about 4% of a proxied call's CPU at LOG_LEVEL=info. Its logger is a child
 * without redaction that follows the parent's level (a reload may change it).
 */
function requestLogger(log: Logger): Logger {
  let child = unredacted.get(log);
  if (child === undefined) {
    child = log.child({}, { redact: { paths: [], censor: '[REDACTED]' } });
    unredacted.set(log, child);
  }
  if (child.level !== log.level) child.level = log.level;
  return child;
}

/** A log destination as pino holds it: SonicBoom for the default one (`_writing` while a write is in flight). */
interface LogStream {
  _writing?: boolean;
  once?(event: 'drain' | 'error', listener: () => void): unknown;
}

/**
 * Resolves once the log's own stream has written what it was given (or after `timeoutMs`, so a reader
 * that stopped reading cannot hold the exit). pino's `flush(cb)` calls back at once for an asynchronous
 * SonicBoom (its minLength is 0); exiting with a write still in flight then lets the exit handler's
 * synchronous flush overtake it, and the last lines come out of order.
 */
export function logWritten(log: Logger, timeoutMs = 2000): Promise<void> {
  const stream = (log as unknown as Record<symbol, LogStream | undefined>)[pino.symbols.streamSym];
  if (stream?._writing !== true || stream.once === undefined) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    stream.once?.('drain', done);
    stream.once?.('error', done);
  });
}
