import type Database from 'better-sqlite3';

/** The instance type (the typings export only the class). */
type SqliteError = InstanceType<typeof Database.SqliteError>;

/** Names an SQLite failure the way an operator would look for it (never a stack). */
export function describeFailure(error: SqliteError): { problem: string; status: 'warn' | 'fail' } {
  const code = error.code;
  if (code === 'SQLITE_FULL') return { problem: 'disk full', status: 'fail' };
  if (code.startsWith('SQLITE_READONLY')) return { problem: 'read-only database', status: 'fail' };
  if (code.startsWith('SQLITE_IOERR')) return { problem: `I/O error (${code})`, status: 'fail' };
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
    return { problem: 'database file is corrupt', status: 'fail' };
  }
  if (code.startsWith('SQLITE_CANTOPEN')) return { problem: 'cannot open database file', status: 'fail' };
  if (code === 'SQLITE_PERM' || code === 'SQLITE_AUTH') return { problem: 'permission denied', status: 'fail' };
  // Another process held the lock past busy_timeout: transient, so warn rather than fail.
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return { problem: 'locked by another process past the busy timeout', status: 'warn' };
  }
  return { problem: `${error.message} (${code})`, status: 'fail' };
}
