import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { LedgerGroup, LedgerQuery, LedgerRow, SettleOp, SpendIncrement } from '../types.js';
import { type Store, type StoreHealth, StoreUnavailableError, type TransactRequest } from '../types.js';
import { describeFailure } from './failure.js';
import { KvView } from './kv-view.js';
import { migrate } from './schema.js';
import { apply, prepareStatements, type Statements, toGroup, toRecord, toRow } from './statements.js';
import { type Outcome, TickBatch } from './tick-batch.js';
import { applyAndFlush, attempt, fastThenSlow } from './transaction-forms.js';

/** Expired kv/counter rows are swept after this many writes (and at open), never on every call. */
const PURGE_EVERY = 500;
/** `health()` counts ledger rows at most this often: count(*) walks an index, /health may be polled hard. */
const COUNT_TTL_MS = 5_000;

/** A ledger row waiting for its group commit, with the release of its call's holds. */
interface Booking {
  row: LedgerRow;
  spend: readonly SpendIncrement[];
  release: TransactRequest<void> | undefined;
}

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
  /** What this connection knows of the kv and counter rows (see KvView), for the statements it was made with. */
  #view: KvView | undefined;

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

  #kv(sql: Statements): KvView {
    if (this.#view === undefined) this.#view = new KvView(sql);
    return this.#view;
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

  /**
   * Read-decide-write of one request. Requests made in the same tick share one write transaction
   * (one lock, one commit, each key written once for a burst of admissions); one whose decide throws
   * undoes only itself (transaction-forms.ts).
   */
  async transact<T>(request: TransactRequest<T>): Promise<T> {
    this.#ready();
    return this.#transacts.submit(request) as Promise<T>;
  }

  readonly #transacts = new TickBatch<TransactRequest<unknown>, unknown>((requests) => {
    const { db, sql } = this.#ready();
    const clock = this.#now;
    // Set when a decision wrote, in either form (a rolled-back fast form only over-reports: it is a hint).
    const wrote = { any: false };
    // Read the clock once the lock is held: time spent waiting for another process does not count.
    const kv = this.#kv(sql);
    const fast = db.transaction(() => {
      kv.check();
      const results = requests.map((request) => apply(kv, request, clock(), wrote));
      kv.flush();
      return results;
    });
    const one = db.transaction((request: TransactRequest<unknown>) => applyAndFlush(kv, request, clock(), wrote));
    const slow = db.transaction(() => {
      kv.check();
      return requests.map((request) => attempt(() => one(request)));
    });
    let outcomes: Outcome<unknown>[];
    try {
      outcomes = fastThenSlow(
        kv,
        () => fast.immediate(),
        () => slow.immediate(),
      );
    } catch (error) {
      throw this.#fail(error, 'write');
    }
    if (wrote.any) this.#wrote();
    return outcomes;
  });

  async record(row: LedgerRow, spend: readonly SpendIncrement[]): Promise<boolean> {
    this.#ready();
    return this.#bookings.submit({ row, spend, release: undefined });
  }

  /** The row and the release of the call's holds in the row's group commit: one write transaction, not two. */
  async settle(op: SettleOp, release: TransactRequest<void> | undefined): Promise<boolean> {
    this.#ready();
    if (op.row === undefined) {
      if (release !== undefined) await this.transact(release);
      return false;
    }
    return this.#bookings.submit({ row: op.row, spend: op.spend, release });
  }

  /** Commits every row recorded in one tick in one fsynced transaction (with the releases settled with them). */
  readonly #bookings = new TickBatch<Booking, boolean>((batch) => {
    const { db, sql } = this.#ready();
    const now = this.#now();
    // Set when a decision wrote, in either form (a rolled-back fast form only over-reports: it is a hint).
    const wrote = { any: false };
    const kv = this.#kv(sql);
    const book = ({ row, spend }: Booking): boolean => {
      if (sql.insertRow.run(toRecord(row)).changes === 0) return false;
      for (const s of spend) kv.add(s.key, s.nanoUsd, s.expiresAt, now);
      return true;
    };
    const fast = db.transaction(function recordAll(): boolean[] {
      kv.check();
      const fresh = batch.map((booking) => {
        const booked = book(booking);
        if (booking.release !== undefined) apply(kv, booking.release, now, wrote);
        return booked;
      });
      kv.flush();
      return fresh;
    });
    // The slow form: a savepoint of its own per release, so one that throws undoes only itself (the
    // row stays booked, as record-then-transact would leave it).
    const releaseOne = db.transaction((release: TransactRequest<void>) => applyAndFlush(kv, release, now, wrote));
    const slow = db.transaction(function recordEach(): Outcome<boolean>[] {
      kv.check();
      return batch.map((booking) => {
        const fresh = book(booking);
        kv.flush();
        const { release } = booking;
        const released = release === undefined ? undefined : attempt(() => releaseOne(release));
        return released?.ok === false ? released : { ok: true, value: fresh };
      });
    });
    let outcomes: Outcome<boolean>[];
    try {
      db.pragma('synchronous = FULL');
      try {
        outcomes = fastThenSlow(
          kv,
          () => fast.immediate(),
          () => slow.immediate(),
        );
      } finally {
        db.pragma('synchronous = NORMAL');
      }
    } catch (error) {
      throw this.#fail(error, 'write');
    }
    const fresh = outcomes.filter((o) => o.ok && o.value).length;
    if (fresh > 0 || wrote.any) {
      this.#wrote();
      if (this.#rowCount !== undefined) this.#rowCount.n += fresh;
    }
    return outcomes;
  });

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
      return sql.aggregate.all(from, to).map(toGroup);
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
    this.#view = undefined;
    this.#closed = true;
    this.#rowCount = undefined;
    this.#failure = undefined;
    // Closing checkpoints the WAL into the main file when this is the last connection.
    if (db?.open) db.close();
  }
}
