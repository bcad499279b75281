import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type {
  LedgerGroup,
  LedgerQuery,
  LedgerRow,
  SettleOp,
  SpendIncrement,
  Store,
  StoreHealth,
  TransactRequest,
} from './types.js';
import { StoreUnavailableError } from './types.js';

const DAY = 86_400_000;
/** Bumped by every migration; `open` refuses a file written by a newer tollgate. */
const SCHEMA_VERSION = 1;
/** Expired kv/counter rows are swept after this many writes (and at open), never on every call. */
const PURGE_EVERY = 500;
/** `health()` counts ledger rows at most this often: count(*) walks an index, /health may be polled hard. */
const COUNT_TTL_MS = 5_000;

export interface SqliteStoreOptions {
  now?: () => number;
  /** How long a writer waits for another process's lock before failing, ms. */
  busyTimeoutMs?: number;
  /**
   * Open the file read-only (e.g. for `tollgate costs` against a live sidecar's file). Writes then
   * fail with a clear error and health reports `fail`. Tests use it because root ignores chmod.
   */
  readonly?: boolean;
  /**
   * Cap on the file's size in bytes (SQLite `max_page_count`); past it writes fail as "disk full".
   * Lets an operator bound the ledger, and tests rehearse a full disk without a small filesystem.
   */
  maxSizeBytes?: number;
}

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

interface LedgerRecord {
  id: string;
  ts: number;
  correlation_id: string;
  trace_id: string;
  provider: string;
  operation: string;
  model: string;
  served_by: string;
  input_tokens: number;
  cached_input_tokens: number;
  output_tokens: number;
  pages: number;
  cost_nano_usd: number;
  billable: number;
}

interface GroupRecord {
  provider: string;
  model: string;
  served_by: string;
  operation: string;
  requests: number;
  cost_nano_usd: number;
  input_tokens: number;
  cached_input_tokens: number;
  output_tokens: number;
  pages: number;
}

/** Every statement, prepared once at open: no SQL text is built per call. */
function prepareStatements(db: Database.Database) {
  return {
    getValue: db.prepare<[string, number], { value: string }>('SELECT value FROM kv WHERE key = ? AND expires_at > ?'),
    putValue: db.prepare<[string, string, number]>(
      `INSERT INTO kv (key, value, version, expires_at) VALUES (?, ?, 1, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = kv.version + 1, expires_at = excluded.expires_at`,
    ),
    deleteValue: db.prepare<[string]>('DELETE FROM kv WHERE key = ?'),
    getCounter: db.prepare<[string, number], { value: number }>(
      'SELECT value FROM counters WHERE key = ? AND expires_at > ?',
    ),
    // An expired counter not yet swept starts over rather than resuming an old window's spend.
    addCounter: db.prepare<{ key: string; value: number; expiresAt: number; now: number }>(
      `INSERT INTO counters (key, value, expires_at) VALUES (:key, :value, :expiresAt)
       ON CONFLICT (key) DO UPDATE SET
         value = CASE WHEN counters.expires_at <= :now THEN excluded.value ELSE counters.value + excluded.value END,
         expires_at = CASE WHEN counters.expires_at <= :now THEN excluded.expires_at
                           ELSE max(counters.expires_at, excluded.expires_at) END`,
    ),
    insertRow: db.prepare<LedgerRecord>(
      `INSERT OR IGNORE INTO ledger (id, ts, correlation_id, trace_id, provider, operation, model, served_by,
         input_tokens, cached_input_tokens, output_tokens, pages, cost_nano_usd, billable)
       VALUES (:id, :ts, :correlation_id, :trace_id, :provider, :operation, :model, :served_by,
         :input_tokens, :cached_input_tokens, :output_tokens, :pages, :cost_nano_usd, :billable)`,
    ),
    rows: db.prepare<[number, number, number], LedgerRecord>(
      'SELECT * FROM ledger WHERE ts >= ? AND ts < ? ORDER BY ts, id LIMIT ?',
    ),
    aggregate: db.prepare<[number, number], GroupRecord>(
      `SELECT provider, model, served_by, operation, count(*) AS requests,
         sum(cost_nano_usd) AS cost_nano_usd, sum(input_tokens) AS input_tokens,
         sum(cached_input_tokens) AS cached_input_tokens, sum(output_tokens) AS output_tokens,
         sum(pages) AS pages
       FROM ledger WHERE ts >= ? AND ts < ?
       GROUP BY provider, model, served_by, operation`,
    ),
    countRows: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM ledger'),
    purgeValues: db.prepare<[number]>('DELETE FROM kv WHERE expires_at <= ?'),
    purgeCounters: db.prepare<[number]>('DELETE FROM counters WHERE expires_at <= ?'),
  };
}

