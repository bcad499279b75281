import type { Statements } from './statements.js';

/** A row as this connection last read or wrote it (`null`: no row). */
interface Known<V> {
  value: V;
  expiresAt: number;
}

/** Additions to one counter not yet written: one statement at `flush`, however many calls added. */
interface PendingAdd {
  value: number;
  expiresAt: number;
  now: number;
}

/** Past this many remembered keys (job holds come and go) the view starts over. */
const MAX_KEYS = 10_000;

/**
 * The kv and counter rows as this connection knows them, parsed, with the writes of the transaction
 * in progress held back until `flush()`: read-decide-write neither reads back nor re-parses what it
 * wrote itself, and a key that every call of a batch writes (a bucket, a budget's holds) is serialised
 * and written once per transaction, not once per call. Used only with the write lock held: `check()`
 * first, which forgets everything when another connection (another sidecar on the same file) has
 * committed since (`PRAGMA data_version` changes for other connections' commits only); `flush()`
 * before the commit. A transaction that does not commit must call `forget()`: its writes were rolled
 * back, and the objects it decided over may have been changed in place. Expiry is applied on read
 * exactly as the statements apply it.
 *
 * Values are the store's own objects, handed to `decide` as they are (TransactRequest.decide may
 * change them in place: it runs exactly once, under the lock, before the commit).
 *
 * @example
 * kv.check();
 * const state = kv.value('bucket:openai:requests', now);
 * kv.put('bucket:openai:requests', next, expiresAt);
 * kv.flush();
 */
export class KvView {
  readonly #sql: Statements;
  readonly #values = new Map<string, Known<unknown> | null>();
  readonly #counters = new Map<string, Known<number> | null>();
  /** Keys whose value (or absence) must be written at `flush`. */
  readonly #dirty = new Set<string>();
  readonly #adds = new Map<string, PendingAdd>();
  #version: number | undefined;

  constructor(sql: Statements) {
    this.#sql = sql;
  }

  check(): void {
    const version = this.#sql.dataVersion.get() as number;
    if (version !== this.#version || this.#values.size + this.#counters.size > MAX_KEYS) this.forget();
    this.#version = version;
  }

  forget(): void {
    this.#values.clear();
    this.#counters.clear();
    this.#dirty.clear();
    this.#adds.clear();
    this.#version = undefined;
  }

  /** A live value (parsed), or undefined. */
  value(key: string, now: number): unknown {
    let known = this.#values.get(key);
    if (known === undefined) {
      const row = this.#sql.peekValue.get(key);
      known = row === undefined ? null : { value: JSON.parse(row.value), expiresAt: row.expires_at };
      this.#values.set(key, known);
    }
    return known !== null && known.expiresAt > now ? known.value : undefined;
  }

  put(key: string, value: unknown, expiresAt: number): void {
    this.#values.set(key, { value, expiresAt });
    this.#dirty.add(key);
  }

  delete(key: string): void {
    this.#values.set(key, null);
    this.#dirty.add(key);
  }

  /** A live counter's value, 0 when there is none. */
  counter(key: string, now: number): number {
    let known = this.#counters.get(key);
    if (known === undefined) {
      const row = this.#sql.peekCounter.get(key);
      known = row === undefined ? null : { value: row.value, expiresAt: row.expires_at };
      this.#counters.set(key, known);
    }
    return known !== null && known.expiresAt > now ? known.value : 0;
  }

  /** Adds to a counter as `addCounter` does: an expired one starts over. */
  add(key: string, value: number, expiresAt: number, now: number): void {
    const pending = this.#adds.get(key);
    if (pending === undefined) this.#adds.set(key, { value, expiresAt, now });
    else if (pending.now === now && expiresAt > now && pending.expiresAt > now) {
      // Two additions at one instant into a live window are one addition of their sum.
      pending.value += value;
      pending.expiresAt = Math.max(pending.expiresAt, expiresAt);
    } else {
      this.#writeAdd(key, pending);
      this.#adds.set(key, { value, expiresAt, now });
    }
    const known = this.#counters.get(key);
    if (known === undefined) return;
    this.#counters.set(
      key,
      known === null || known.expiresAt <= now
        ? { value, expiresAt }
        : { value: known.value + value, expiresAt: Math.max(known.expiresAt, expiresAt) },
    );
  }

  /** Writes what the transaction changed: each dirty key once, each counter's additions in one statement. */
  flush(): void {
    for (const key of this.#dirty) {
      const known = this.#values.get(key);
      if (known === undefined || known === null) this.#sql.deleteValue.run(key);
      else this.#sql.putValue.run(key, JSON.stringify(known.value), known.expiresAt);
    }
    this.#dirty.clear();
    for (const [key, pending] of this.#adds) this.#writeAdd(key, pending);
    this.#adds.clear();
  }

  #writeAdd(key: string, { value, expiresAt, now }: PendingAdd): void {
    this.#sql.addCounter.run({ key, value, expiresAt, now });
  }
}
