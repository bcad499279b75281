/**
 * Which store a spooled row belongs to: the Redis server (host and port as configured), the
 * database number and the key prefix. Never the password: identities go into file names, logs,
 * /health and `tollgate spool list`.
 */
import { createHash } from 'node:crypto';

export interface StoreIdentity {
  host: string;
  port: number;
  db: number;
  prefix: string;
}

/**
 * The identity of `url` (`redis://[user:pass@]host[:port][/db]`, or `?db=N`) with key prefix `prefix`.
 * The host is compared as written: `localhost` and `127.0.0.1` are two identities, so rows err on
 * the side of waiting for an operator rather than landing in a ledger they may not belong to.
 */
export function storeIdentity(url: string, prefix: string): StoreIdentity {
  const u = new URL(url);
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error(`not a redis:// URL: ${u.protocol}`);
  const fromPath = u.pathname.replace(/^\//, '');
  const dbText = fromPath !== '' ? fromPath : (u.searchParams.get('db') ?? '0');
  const db = Number(dbText);
  if (!Number.isInteger(db) || db < 0) throw new Error(`not a database number: '${dbText}'`);
  return { host: u.hostname.toLowerCase() || 'localhost', port: Number(u.port || '6379'), db, prefix };
}

/** `redis://host:port/db`: the store's address as an operator names it (`--store`). */
export function storeAddress(id: StoreIdentity): string {
  return `redis://${id.host}:${id.port}/${id.db}`;
}

/** One line for logs and reports. */
export function describeIdentity(id: StoreIdentity): string {
  return `${storeAddress(id)} prefix ${id.prefix}`;
}

export function sameIdentity(a: StoreIdentity, b: StoreIdentity): boolean {
  return a.host === b.host && a.port === b.port && a.db === b.db && a.prefix === b.prefix;
}

/** A short fixed-width tag of the identity for file names (the rows carry the identity itself). */
export function identityTag(id: StoreIdentity): string {
  return createHash('sha256')
    .update(JSON.stringify([id.host, id.port, id.db, id.prefix]))
    .digest('hex')
    .slice(0, 12);
}

/** Whether `value` (a parsed spool line's `store`) is a well-formed identity. */
export function isIdentity(value: unknown): value is StoreIdentity {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v['host'] === 'string' &&
    Number.isInteger(v['port']) &&
    Number.isInteger(v['db']) &&
    typeof v['prefix'] === 'string'
  );
}
