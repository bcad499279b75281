/**
 * Plausible English for mock answers, from a fixed word list by a generator seeded with the request:
 * the same MOCK_SEED and request give the same answer, and it tokenizes like prose.
 */
import { createHash } from 'node:crypto';
import { Mulberry32 } from '../../../random.js';

const OPENERS = ['In practice,', 'For example,', 'However,', 'Overall,', 'In short,', 'As a rule,'] as const;
const SUBJECTS = ['the system', 'a good plan', 'the team', 'the model', 'each request', 'the report', 'this step'];
const VERBS = ['keeps', 'needs', 'improves', 'checks', 'explains', 'reduces', 'supports', 'changes', 'shows'];
const OBJECTS = [
  'the budget',
  'a clear answer',
  'the main risk',
  'every limit',
  'the next step',
  'its own data',
  'the whole process',
  'a simple rule',
];
const ENDINGS = ['today', 'over time', 'for now', 'in most cases', 'by design', 'at scale'];

/** A 32-bit seed from MOCK_SEED and what identifies the request. */
export function seedFor(seed: number, ...parts: string[]): number {
  const h = createHash('sha256').update(String(seed));
  for (const p of parts) h.update('\0').update(p);
  return h.digest().readUInt32LE(0);
}

/** An int in [low, high]. */
export const between = (rng: Mulberry32, low: number, high: number) => low + Math.floor(rng.next() * (high - low + 1));
const pick = <T>(rng: Mulberry32, list: readonly T[]): T => list[Math.floor(rng.next() * list.length)] as T;

function sentence(rng: Mulberry32): string {
  const opener = rng.next() < 0.3 ? `${pick(rng, OPENERS)} ` : '';
  const subject = pick(rng, SUBJECTS);
  const body = `${subject} ${pick(rng, VERBS)} ${pick(rng, OBJECTS)} ${pick(rng, ENDINGS)}.`;
  const text = `${opener}${body}`;
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** A few sentences for the request's seed. */
export function prose(seed: number): string {
  const rng = new Mulberry32(seed);
  const sentences: string[] = [];
  const n = between(rng, 2, 5);
  for (let i = 0; i < n; i++) sentences.push(sentence(rng));
  return sentences.join(' ');
}
