/** One item's outcome in a batch: its value, or why it alone failed. */
export type Outcome<O> = { ok: true; value: O } | { ok: false; error: unknown };

/**
 * Work submitted during one turn of the event loop, run together at the next `setImmediate`: the
 * SQLite store's write transactions, so calls that arrive together share one `BEGIN IMMEDIATE … COMMIT`
 * (one lock, one WAL append) instead of one each. `run` answers every item in order, or throws to fail
 * them all (the transaction did not commit).
 *
 * @example
 * const writes = new TickBatch((items) => db.transaction(() => items.map(one)).immediate());
 * await writes.submit(item);
 */
export class TickBatch<I, O> {
  #waiting: { item: I; resolve(value: O): void; reject(error: unknown): void }[] = [];
  #scheduled = false;
  readonly #run: (items: readonly I[]) => readonly Outcome<O>[];

  constructor(run: (items: readonly I[]) => readonly Outcome<O>[]) {
    this.#run = run;
  }

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.#waiting.push({ item, resolve, reject });
      if (this.#scheduled) return;
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    });
  }

  #flush(): void {
    const batch = this.#waiting;
    this.#waiting = [];
    this.#scheduled = false;
    if (batch.length === 0) return;
    let outcomes: readonly Outcome<O>[];
    try {
      outcomes = this.#run(batch.map((b) => b.item));
    } catch (error) {
      for (const b of batch) b.reject(error);
      return;
    }
    batch.forEach(function answer(b, i) {
      const outcome = outcomes[i];
      if (outcome === undefined) b.reject(new Error('batch answered fewer items than it was given'));
      else if (outcome.ok) b.resolve(outcome.value);
      else b.reject(outcome.error);
    });
  }
}
