import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** A worker's correlation id is used as given when it is ≤128 of [A-Za-z0-9._:-] (contract section 4). */
export const VALID_CORRELATION_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Dot segments, encoded slashes/dots and backslashes never reach routing or an upstream. */
const PATH_TRICK = /(?:^|\/)\.\.?(?:\/|$)|%2e|%2f|%5c|\\|%00/i;

/** Whether a raw path (no query) is refused before routing. */
export const pathRefused = (path: string): boolean => PATH_TRICK.test(path) || path.includes('//');

/** The worker's correlation id when valid, else a new one. */
export const correlationIdOf = (given: string | string[] | undefined, generate: () => string = randomUUID): string =>
  typeof given === 'string' && VALID_CORRELATION_ID.test(given) ? given : generate();

/** The path of a request target (no query). */
export const pathOf = (url: string): string => {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
};

/**
 * Settles what everything after the edge trusts: the correlation id (in the request's header, so every
 * answer and the proxy read the same one), absolute-form targets (served by their path), and the Host
 * header (never used for routing or forwarding: it is set to the sidecar's own address).
 */
export function settleRequest(req: IncomingMessage, host: string): string {
  const id = correlationIdOf(req.headers['x-correlation-id']);
  req.headers['x-correlation-id'] = id;
  const url = req.url ?? '/';
  if (!url.startsWith('/')) {
    try {
      const u = new URL(url);
      req.url = u.pathname + u.search;
    } catch {
      req.url = '/';
    }
  }
  req.headers.host = host;
  return id;
}
