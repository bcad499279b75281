/**
 * Helpers for the fault suites: a one-shot HTTP client that reports exactly how an answer ended
 * (complete, cut, or never came), a Prometheus text reader, and fd/socket counters for leak checks.
 */
import { readdirSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The body arrived whole (content-length met or the last chunk seen). */
  complete: boolean;
  /** The connection broke before the answer was whole (or before any answer). */
  cut: boolean;
  /** Wall time from sending to the end (or the cut). */
  ms: number;
  /** No answer within the client's own bound: the sidecar hung. */
  hung: boolean;
}

/**
 * Sends one request on its own connection (`connection: close`, no agent), so nothing stays
 * open afterwards and a leak shows as a leak. Never rejects: a hang resolves with `hung`.
 */
export function send(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer; boundMs?: number } = {},
): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    let status = 0;
    let headers: IncomingHttpHeaders = {};
    const parts: Buffer[] = [];
    let complete = false;
    const done = (cut: boolean, hung = false) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({
        status,
        headers,
        body: Buffer.concat(parts),
        complete,
        cut,
        ms: performance.now() - started,
        hung,
      });
    };
    const req = httpRequest(url, {
      method: opts.method ?? (opts.body === undefined ? 'GET' : 'POST'),
      agent: false,
      headers: {
        connection: 'close',
        ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...opts.headers,
      },
    });
    const timer = setTimeout(() => {
      req.destroy();
      done(true, true);
    }, opts.boundMs ?? 5000);
    req.on('response', (res) => {
      status = res.statusCode ?? 0;
      headers = res.headers;
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => {
        complete = res.complete;
      });
      res.on('error', () => {});
      res.on('close', () => done(!res.complete));
    });
    req.on('error', () => done(true));
    req.end(opts.body);
  });
}

/** Writes raw bytes and collects everything until the server closes (or `boundMs`). */
export function rawExchange(
  port: number,
  data: string | Buffer,
  boundMs = 5000,
): Promise<{ text: string; status: number; ms: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), boundMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      resolve({ text, status: m ? Number(m[1]) : 0, ms: performance.now() - started });
    });
    socket.write(data);
  });
}

/** The response headers of a raw HTTP/1.1 answer, lower-cased. */
export function rawHeaders(text: string): Record<string, string> {
  const end = text.indexOf('\r\n\r\n');
  const out: Record<string, string> = {};
  for (const line of text
    .slice(0, end === -1 ? text.length : end)
    .split('\r\n')
    .slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) out[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return out;
}

/** One Prometheus sample value (0 when the series does not exist yet). */
export function sample(text: string, name: string, labels: Record<string, string>): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.lastIndexOf('}');
    const labelText = line.slice(name.length + 1, close);
    const found: Record<string, string> = {};
    for (const m of labelText.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) found[m[1]!] = m[2]!;
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) total += Number(line.slice(close + 1).trim());
  }
  return total;
}

export async function scrape(base: string): Promise<string> {
  const a = await send(`${base}/metrics`);
  return a.body.toString('utf8');
}

export const openFds = (): number => readdirSync('/proc/self/fd').length;

export const connectionsOf = (server: Server): Promise<number> =>
  new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));

/** Lets closes, resets and keep-alive teardowns land before counting. */
export async function settle(ms = 150): Promise<void> {
  await sleep(ms);
  await new Promise((r) => setImmediate(r));
}

/** Counts fds and the given servers' sockets, once settled. */
export async function resources(servers: Server[]): Promise<{ fds: number; sockets: number }> {
  await settle();
  let sockets = 0;
  for (const s of servers) sockets += await connectionsOf(s);
  return { fds: openFds(), sockets };
}

/** The data payloads of an SSE body, `[DONE]` excluded, parsed. */
export function sseData(body: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const block of body.split(/\r?\n\r?\n/)) {
    const data = block
      .split(/\r?\n/)
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).trimStart())
      .join('\n');
    if (data === '' || data === '[DONE]') continue;
    try {
      out.push(JSON.parse(data) as Record<string, unknown>);
    } catch {
      // A malformed event is the point of some tests: skip it here, assert on raw text there.
    }
  }
  return out;
}

/** The assistant text carried by the content deltas of a chat stream body. */
export function streamedText(body: string): string {
  let text = '';
  for (const ev of sseData(body)) {
    const choices = ev['choices'];
    if (!Array.isArray(choices)) continue;
    for (const c of choices as { delta?: { content?: unknown } }[]) {
      if (typeof c.delta?.content === 'string') text += c.delta.content;
    }
  }
  return text;
}
