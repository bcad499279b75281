import type { CanonicalRequest } from './key.js';

/** One event of a recorded stream, as it went over the wire, and how long after the previous one it came. */
export interface RecordedEvent {
  delay_ms: number;
  raw: string;
}

/**
 * A recorded body, in the most readable form that gives the same bytes back: JSON (parsed, with the
 * indentation it came with), text, base64 for bytes that are not UTF-8, or a stream's events.
 */
export type RecordedBody =
  | { json: unknown; indent: number }
  | { text: string }
  | { base64: string }
  | { events: RecordedEvent[] };

/** One answer: status, the headers a client reads, the body. */
export interface RecordedAnswer {
  status: number;
  headers: Record<string, string>;
  body: RecordedBody;
}

/** One interaction: the request as keyed, and the answer a client read. */
export interface Recording {
  key: string;
  recordedAt: string;
  request: CanonicalRequest;
  status: number;
  /** The headers a client reads, names lower-case, sorted; never credentials or cookies. */
  headers: Record<string, string>;
  body: RecordedBody;
  /** The job the answer started (a LlamaParse upload): its follow-ups belong to this recording. */
  jobId?: string;
  /** The job's further answers (the last status poll, each result fetched), by `METHOD path?query`. */
  followUps?: Record<string, RecordedAnswer>;
}

export const FORMAT_VERSION = 1;

/** Headers never written to a recording: credentials, cookies, and what the sidecar sets itself. */
const SECRET_HEADER = /(^|-)(authorization|cookie|set-cookie|api-key|key|token|secret)($|-)/i;
const DROPPED = new Set([
  'date',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'x-correlation-id',
]);

/** The headers of an answer worth keeping, sorted by name. */
export function clientHeaders(headers: Record<string, string | string[] | number | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(headers).sort()) {
    const k = name.toLowerCase();
    const v = headers[name];
    if (v === undefined || DROPPED.has(k) || k.startsWith('x-tollgate-') || k.startsWith('x-ratelimit-')) continue;
    if (SECRET_HEADER.test(k) || k === 'ratelimit' || k === 'ratelimit-policy') continue;
    out[k] = Array.isArray(v) ? v.join(', ') : String(v);
  }
  return out;
}

/** A whole body in its most readable faithful form. */
export function bodyOf(bytes: Buffer, contentType: string | undefined): RecordedBody {
  const text = bytes.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(bytes)) return { base64: bytes.toString('base64') };
  if (contentType !== undefined && /json/i.test(contentType)) {
    try {
      const json: unknown = JSON.parse(text);
      for (const indent of [0, 2]) if (JSON.stringify(json, null, indent) === text) return { json, indent };
    } catch {
      // Not JSON after all: kept as text.
    }
  }
  return { text };
}

/** The bytes of a whole recorded body (a stream's events joined). */
export function bodyBytes(body: RecordedBody): string | Buffer {
  if ('json' in body) return JSON.stringify(body.json, null, body.indent);
  if ('text' in body) return body.text;
  if ('base64' in body) return Buffer.from(body.base64, 'base64');
  return body.events.map((e) => e.raw).join('');
}

/** Replaces every secret's occurrence in a serialized recording (a last guard; credentials are never copied in). */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 8 && out.includes(s)) out = out.split(s).join('[REDACTED]');
  return out;
}

const sortedKeys = <T>(o: Record<string, T>): Record<string, T> =>
  Object.fromEntries(
    Object.keys(o)
      .sort()
      .map((k) => [k, o[k] as T]),
  );

/** A recording as its file's JSON text: stable key order, two-space indent, a final newline. */
export function serialize(r: Recording, secrets: readonly string[], compact = false): string {
  const file = {
    version: FORMAT_VERSION,
    key: r.key,
    recorded_at: r.recordedAt,
    request: r.request,
    response: { status: r.status, headers: r.headers, body: r.body },
    ...(r.jobId === undefined ? {} : { job_id: r.jobId }),
    ...(r.followUps === undefined ? {} : { follow_ups: sortedKeys(r.followUps) }),
  };
  return `${redact(JSON.stringify(file, null, compact ? 0 : 2), secrets)}\n`;
}

/** Reads a recording file's JSON; throws on anything that is not one. */
export function deserialize(text: string): Recording {
  const f = JSON.parse(text) as {
    version: number;
    key: string;
    recorded_at: string;
    request: CanonicalRequest;
    response: { status: number; headers: Record<string, string>; body: RecordedBody };
    job_id?: string;
    follow_ups?: Recording['followUps'];
  };
  if (f.version !== FORMAT_VERSION || typeof f.response?.status !== 'number') {
    throw new Error(`not a tollgate recording (version ${String(f.version)})`);
  }
  return {
    key: f.key,
    recordedAt: f.recorded_at,
    request: f.request,
    status: f.response.status,
    headers: f.response.headers,
    body: f.response.body,
    jobId: f.job_id,
    followUps: f.follow_ups,
  };
}
