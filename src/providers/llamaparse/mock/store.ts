/**
 * A bounded in-memory store: insertion-ordered, it evicts the oldest entries past `maxEntries`
 * and anything older than `ttlMs`, so a long-running mock never grows without bound.
 */
export interface Stored {
  createdAt: number;
}

export interface BoundedStoreOptions {
  maxEntries: number;
  ttlMs: number;
  now: () => number;
}

export class BoundedStore<T extends Stored> {
  readonly #entries = new Map<string, T>();
  readonly #options: BoundedStoreOptions;

  constructor(options: BoundedStoreOptions) {
    this.#options = options;
  }

  get size(): number {
    return this.#entries.size;
  }

  set(id: string, entry: T): void {
    this.#entries.set(id, entry);
    this.sweep();
  }

  get(id: string): T | undefined {
    const entry = this.#entries.get(id);
    if (entry && this.#expired(entry)) {
      this.#entries.delete(id);
      return undefined;
    }
    return entry;
  }

  /** Drops expired entries, then the oldest ones over the size limit. Map order is insertion order. */
  sweep(): void {
    for (const [id, entry] of this.#entries) {
      if (this.#entries.size > this.#options.maxEntries || this.#expired(entry)) this.#entries.delete(id);
      else break;
    }
  }

  clear(): void {
    this.#entries.clear();
  }

  #expired(entry: T): boolean {
    return this.#options.now() - entry.createdAt > this.#options.ttlMs;
  }
}
