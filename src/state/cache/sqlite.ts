import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { CacheOptions, ResponseCache } from './types.js';

/** The cache in the embedded database's file (its own table and connection): local, kept across restarts. */
export class SqliteCache implements ResponseCache {
  readonly kind = 'sqlite' as const;
  readonly #db: Database.Database;
  readonly #max: number;
  readonly #now: () => number;
  readonly #get: Database.Statement<[string, number], { value: string }>;
  readonly #put: Database.Statement<[string, string, number, number]>;
  readonly #trim: Database.Statement<[number, number]>;

  constructor(path: string, options: CacheOptions = {}) {
    if (path !== ':memory:') mkdirSync(dirname(resolve(path)), { recursive: true });
    this.#db = new Database(path);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('busy_timeout = 3000');
    this.#db.exec(`CREATE TABLE IF NOT EXISTS response_cache (
      key TEXT PRIMARY KEY, value TEXT NOT NULL, stored_at INTEGER NOT NULL, expires_at INTEGER NOT NULL)`);
    this.#max = options.maxEntries ?? 10_000;
    this.#now = options.now ?? Date.now;
    this.#get = this.#db.prepare('SELECT value FROM response_cache WHERE key = ? AND expires_at > ?');
    this.#put = this.#db.prepare(
      'INSERT OR REPLACE INTO response_cache (key, value, stored_at, expires_at) VALUES (?, ?, ?, ?)',
    );
    // Expired rows go, then the oldest past the bound.
    this.#trim = this.#db.prepare(
      `DELETE FROM response_cache WHERE expires_at <= ? OR key IN (
         SELECT key FROM response_cache ORDER BY stored_at DESC LIMIT -1 OFFSET ?)`,
    );
  }

  async get(key: string): Promise<string | undefined> {
    try {
      return this.#get.get(key, this.#now())?.value;
    } catch {
      return undefined;
    }
  }

  async put(key: string, value: string, ttlMs: number): Promise<void> {
    const now = this.#now();
    try {
      this.#put.run(key, value, now, now + ttlMs);
      this.#trim.run(now, this.#max);
    } catch {
      // A full disk or a locked file: the answer is simply not cached.
    }
  }

  async close(): Promise<void> {
    this.#db.close();
  }
}
