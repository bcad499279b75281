/**
 * Deterministic randomness for the mock: a SHA-256 of the seed and the input picks the
 * starting state, mulberry32 does the rest. Same MOCK_SEED + same input, same answer,
 * in every process and on every machine (Math.random would give neither).
 */
import { createHash } from 'node:crypto';

/** SHA-256 over the parts, joined by NUL so ('ab','c') and ('a','bc') differ. */
export function digest(...parts: readonly (string | number)[]): Buffer {
  const hash = createHash('sha256');
  for (const part of parts) {
    hash.update(String(part));
    hash.update('\0');
  }
  return hash.digest();
}

/** A small, fast, seedable generator. Not for secrets. */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [min, max], both inclusive. */
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
  /** Standard normal (Box-Muller). */
  gaussian(): number;
  /** A new generator derived from this one and a label, independent of later draws here. */
  fork(label: string | number): Rng;
}

export function mulberry32(seed: number): Rng {
  let state = seed >>> 0;
  function next(): number {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  return {
    next,
    int(min, max) {
      return min + Math.floor(next() * (max - min + 1));
    },
    pick(items) {
      const item = items[Math.floor(next() * items.length)];
      if (item === undefined) throw new RangeError('pick from an empty list');
      return item;
    },
    gaussian() {
      // 1 - next() is in (0, 1], so the log is finite.
      const u = 1 - next();
      const v = next();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    },
    fork(label) {
      return mulberry32(digest(state, label).readUInt32LE(0));
    },
  };
}

/** A generator seeded from a hash of the parts. */
export function rngFrom(...parts: readonly (string | number)[]): Rng {
  return mulberry32(digest(...parts).readUInt32LE(0));
}

const ALPHANUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** An id that looks like OpenAI's (`chatcmpl-AbC…`), derived from the input, so it is stable. */
export function stableId(prefix: string, length: number, ...parts: readonly (string | number)[]): string {
  const bytes = digest(...parts);
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHANUM[(bytes[i % bytes.length] ?? 0) % ALPHANUM.length];
  return prefix + out;
}

/** An id in hex (`resp_67cc…`), derived from the input. */
export function stableHexId(prefix: string, length: number, ...parts: readonly (string | number)[]): string {
  let hex = '';
  for (let round = 0; hex.length < length; round++) hex += digest(round, ...parts).toString('hex');
  return prefix + hex.slice(0, length);
}
