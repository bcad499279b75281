/**
 * Deterministic randomness for the mock: a SHA-256 of the seed and the input picks the
 * starting state, mulberry32 (../../../random.ts) does the rest. Same MOCK_SEED + same input, same answer,
 * in every process and on every machine (Math.random would give neither).
 */
import * as crypto from 'node:crypto';
import { Mulberry32 } from '../../../random.js';
import { Memo } from '../memo.js';

// One-shot hashing (Node 20.12+) skips the Hash object; older 20.x builds fall back to it.
const sha256: (data: string) => Buffer =
  typeof crypto.hash === 'function'
    ? (data) => crypto.hash('sha256', data, 'buffer')
    : (data) => crypto.createHash('sha256').update(data).digest();

/** SHA-256 over the parts, each followed by NUL so ('ab','c') and ('a','bc') differ. */
export function digest(...parts: readonly (string | number)[]): Buffer {
  // One string, one UTF-8 encoding: the same bytes as feeding the parts one by one.
  let data = '';
  for (const part of parts) data += `${part}\0`;
  return sha256(data);
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
  const generator = new Mulberry32(seed);
  function next(): number {
    return generator.next();
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
      return mulberry32(digest(generator.state, label).readUInt32LE(0));
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

// Random bytes are drawn 4 KiB at a time: one system call per a few dozen ids.
const entropy = Buffer.alloc(4096);
let entropyAt = entropy.length;

function randomBytes(n: number): Buffer {
  if (entropyAt + n > entropy.length) {
    crypto.randomFillSync(entropy);
    entropyAt = 0;
  }
  const out = entropy.subarray(entropyAt, entropyAt + n);
  entropyAt += n;
  return out;
}

/**
 * An id unique to one call, shaped like OpenAI's (`chatcmpl-` + alphanumerics, `resp_` + hex). The
 * content stays seeded and reproducible; ids are per call, as OpenAI's are, so a worker that keys
 * by id (a cache, a dedup table, previous_response_id) sees two calls as two.
 */
export function uniqueId(prefix: string, length: number, alphabet: 'alnum' | 'hex' = 'alnum'): string {
  if (alphabet === 'hex')
    return (
      prefix +
      randomBytes(Math.ceil(length / 2))
        .toString('hex')
        .slice(0, length)
    );
  const bytes = randomBytes(length);
  let out = '';
  // 248 = 4 × 62: bytes below it map evenly onto the 62 characters; the rare others are redrawn.
  for (let i = 0; i < length; i++) {
    let b = bytes[i]!;
    while (b >= 248) b = randomBytes(1)[0]!;
    out += ALPHANUM[b % ALPHANUM.length];
  }
  return prefix + out;
}

// Stable ids (chat completion, call, response ids) hash the whole input; those of inputs that
// come back are kept, about 1 MiB.
const ids = new Memo<string>({ maxBytes: 1 << 20 });

/** The id `make` derives, derived once for a `key` that names everything `make` hashes. */
export function memoId(key: string, make: () => string): string {
  return ids.get(key) ?? ids.put(key, make(), 2 * key.length + 192);
}
