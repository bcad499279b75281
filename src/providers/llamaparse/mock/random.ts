/** A small seeded PRNG (mulberry32): the mock's faults and latencies repeat for a fixed MOCK_SEED. */
export type Random = () => number;

export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return function next() {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A stream per purpose, re-seeded when the configured seed changes (hot reload). */
export function reseedingRandom(seedOf: () => number, salt: number): Random {
  let seed = Number.NaN;
  let random: Random = Math.random;
  return function next() {
    const current = seedOf();
    if (current !== seed) {
      seed = current;
      random = seededRandom(current ^ salt);
    }
    return random();
  };
}
