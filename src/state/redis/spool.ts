/**
 * The spool: ledger rows booked while Redis was out of reach, one JSON line each in a file of this
 * store's own (spool-files.ts), fsynced before `append` resolves, replayed through RECORD when
 * Redis answers again — into the store they were spooled for and no other.
 *
 * Claims: a file whose writer is gone (a sidecar that died degraded) is taken by renaming it to
 * `<name>.replaying.<claimer>` before it is read, so of two replayers racing for it one gets the
 * file and the other ENOENT; it is deleted once every row went through RECORD. A claim whose
 * claimer is gone (killed mid-replay) is taken the same way by the next replayer of that store;
 * rows the dead one already booked are skipped by RECORD's id guard, so each is booked once.
 */
import { type FileHandle, mkdir, open as openFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { type SpooledRows, spentNanoUsd } from '../types.js';
import type { RedisStoreOptions } from './options.js';
import {
  claimName,
  holderOf,
  legacySlug,
  listSpoolFiles,
  newOwner,
  type Owner,
  ownerGone,
  readSpoolFile,
  releaseOwner,
  type SpoolEntry,
  type SpoolFile,
  type SpoolLine,
  spooledRows,
  spoolLine,
  writerFileName,
} from './spool-files.js';
import { identityTag, type StoreIdentity, sameIdentity, storeAddress } from './spool-identity.js';

export type { SpoolEntry } from './spool-files.js';

interface PendingEntry extends SpoolEntry {
  resolve: () => void;
  reject: (err: unknown) => void;
}

export interface SpoolHooks {
  warn(o: object, m: string): void;
  /** Rows now on disk, before their callers hear so. */
  written(count: number): void;
  /** Rows sent through RECORD by a drain (including ones Redis already had). */
  replayed(count: number): void;
  /**
   * Rows wait that could go to Redis now: after a write's callers heard (Redis may have come back
   * meanwhile), or when a sweep found a gone writer's file of this store.
   */
  replayable(): void;
}

export interface SpoolOptions {
  dir: string;
  /** The store every row of this spool belongs to. */
  identity: StoreIdentity;
  hooks: SpoolHooks;
  /** `adoptLegacySpool`, `claimForeignSpool`, `spoolSweepMs`: see RedisStoreOptions. */
  options: Pick<RedisStoreOptions, 'adoptLegacySpool' | 'claimForeignSpool' | 'spoolSweepMs'>;
}

/** Books one row (RECORD); rejects with RedisUnreachable when Redis is out of reach. */
export type BookRow = (entry: SpoolEntry) => Promise<unknown>;

export class Spool {
  readonly #o: SpoolOptions;
  readonly #tag: string;
  readonly #owner: Owner = newOwner();
  readonly #path: string;
  #file: FileHandle | undefined;
  /** Serializes appends against replay-and-delete. */
  #lock: Promise<void> = Promise.resolve();
  readonly #pending: PendingEntry[] = [];
  /** Rows in this spool's own file, kept as they are written (the folder scan skips the file). */
  #own: SpooledRows | undefined;
  /** The rest of the folder as of the last scan. */
  #others: SpooledRows[] = [];
  #sweep: NodeJS.Timeout | undefined;

  constructor(options: SpoolOptions) {
    this.#o = options;
    this.#tag = identityTag(options.identity);
    this.#path = join(options.dir, writerFileName(this.#tag, this.#owner));
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
      await file.write(batch.map((e) => spoolLine(this.#o.identity, e)).join(''));
      await file.datasync();
      this.#hooks.written(batch.length);
    } catch (err) {
      for (const e of batch) e.reject(err);
      return;
    }
    for (const e of batch) this.#count(e);
    for (const e of batch) e.resolve();
    this.#hooks.replayable();
  }

  get #hooks(): SpoolHooks {
    return this.#o.hooks;
  }

  #count(e: SpoolEntry): void {
    const ts = e.row.ts;
    this.#own ??= {
      store: storeAddress(this.#o.identity),
      prefix: this.#o.identity.prefix,
      rows: 0,
      costNanoUsd: 0,
      firstTs: ts,
      lastTs: ts,
    };
    this.#own.rows += 1;
    this.#own.costNanoUsd += spentNanoUsd(e.row);
    this.#own.firstTs = Math.min(this.#own.firstTs, ts);
    this.#own.lastTs = Math.max(this.#own.lastTs, ts);
  }

  async #open(): Promise<FileHandle> {
    if (this.#file !== undefined) return this.#file;
    this.#file = await openFile(this.#path, 'a+');
    // The file's directory entry must be durable too, or a crash can lose the whole spool.
    const dir = await openFile(this.#o.dir, 'r');
    await dir.sync().finally(() => dir.close());
    return this.#file;
  }

  /** Unreplayed rows in the folder per store, this spool's own included. */
  spooled(): SpooledRows[] {
    return this.#own === undefined ? [...this.#others] : [this.#own, ...this.#others];
  }

  /**
   * The rows waiting for this store: its own file's, and those of gone writers' (and gone
   * replayers') files of the same store. Starts the sweep that finds such files later.
   */
  async pending(): Promise<SpoolEntry[]> {
    await mkdir(this.#o.dir, { recursive: true });
    if (this.#sweep === undefined) {
      this.#sweep = setInterval(() => void this.#sweepOnce().catch(() => {}), this.#o.options.spoolSweepMs ?? 10_000);
      this.#sweep.unref();
    }
    const out: SpoolEntry[] = [];
    if (this.#file !== undefined) out.push(...((await readSpoolFile(this.#path, this.#hooks.warn)) ?? []));
    for (const f of await this.#adoptable()) {
      out.push(...((await readSpoolFile(f.path, this.#hooks.warn)) ?? []).filter((l) => this.#belongs(f, l)));
    }
    await this.#rescan();
    return out;
  }

  async #sweepOnce(): Promise<void> {
    await this.#rescan();
    if ((await this.#adoptable()).length > 0) this.#hooks.replayable();
  }

  async #rescan(): Promise<void> {
    const own = (f: { name: string }) => join(this.#o.dir, f.name) === this.#path;
    const rest = (await listSpoolFiles(this.#o.dir)).filter((f) => !own(f));
    this.#others = await spooledRows(this.#o.dir, () => {}, rest);
  }

  /** Files of this store that no live process holds (or that this spool claimed and still holds). */
  async #adoptable(): Promise<SpoolFile[]> {
    const slug = legacySlug(this.#o.identity.prefix);
    return (await listSpoolFiles(this.#o.dir)).filter((f) => {
      if (f.path === this.#path) return false;
      const { adoptLegacySpool, claimForeignSpool } = this.#o.options;
      if (f.tag !== undefined ? f.tag !== this.#tag : !adoptLegacySpool || f.legacySlug !== slug) return false;
      const holder = holderOf(f);
      if (holder === undefined) return true;
      if (holder.nonce === this.#owner.nonce && holder.pid === this.#owner.pid) return f.claimer !== undefined;
      return ownerGone(holder, claimForeignSpool);
    });
  }

  /** Whether a line of `file` may go into this store: its own identity must say so (old files: adopted on request). */
  #belongs(file: SpoolFile, line: SpoolLine): boolean {
    if (line.store === undefined) return file.tag === undefined && this.#o.options.adoptLegacySpool === true;
    return sameIdentity(line.store, this.#o.identity);
  }

  /**
   * Books every row waiting for this store through `record` and deletes what went through: its own
   * file, then each adoptable file, claimed first. Call under the lock. Rejects with `record`'s error
   * (a claimed file is handed back first), leaving the rest for the next drain.
   */
  async drain(record: BookRow): Promise<number> {
    const book = async (entries: readonly SpoolEntry[]) => {
      // Pipelined in chunks; one connection keeps their order.
      for (let i = 0; i < entries.length; i += 256) {
        const chunk = entries.slice(i, i + 256);
        await Promise.all(chunk.map(record));
        this.#hooks.replayed(chunk.length);
      }
    };
    let booked = 0;
    if (this.#file !== undefined) {
      const own = (await readSpoolFile(this.#path, this.#hooks.warn)) ?? [];
      await book(own);
      booked += own.length;
      await this.#file.close();
      this.#file = undefined;
      this.#own = undefined;
      await unlinkIfThere(this.#path);
    }
    for (const f of await this.#adoptable()) booked += await this.#replayClaimed(f, book);
    await this.#rescan();
    return booked;
  }

  async #replayClaimed(f: SpoolFile, book: (entries: readonly SpoolEntry[]) => Promise<void>): Promise<number> {
    const claim = join(this.#o.dir, claimName(f, this.#owner));
    const base = join(this.#o.dir, f.base);
    if (claim !== f.path) {
      try {
        await rename(f.path, claim);
      } catch (err) {
        // Another replayer took it first.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
        throw err;
      }
    }
    const lines = (await readSpoolFile(claim, this.#hooks.warn)) ?? [];
    if (lines.some((l) => !this.#belongs(f, l))) {
      await rename(claim, base);
      this.#hooks.warn({ file: base }, 'left a ledger spool file alone: it holds rows of another store');
      return 0;
    }
    try {
      await book(lines);
    } catch (err) {
      await rename(claim, base).catch(() => {});
      throw err;
    }
    await unlinkIfThere(claim);
    return lines.length;
  }

  async close(): Promise<void> {
    if (this.#sweep !== undefined) clearInterval(this.#sweep);
    this.#sweep = undefined;
    await this.#lock;
    await this.#file?.close();
    this.#file = undefined;
    // From now on what this spool left is any live replayer's of the store.
    releaseOwner(this.#owner);
  }
}

/** Deletes a replayed file; one already gone (an operator's `--force` took it) is fine. */
async function unlinkIfThere(path: string): Promise<void> {
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}
