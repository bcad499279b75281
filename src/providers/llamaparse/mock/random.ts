import { seededRandom } from '../../../random.js';

/** The mock's faults and latencies repeat for a fixed MOCK_SEED (seededRandom: mulberry32). */
export type Random = () => number;

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
