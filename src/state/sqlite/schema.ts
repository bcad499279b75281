/** The sqlite store's schema and its migrations. */
import type Database from 'better-sqlite3';
import { StoreUnavailableError } from '../types.js';

/** Bumped by every migration; `open` refuses a file written by a newer tollgate. */
const SCHEMA_VERSION = 1;

/**
 * Migrations by target version. The ledger is never pruned automatically, since it is the
 * history; an operator prunes it with e.g.
 * `sqlite3 data/tollgate.db "DELETE FROM ledger WHERE ts < strftime('%s','now','-90 days')*1000"`
 * (safe while sidecars run; budgets read `counters`, not the ledger) and `VACUUM` in a quiet hour.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS kv (
     key TEXT PRIMARY KEY, value TEXT NOT NULL, version INTEGER NOT NULL, expires_at INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE INDEX IF NOT EXISTS kv_expires ON kv (expires_at);
   CREATE TABLE IF NOT EXISTS counters (
     key TEXT PRIMARY KEY, value INTEGER NOT NULL, expires_at INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE INDEX IF NOT EXISTS counters_expires ON counters (expires_at);
   CREATE TABLE IF NOT EXISTS ledger (
     id TEXT PRIMARY KEY,
     ts INTEGER NOT NULL,
     correlation_id TEXT NOT NULL,
     trace_id TEXT NOT NULL,
     provider TEXT NOT NULL,
     operation TEXT NOT NULL,
     model TEXT NOT NULL,
     served_by TEXT NOT NULL,
     input_tokens INTEGER NOT NULL,
     cached_input_tokens INTEGER NOT NULL,
     output_tokens INTEGER NOT NULL,
     pages INTEGER NOT NULL,
     cost_nano_usd INTEGER NOT NULL,
     billable INTEGER NOT NULL
   );
   CREATE INDEX IF NOT EXISTS ledger_ts ON ledger (ts, id);`,
];

/** Brings the schema to SCHEMA_VERSION under the write lock, so processes opening together migrate once. */
export function migrate(db: Database.Database, path: string): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current === SCHEMA_VERSION) return;
  if (current > SCHEMA_VERSION) {
    throw new StoreUnavailableError(
      `state store open failed: ${path} has schema version ${current}, newer than this tollgate's ${SCHEMA_VERSION}`,
    );
  }
  db.transaction(function runMigrations() {
    // Re-read under the lock: another process may have migrated while this one waited.
    const version = db.pragma('user_version', { simple: true }) as number;
    for (let v = version; v < SCHEMA_VERSION; v += 1) db.exec(MIGRATIONS[v]!);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}
