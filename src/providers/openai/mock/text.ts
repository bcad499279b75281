/**
 * Plausible English for mock answers: sentences built from a fixed word list by a seeded
 * generator. Not meaningful, but it tokenizes like real prose (common words, punctuation,
 * mostly one token per word), so token counts, truncation and stream pacing look real.
 */
import type { Rng } from './prng.js';

// Adverbial openers take a subject after them; subject openers are the subject themselves.
const ADVERBIAL_OPENERS = [
  'In practice,',
  'For example,',
  'However,',
  'Overall,',
  'In short,',
  'As a rule,',
  'In many cases,',
] as const;
const SUBJECT_OPENERS = ['A good approach', 'The main idea', 'One option', 'The first step', 'A simple rule'] as const;

const NOUNS = [
  'system',
  'model',
  'request',
  'answer',
  'document',
  'process',
  'team',
  'result',
  'question',
  'method',
  'service',
  'value',
  'change',
  'report',
  'data',
  'approach',
  'project',
  'problem',
  'solution',
  'example',
  'step',
  'plan',
  'user',
  'record',
  'budget',
  'limit',
  'network',
  'response',
  'feature',
  'design',
  'test',
  'summary',
  'source',
  'section',
  'table',
  'policy',
  'pattern',
  'context',
  'signal',
  'version',
] as const;

const VERBS = [
  'shows',
  'needs',
  'uses',
  'keeps',
  'improves',
  'reduces',
  'explains',
  'supports',
  'describes',
  'covers',
  'follows',
  'builds',
  'checks',
  'handles',
  'tracks',
  'finds',
  'returns',
  'changes',
  'measures',
  'includes',
] as const;

const ADJECTIVES = [
  'simple',
  'clear',
  'small',
  'large',
  'useful',
  'common',
  'important',
  'new',
  'careful',
  'direct',
  'stable',
  'quick',
  'better',
  'reliable',
  'practical',
  'general',
  'specific',
  'recent',
  'open',
  'complete',
] as const;

const ADVERBS = ['often', 'usually', 'clearly', 'quickly', 'rarely', 'always', 'also', 'still', 'mostly'] as const;

const LINKS = ['and', 'but', 'because', 'so', 'while', 'when', 'since', 'although', 'which means', 'so that'] as const;

const PREPOSITIONS = ['for', 'with', 'in', 'on', 'from', 'across', 'about', 'through', 'by', 'under'] as const;

function nounPhrase(rng: Rng): string {
  const article = rng.pick(['the', 'a', 'each', 'every', 'this', 'that', 'our', 'the'] as const);
  const noun = rng.pick(NOUNS);
  const withAdjective = rng.next() < 0.5;
  const adjective = withAdjective ? `${rng.pick(ADJECTIVES)} ` : '';
  // 'a' before a vowel sound reads wrong; 'an' fixes the common case.
  const art = article === 'a' && /^[aeiou]/.test(adjective || noun) ? 'an' : article;
  return `${art} ${adjective}${noun}`;
}

function clause(rng: Rng): string {
  const adverb = rng.next() < 0.3 ? `${rng.pick(ADVERBS)} ` : '';
  let text = `${adverb}${rng.pick(VERBS)} ${nounPhrase(rng)}`;
  if (rng.next() < 0.5) text += ` ${rng.pick(PREPOSITIONS)} ${nounPhrase(rng)}`;
  return text;
}

/** One sentence, capitalised and ending in a period. */
export function sentence(rng: Rng): string {
  const roll = rng.next();
  let subject: string;
  if (roll < 0.4) subject = `${rng.pick(['The', 'This', 'Each'] as const)} ${rng.pick(NOUNS)}`;
  else if (roll < 0.75) subject = `${rng.pick(ADVERBIAL_OPENERS)} ${nounPhrase(rng)}`;
  else subject = rng.pick(SUBJECT_OPENERS);
  let text = `${subject} ${clause(rng)}`;
  if (rng.next() < 0.6) {
    const link = rng.pick(LINKS);
    text += `${link === 'but' || link === 'which means' ? ',' : ''} ${link} ${nounPhrase(rng)} ${clause(rng)}`;
  }
  return `${text}.`;
}

/**
 * Sentences until the text reaches `targetTokens` (the last sentence may overshoot), with the
 * text's tokens. Each sentence is encoded once, on its own: a sentence ends in '.' and the next
 * one starts with ' ' and a capital, a boundary every OpenAI pre-tokenizer splits at, so the
 * sentences' tokens joined are exactly the tokens of the whole text.
 */
export function paragraph(
  rng: Rng,
  targetTokens: number,
  encode: (text: string) => number[],
): { text: string; tokens: number[] } {
  let text = sentence(rng);
  const tokens = encode(text);
  while (tokens.length < targetTokens) {
    const next = ` ${sentence(rng)}`;
    text += next;
    for (const token of encode(next)) tokens.push(token);
  }
  return { text, tokens };
}

/** A short phrase of 1..maxWords words, for JSON string values and titles. */
export function phrase(rng: Rng, maxWords = 4): string {
  const words: string[] = [rng.pick(ADJECTIVES)];
  const count = rng.int(1, Math.max(1, maxWords));
  for (let i = 1; i < count; i++) words.push(i % 2 === 1 ? rng.pick(NOUNS) : rng.pick(ADJECTIVES));
  return words.join(' ');
}

/** A single word, for JSON object keys. */
export function word(rng: Rng): string {
  return rng.pick(NOUNS);
}
