/**
 * mulberry32: a small seeded PRNG for what must repeat for a seed (the LlamaParse mock's faults and
 * latencies, the stores' randomised conformance sequences, the OpenAI mock's generated content).
 * The one copy of the algorithm; only the embeddings hot loop (providers/openai/mock/embeddings.ts)
 * inlines the same steps.
 */
export class Mulberry32 {
  /** The 32-bit state, public because a fork derives its seed from it (providers/openai/mock/prng.ts). */
  state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

/** A plain `() => number` stream for a seed, for callers that need no more than Math.random's shape. */
export function seededRandom(seed: number): () => number {
  const generator = new Mulberry32(seed);
  return function next() {
    return generator.next();
  };
}
