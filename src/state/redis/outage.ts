/** Thrown inside the store when a Redis call failed for want of Redis; callers turn to the fallback. */
export class RedisUnreachable extends Error {
  override readonly name = 'RedisUnreachable';
}

/** Server replies that mean "cannot serve now", not "your request is wrong". */
const OUTAGE_REPLY = /^(LOADING|BUSY|READONLY|MASTERDOWN|OOM|NOREPLICAS|TRYAGAIN|CLUSTERDOWN)\b/;

export function isOutage(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  // ioredis raises connection loss, command timeouts and "offline queue disabled" as plain
  // errors; only ReplyError comes from the server itself, and most of those are our bugs.
  if (err.name === 'ReplyError') return OUTAGE_REPLY.test(err.message);
  return true;
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Host and port only: a URL may carry a password, and this goes into logs and /health. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '6379'}${u.pathname && u.pathname !== '/' ? u.pathname : ''}`;
  } catch {
    return 'redis';
  }
}
