import { type FileHandle, open } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Makes what this connection committed to the WAL durable without blocking the event loop: an
 * `fdatasync` of the `-wal` file on libuv's thread pool, as `synchronous=FULL` would do on the main
 * thread at every commit. One runs at a time; every caller that arrives while one runs shares the next
 * one, which starts after their commits (group commit), so a burst of bookings costs two syncs at most.
 *
 * @example
 * transaction.immediate();   // committed with synchronous=NORMAL: in the WAL, not yet on disk
 * await walSync.synced();    // on disk: survives a power cut
 */
export class WalSync {
  readonly #walPath: string;
  #file: Promise<FileHandle> | undefined;
  #running: Promise<void> | undefined;
  #next: Promise<void> | undefined;

  readonly #datasync: (file: FileHandle) => Promise<void>;

  /** `datasync` is the step itself (tests hold it to watch the grouping). */
  constructor(databasePath: string, datasync = (file: FileHandle): Promise<void> => file.datasync()) {
    this.#walPath = `${databasePath}-wal`;
    this.#datasync = datasync;
  }

  /** Resolves once everything committed before this call is on disk. */
  synced(): Promise<void> {
    // A sync queued to start after the running one covers this caller's commit too.
    if (this.#next !== undefined) return this.#next;
    const running = this.#running;
    if (running === undefined) return this.#start();
    // The running one may have begun before this caller's commit: wait for the next.
    const next = running.then(
      () => this.#start(),
      () => this.#start(),
    );
    this.#next = next;
    return next;
  }

  async close(): Promise<void> {
    const file = this.#file;
    this.#file = undefined;
    await Promise.allSettled([this.#running, this.#next]);
    if (file !== undefined) await (await file.catch(() => undefined))?.close();
  }

  #start(): Promise<void> {
    this.#next = undefined;
    const run = this.#sync();
    this.#running = run;
    const clear = () => {
      if (this.#running === run) this.#running = undefined;
    };
    run.then(clear, clear);
    return run;
  }

  async #sync(): Promise<void> {
    this.#file ??= this.#open();
    const file = await this.#file.catch((error: unknown) => {
      // Retried at the next sync rather than failing every one after.
      this.#file = undefined;
      throw error;
    });
    await this.#datasync(file);
  }

  /** The WAL exists once the first transaction committed; its directory entry is made durable once, as SQLite does. */
  async #open(): Promise<FileHandle> {
    const file = await open(this.#walPath, 'r');
    const dir = await open(dirname(this.#walPath), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    return file;
  }
}
