/**
 * A bounded memo for pure functions on the request path (token counts, the mock's vectors,
 * answers and ids): the same input always gives the same output, and workers send the same
 * input again (fixed system prompts, retries, re-indexing), so outputs that come back are kept
 * instead of recomputed.
 *
 * Only inputs seen before are kept: an entry is stored on the `admitAfter`-th time its key is
 * asked for (counted in a small fixed table of key hashes). Unique inputs, the common case for
 * real traffic, then cost nothing here; storing each of them only to evict it later would fill
 * V8's old generation with dead entries and grow resident memory (measured: +110 MB over 100k
 * unique calls). Bounded by an approximate size in bytes (what the caller reports per entry,
 * keys included), oldest entries first out; an entry over a sixteenth of the budget is not kept.
 *
 * @example
 * const ids = new Memo<string>({ maxBytes: 1 << 20 });
 * const id = ids.get(key) ?? ids.put(key, computeId(), 2 * key.length + 64);
 */
const SIGHTING_SLOTS = 1 << 14;

export class Memo<V> {
  readonly #entries = new Map<string, { value: V; size: number }>();
  readonly #maxBytes: number;
  readonly #admitAfter: number;
  // Sightings per key hash, in a table that overwrites on collision: an approximate count that
  // costs no allocation per call.
  readonly #hashes = new Uint32Array(SIGHTING_SLOTS);
  readonly #sightings = new Uint8Array(SIGHTING_SLOTS);
  #bytes = 0;

  constructor({ maxBytes, admitAfter = 2 }: { maxBytes: number; admitAfter?: number }) {
    this.#maxBytes = maxBytes;
    this.#admitAfter = admitAfter;
  }

  get(key: string): V | undefined {
    return this.#entries.get(key)?.value;
  }

  /** Returns `value`, keeping it under `key` when the key has been asked for often enough and it fits. */
  put(key: string, value: V, size: number): V {
    if (size > this.#maxBytes / 16 || !this.#admit(key)) return value;
    if (this.#entries.has(key)) return value;
    this.#bytes += size;
    for (const [oldKey, old] of this.#entries) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#entries.delete(oldKey);
      this.#bytes -= old.size;
    }
    this.#entries.set(key, { value, size });
    return value;
  }

  /** Counts one more sighting of `key`; true from the `admitAfter`-th on. */
  #admit(key: string): boolean {
    if (this.#admitAfter <= 1) return true;
    const h = hash32(key);
    const slot = h & (SIGHTING_SLOTS - 1);
    if (this.#hashes[slot] !== h) {
      this.#hashes[slot] = h;
      this.#sightings[slot] = 1;
      return false;
    }
    const seen = Math.min(255, (this.#sightings[slot] as number) + 1);
    this.#sightings[slot] = seen;
    return seen >= this.#admitAfter;
  }

  get size(): number {
    return this.#entries.size;
  }
}

/** FNV-1a over UTF-16 code units. */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
