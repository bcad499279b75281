/**
 * The spool: ledger rows booked while Redis was out of reach, one JSON line each in a local file,
 * fsynced before `append` resolves, replayed through RECORD when Redis answers again.
 */
import { type FileHandle, open as openFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LedgerRow, SpendIncrement } from '../types.js';

export interface SpoolEntry {
  row: LedgerRow;
  spend: SpendIncrement[];
}

interface PendingEntry extends SpoolEntry {
  resolve: () => void;
  reject: (err: unknown) => void;
}

export interface SpoolHooks {
  warn(o: object, m: string): void;
  /** Rows now on disk, before their callers hear so. */
  written(count: number): void;
  /** After a write's callers heard (the store replays at once if Redis came back meanwhile). */
  flushed(): void;
}

/** The spool file of one store prefix in `dir`. */
export function spoolPath(dir: string, prefix: string): string {
  return join(dir, `redis-${prefix.replace(/[^A-Za-z0-9_-]/g, '_')}.jsonl`);
}

export class Spool {
  readonly #dir: string;
  readonly #path: string;
  readonly #hooks: SpoolHooks;
  #file: FileHandle | undefined;
  /** Serializes appends against replay-and-truncate. */
  #lock: Promise<void> = Promise.resolve();
  readonly #pending: PendingEntry[] = [];

  constructor(dir: string, path: string, hooks: SpoolHooks) {
    this.#dir = dir;
    this.#path = path;
    this.#hooks = hooks;
  }

  /** Runs `fn` with no append or other locked step in between. */
  withLock<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn);
    this.#lock = run.then(
      () => {},
      () => {},
    );
    return run;
  }

  /** Resolves once the row is on disk; concurrent rows share one write and one fsync. */
  append(entry: SpoolEntry): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ ...entry, resolve, reject });
      if (this.#pending.length === 1) void this.withLock(() => this.#flush());
    });
  }

  async #flush(): Promise<void> {
    const batch = this.#pending.splice(0);
    if (batch.length === 0) return;
    try {
      const file = await this.#open();
      await file.write(batch.map((e) => `${JSON.stringify({ row: e.row, spend: e.spend })}\n`).join(''));
      await file.datasync();
      this.#hooks.written(batch.length);
    } catch (err) {
      for (const e of batch) e.reject(err);
      return;
    }
    for (const e of batch) e.resolve();
    this.#hooks.flushed();
  }

  /** Empties the file, durably (call under the lock, once every row went through). */
  async clear(): Promise<void> {
    const file = await this.#open();
    await file.truncate(0);
    await file.datasync();
  }

  async close(): Promise<void> {
    await this.#lock;
    await this.#file?.close();
    this.#file = undefined;
  }

  async #open(): Promise<FileHandle> {
    if (this.#file !== undefined) return this.#file;
    this.#file = await openFile(this.#path, 'a+');
    // The file's directory entry must be durable too, or a crash can lose the whole spool.
    const dir = await openFile(this.#dir, 'r');
    await dir.sync().finally(() => dir.close());
    return this.#file;
  }

  /**
   * The spool's rows in order. A last line without its newline is a write cut short by a crash,
   * never acknowledged to a caller: it is cut off so the next append starts on a fresh line.
   */
  async read(): Promise<SpoolEntry[]> {
    let text: string;
    try {
      text = await readFile(this.#path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const end = text.lastIndexOf('\n') + 1;
    if (end < text.length) {
      const file = await this.#open();
      await file.truncate(Buffer.byteLength(text.slice(0, end)));
      await file.datasync();
      this.#hooks.warn({ bytes: text.length - end }, 'dropped a torn last line from the ledger spool');
    }
    const entries: SpoolEntry[] = [];
    for (const line of text.slice(0, end).split('\n')) {
      if (line === '') continue;
      try {
        entries.push(JSON.parse(line) as SpoolEntry);
      } catch {
        // Cannot be replayed; say so loudly rather than refuse to start.
        this.#hooks.warn({ line: line.slice(0, 200) }, 'skipped an unreadable ledger spool line');
      }
    }
    return entries;
  }
}
