import type { Statements } from './statements.js';

/** A row as this connection last read or wrote it (`null`: no row). */
interface Known<V> {
  value: V;
  expiresAt: number;
}

/** Past this many remembered keys (job holds come and go) the view starts over. */
const MAX_KEYS = 10_000;

/**
 * The kv and counter rows as this connection knows them, so read-decide-write does not read back what
 * it wrote itself. Used only with the write lock held: `check()` first, which forgets everything when
 * another connection (another sidecar on the same file) has committed since (`PRAGMA data_version`
 * changes for other connections' commits only). A transaction that fails must call `forget()`: its
 * writes were rolled back. Expiry is applied on read exactly as the statements apply it.
 *
 * @example
 * kv.check();
 * const state = kv.value('bucket:openai:requests', now);
 * kv.put('bucket:openai:requests', JSON.stringify(next), expiresAt);
 */
export class KvView {
  readonly #sql: Statements;
  readonly #values = new Map<string, Known<string> | null>();
  readonly #counters = new Map<string, Known<number> | null>();
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
    this.#version = undefined;
  }

  /** The JSON text of a live value, or undefined. */
  value(key: string, now: number): string | undefined {
    let known = this.#values.get(key);
    if (known === undefined) {
      const row = this.#sql.peekValue.get(key);
      known = row === undefined ? null : { value: row.value, expiresAt: row.expires_at };
      this.#values.set(key, known);
    }
    return known !== null && known.expiresAt > now ? known.value : undefined;
  }

  put(key: string, json: string, expiresAt: number): void {
    this.#sql.putValue.run(key, json, expiresAt);
    this.#values.set(key, { value: json, expiresAt });
  }

  delete(key: string): void {
    this.#sql.deleteValue.run(key);
    this.#values.set(key, null);
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
    this.#sql.addCounter.run({ key, value, expiresAt, now });
    const known = this.#counters.get(key);
    if (known === undefined) return;
    this.#counters.set(
      key,
      known === null || known.expiresAt <= now
        ? { value, expiresAt }
        : { value: known.value + value, expiresAt: Math.max(known.expiresAt, expiresAt) },
    );
  }
}