type Statements = ReturnType<typeof prepareStatements>;
/** The instance type (the typings export only the class). */
type SqliteError = InstanceType<typeof Database.SqliteError>;

/** Names an SQLite failure the way an operator would look for it (never a stack). */
function describeFailure(error: SqliteError): { problem: string; status: 'warn' | 'fail' } {
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

function toRow(r: LedgerRecord): LedgerRow {
  return {
    id: r.id,
    ts: r.ts,
    correlationId: r.correlation_id,
    traceId: r.trace_id,
    provider: r.provider,
    operation: r.operation,
    model: r.model,
    servedBy: r.served_by as LedgerRow['servedBy'],
    inputTokens: r.input_tokens,
    cachedInputTokens: r.cached_input_tokens,
    outputTokens: r.output_tokens,
    pages: r.pages,
    costNanoUsd: r.cost_nano_usd,
    billable: r.billable === 1,
  };
}

function toRecord(r: LedgerRow): LedgerRecord {
  return {
    id: r.id,
    ts: r.ts,
    correlation_id: r.correlationId,
    trace_id: r.traceId,
    provider: r.provider,
    operation: r.operation,
    model: r.model,
    served_by: r.servedBy,
    input_tokens: r.inputTokens,
    cached_input_tokens: r.cachedInputTokens,
    output_tokens: r.outputTokens,
    pages: r.pages,
    cost_nano_usd: r.costNanoUsd,
    billable: r.billable ? 1 : 0,
  };
}

/**
 * The embedded default store (`STATE_URL=sqlite:PATH`): one file in WAL mode, shareable by several
 * sidecar processes on one host. better-sqlite3 is synchronous, so each operation is one
 * transaction that no other call in this process can interleave with; `BEGIN IMMEDIATE` takes the
 * file's write lock up front, which makes read-decide-write (keys and counters alike) atomic
 * across processes too, so `decide` runs exactly once and no compare-and-set retry is needed.
 * Durability: bucket and hold state commits with `synchronous=NORMAL` (in WAL mode that survives a
 * killed process; a power cut may lose the last moments of limit state, which errs towards more
 * capacity, never lost money). Ledger rows are group-committed: rows recorded in the same tick share
 * one transaction committed with `synchronous=FULL`, so a row is fsynced when `record` resolves,
 * through SIGKILL or power loss, at the cost of one fsync per batch instead of per row.
 *
 * @example
 * const store = new SqliteStore('./data/tollgate.db');
 * await store.open();
 * await store.record(row, [{ key: 'spend:day:2026-11-28', nanoUsd: row.costNanoUsd, expiresAt }]);
 */
export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly #path: string;
  readonly #now: () => number;
  readonly #options: SqliteStoreOptions;
  #db: Database.Database | undefined;
  #sql: Statements | undefined;
  #closed = false;
  #writesSincePurge = 0;
  #failure: { status: 'warn' | 'fail'; output: string } | undefined;
  #rowCount: { n: number; at: number } | undefined;

  constructor(path: string, options: SqliteStoreOptions = {}) {
    this.#path = path;
    this.#now = options.now ?? Date.now;
    this.#options = options;
  }

  async open(): Promise<void> {
    if (this.#db !== undefined) return;
    const inMemory = this.#path === ':memory:' || this.#path === '';
    const readonly = this.#options.readonly === true;
    let db: Database.Database | undefined;
    try {
      if (!inMemory && !readonly) mkdirSync(dirname(resolve(this.#path)), { recursive: true });
      db = new Database(this.#path, { readonly, fileMustExist: readonly });
      // Set before anything that locks, so a sidecar starting beside a busy one waits instead of failing.
      db.pragma(`busy_timeout = ${Math.trunc(this.#options.busyTimeoutMs ?? 5000)}`);
      if (!readonly) db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      if (this.#options.maxSizeBytes !== undefined) {
        const pageSize = db.pragma('page_size', { simple: true }) as number;
        db.pragma(`max_page_count = ${Math.max(1, Math.floor(this.#options.maxSizeBytes / pageSize))}`);
      }
      migrate(db, this.#path);
      this.#db = db;
      this.#sql = prepareStatements(db);
      this.#closed = false;
    } catch (error) {
      db?.close();
      // Kept for health(): /health then says why the store is down, not merely that it is.
      const message =
        error instanceof Database.SqliteError
          ? `state store open failed: ${describeFailure(error).problem} (${this.#path})`
          : error instanceof StoreUnavailableError
            ? error.message
            : `state store open failed: ${error instanceof Error ? error.message : String(error)} (${this.#path})`;
      this.#failure = { status: 'fail', output: message };
      if (error instanceof Database.SqliteError) throw new StoreUnavailableError(message, { cause: error });
      throw error;
    }
    // A file SQLite could only open read-only (chmod, read-only mount) is reported now, not at the first booking.
    if (db.readonly) this.#failure = { status: 'fail', output: `read-only database (${this.#path}): writes will fail` };
    else this.#purge();
  }

  #ready(): { db: Database.Database; sql: Statements } {
    if (this.#db === undefined || this.#sql === undefined) {
      throw new StoreUnavailableError(`state store ${this.#closed ? 'is closed' : 'is not open'} (${this.#path})`);
    }
    return { db: this.#db, sql: this.#sql };
  }

  /** Turns an SQLite error into a clear, stack-free message and marks health; other errors pass unchanged. */
  #fail(error: unknown, action: 'read' | 'write'): unknown {
    if (!(error instanceof Database.SqliteError)) return error;
    const { problem, status } = describeFailure(error);
    const message = `state store ${action} failed: ${problem} (${this.#path})`;
    this.#failure = { status, output: message };
    return new StoreUnavailableError(message, { cause: error });
  }

  #wrote(): void {
    this.#failure = undefined;
    this.#writesSincePurge += 1;
    if (this.#writesSincePurge >= PURGE_EVERY) this.#purge();
  }

  /** Sweeps expired kv/counter rows; a failure here only shows in health, it never fails a caller. */
  #purge(): void {
    this.#writesSincePurge = 0;
    const { db, sql } = this.#ready();
    try {
      const now = this.#now();
      db.transaction(function purge() {
        sql.purgeValues.run(now);
        sql.purgeCounters.run(now);
      }).immediate();
    } catch (error) {
      this.#fail(error, 'write');
    }
  }

  async transact<T>(request: TransactRequest<T>): Promise<T> {
    const { db, sql } = this.#ready();
    const clock = this.#now;
    const wrote = { any: false };
    const run = db.transaction(function transact(): T {
      // Read the clock once the lock is held: time spent waiting for another process does not count.
      return apply(sql, request, clock(), wrote);
    });
    let result: T;
    try {
      result = run.immediate();
    } catch (error) {
      throw this.#fail(error, 'write');
    }
    if (wrote.any) this.#wrote();
    return result;
  }

  #pending: {
    row: LedgerRow;
    spend: readonly SpendIncrement[];
    /** A settlement's release, committed with its row. */
    release: TransactRequest<void> | undefined;
    resolve(v: boolean): void;
    reject(e: unknown): void;
  }[] = [];
  #flushing = false;

  async record(row: LedgerRow, spend: readonly SpendIncrement[]): Promise<boolean> {
    this.#ready();
    return this.#enqueue(row, spend, undefined);
  }

  /** The row and the release of the call's holds in the row's group commit: one write transaction, not two. */
  async settle(op: SettleOp, release: TransactRequest<void> | undefined): Promise<boolean> {
    this.#ready();
    if (op.row === undefined) {
      if (release !== undefined) await this.transact(release);
      return false;
    }
    return this.#enqueue(op.row, op.spend, release);
  }

  #enqueue(row: LedgerRow, spend: readonly SpendIncrement[], release: TransactRequest<void> | undefined) {
    return new Promise<boolean>((resolve, reject) => {
      this.#pending.push({ row, spend, release, resolve, reject });
      if (!this.#flushing) {
        this.#flushing = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  /** Commits every row recorded since the last flush in one fsynced transaction. */
  #flush(): void {
    const batch = this.#pending;
    this.#pending = [];
    this.#flushing = false;
    if (batch.length === 0) return;
    let inserted: boolean[];
    /** Per entry: why its release failed (the row stays booked, as record-then-transact would leave it). */
    const failed: unknown[] = [];
    const wrote = { any: false };
    try {
      const { db, sql } = this.#ready();
      const now = this.#now();
      // A savepoint of its own per release: one that throws undoes only itself.
      const releaseOne = db.transaction((release: TransactRequest<void>) => apply(sql, release, now, wrote));
      const run = db.transaction(function record(): boolean[] {
        return batch.map(({ row, spend, release }, i) => {
          let fresh = false;
          if (sql.insertRow.run(toRecord(row)).changes > 0) {
            fresh = true;
            for (const s of spend) sql.addCounter.run({ key: s.key, value: s.nanoUsd, expiresAt: s.expiresAt, now });
          }
          if (release !== undefined) {
            try {
              releaseOne(release);
            } catch (error) {
              if (error instanceof Database.SqliteError) throw error;
              failed[i] = error;
            }
          }
          return fresh;
        });
      });
      db.pragma('synchronous = FULL');
      try {
        inserted = run.immediate();
      } finally {
        db.pragma('synchronous = NORMAL');
      }
    } catch (error) {
      const err = this.#fail(error, 'write');
      for (const b of batch) b.reject(err);
      return;
    }
    let fresh = 0;
    batch.forEach((b, i) => {
      if (inserted[i]) fresh += 1;
      if (failed[i] !== undefined) b.reject(failed[i]);
      else b.resolve(inserted[i] === true);
    });
    if (fresh > 0 || wrote.any) {
      this.#wrote();
      if (this.#rowCount !== undefined) this.#rowCount.n += fresh;
    }
  }

  async counters(keys: readonly string[]): Promise<Map<string, number>> {
    const { sql } = this.#ready();
    const now = this.#now();
    try {
      return new Map(keys.map((key) => [key, sql.getCounter.get(key, now)?.value ?? 0]));
    } catch (error) {
      throw this.#fail(error, 'read');
    }
  }

  async aggregate({ from, to }: LedgerQuery): Promise<LedgerGroup[]> {
    const { sql } = this.#ready();
    try {
      return sql.aggregate.all(from, to).map((g) => ({
        provider: g.provider,
        model: g.model,
        servedBy: g.served_by as LedgerGroup['servedBy'],
        operation: g.operation,
        requests: g.requests,
        costNanoUsd: g.cost_nano_usd,
        inputTokens: g.input_tokens,
        cachedInputTokens: g.cached_input_tokens,
        outputTokens: g.output_tokens,
        pages: g.pages,
      }));
    } catch (error) {
      throw this.#fail(error, 'read');
    }
  }

  async rows({ from, to, limit }: LedgerQuery & { limit?: number }): Promise<LedgerRow[]> {
    const { sql } = this.#ready();
    try {
      // A negative LIMIT is "no limit" in SQLite.
      return sql.rows.all(from, to, limit === undefined || !Number.isFinite(limit) ? -1 : limit).map(toRow);
    } catch (error) {
      throw this.#fail(error, 'read');
    }
  }

  health(): StoreHealth {
    if (this.#failure !== undefined) return { ...this.#failure };
    if (this.#sql === undefined) {
      return { status: 'fail', output: `sqlite store ${this.#closed ? 'closed' : 'not open'} (${this.#path})` };
    }
    const now = this.#now();
    if (this.#rowCount === undefined || now - this.#rowCount.at >= COUNT_TTL_MS || now < this.#rowCount.at) {
      try {
        this.#rowCount = { n: this.#sql.countRows.get()?.n ?? 0, at: now };
      } catch (error) {
        this.#fail(error, 'read');
        return this.#failure ?? { status: 'fail', output: `sqlite store unreadable (${this.#path})` };
      }
    }
    return { status: 'pass', output: `sqlite store ${this.#path}, ${this.#rowCount.n} ledger rows` };
  }

  async close(): Promise<void> {
    const db = this.#db;
    this.#db = undefined;
    this.#sql = undefined;
    this.#closed = true;
    this.#rowCount = undefined;
    this.#failure = undefined;
    // Closing checkpoints the WAL into the main file when this is the last connection.
    if (db?.open) db.close();
  }
}

/** Read-decide-write of one TransactRequest, inside a transaction the caller holds. */
function apply<T>(sql: Statements, request: TransactRequest<T>, now: number, wrote: { any: boolean }): T {
  const values = new Map<string, unknown>();
  for (const key of request.keys) {
    const found = sql.getValue.get(key, now);
    values.set(key, found === undefined ? undefined : JSON.parse(found.value));
  }
  // Under the same write lock, so spend cannot move between this read and the commit.
  for (const key of request.counters ?? []) values.set(key, sql.getCounter.get(key, now)?.value ?? 0);
  const { writes, result } = request.decide(values, now);
  for (const [key, value] of writes) {
    if (value === undefined) sql.deleteValue.run(key);
    else sql.putValue.run(key, JSON.stringify(value), request.expiresAt?.(key, now) ?? now + DAY);
    wrote.any = true;
  }
  return result;
}

/** Brings the schema to SCHEMA_VERSION under the write lock, so processes opening together migrate once. */
function migrate(db: Database.Database, path: string): void {
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
