/**
 * How a failed HTTP exchange (undici) is read, for the proxy and the health probes alike: whether it
 * timed out, and the system error code behind it.
 */
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/** A connect, headers or body timeout (undici), or an abort by a timeout. */
export function isTimeoutError(error: unknown): boolean {
  const { code, name } = (error ?? {}) as { code?: unknown; name?: unknown };
  return name === 'TimeoutError' || (typeof code === 'string' && TIMEOUT_CODES.has(code));
}

/** The system error code of a failed connection (ECONNREFUSED, ENOTFOUND, …), looking through wrappers. */
export function errorCode(error: unknown): string {
  const seen = new Set<unknown>();
  const queue: unknown[] = [error];
  while (queue.length > 0) {
    const e = queue.shift();
    if (typeof e !== 'object' || e === null || seen.has(e)) continue;
    seen.add(e);
    const { code, cause, errors } = e as { code?: unknown; cause?: unknown; errors?: unknown };
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
    queue.push(cause);
    if (Array.isArray(errors)) queue.push(...errors);
  }
  const { code, name } = (error ?? {}) as { code?: unknown; name?: unknown };
  return typeof code === 'string' ? code : typeof name === 'string' ? name : 'unknown error';
}
