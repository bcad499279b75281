/**
 * mulberry32: a small seeded PRNG for what must repeat for a seed (the LlamaParse mock's faults and
 * latencies, the stores' randomised conformance sequences). The OpenAI mock's generator
 * (providers/openai/mock/prng.ts) runs the same steps on a state its fork() reads.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return function next() {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
