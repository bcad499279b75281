import { Agent, type Dispatcher, request } from 'undici';

/** Enough of an error body to read a code from; the rest is never needed. */
const ERROR_BODY_LIMIT = 16 * 1024;

export interface ProbeRequest {
  url: string;
  headers: Record<string, string>;
  signal: AbortSignal;
}

export interface ProbeResponse {
  status: number;
  /** The start of the body for non-2xx answers (to read the provider's error code); '' otherwise. */
  body: string;
}

/** Sends one probe. Must honour `signal`; the probe gives up at its timeout regardless. */
export type ProbeFetcher = (req: ProbeRequest) => Promise<ProbeResponse>;

/** The real fetcher and how to release its connections. */
export interface PooledFetcher {
  fetcher: ProbeFetcher;
  close(): Promise<void>;
}

/**
 * An undici fetcher on its own small pool: probes never queue behind (or take sockets from)
 * proxied traffic, and keep-alive across ticks keeps a TLS handshake out of most readings.
 */
export function pooledFetcher(): PooledFetcher {
  const agent = new Agent({ connections: 2, pipelining: 1, keepAliveTimeout: 60_000, keepAliveMaxTimeout: 120_000 });
  return { fetcher: undiciFetcher(agent), close: () => agent.close().catch(() => {}) };
}

function undiciFetcher(agent: Agent): ProbeFetcher {
  return async function probeRequest({ url, headers, signal }) {
    const res = await request(url, { method: 'GET', headers, signal, dispatcher: agent });
    if (res.statusCode >= 200 && res.statusCode < 300) {
      // Read to the end so the connection goes back to the pool for the next tick.
      await res.body.dump();
      return { status: res.statusCode, body: '' };
    }
    return { status: res.statusCode, body: await readBounded(res.body, ERROR_BODY_LIMIT) };
  };
}

async function readBounded(body: Dispatcher.ResponseData['body'], limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= limit) break; // leaving the loop destroys the rest of the body
  }
  return Buffer.concat(chunks).toString('utf8').slice(0, limit);
}

/** Settles with `work`, or rejects when `signal` aborts: a fetcher that ignores its signal cannot hang a probe. */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>(function race(resolve, reject) {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
