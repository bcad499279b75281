/**
 * Token estimates for Claude requests. Anthropic publishes no tokenizer, so the prompt is counted
 * with the OpenAI tokenizer (o200k_base, through gpt-tokenizer): an estimate for admission and for
 * a stream cut short before its usage arrived. Whenever Anthropic reports usage (the JSON answer,
 * `message_start` and `message_delta` in a stream), that usage is what is booked.
 *
 * @example
 * promptTokens({ model: 'claude-haiku-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'Hi' }] }); // 7
 */
import { isObject } from '../../json.js';
import { countTextTokens, truncateToTokens, warmEncodings } from '../openai/tokens.js';

/** Any model name the OpenAI tokenizer maps to o200k_base. */
const ENCODING_OF = 'gpt-4o';
/** What an image costs at most: Anthropic bills about width × height / 750, up to ~1,600 tokens. */
export const IMAGE_TOKENS = 1600;
/** Framing per message (role markers) and for the reply's priming. */
const PER_MESSAGE = 3;
const PRIMING = 3;

export const countText = (text: string): number => countTextTokens(ENCODING_OF, text);
export const truncateText = (text: string, max: number): string => truncateToTokens(ENCODING_OF, text, max);
export const warmTokenizer = async (): Promise<void> => {
  await warmEncodings([ENCODING_OF]);
};

/** Tokens of a content field: a string, or content blocks (text, images, documents, tool use and results). */
function contentTokens(content: unknown): number {
  if (typeof content === 'string') return countText(content);
  if (!Array.isArray(content)) return 0;
  let n = 0;
  for (const block of content) {
    if (typeof block === 'string') n += countText(block);
    if (!isObject(block)) continue;
    if (typeof block.text === 'string') n += countText(block.text);
    if (block.type === 'image') n += IMAGE_TOKENS;
    if (block.type === 'document' && isObject(block.source) && typeof block.source.data === 'string') {
      // Base64 data is about 4 bytes per 3, and a token covers at least one byte of the document.
      n += block.source.type === 'text' ? countText(block.source.data) : Math.ceil((block.source.data.length * 3) / 4);
    }
    if (block.type === 'tool_use') n += countText(`${String(block.name)}${JSON.stringify(block.input ?? {})}`);
    if (block.type === 'tool_result') n += contentTokens(block.content);
  }
  return n;
}

/** The prompt's tokens: the system prompt, every message, the tools' definitions, and framing. */
export function promptTokens(json: Record<string, unknown>): number {
  let n = PRIMING + contentTokens(json.system);
  const messages = Array.isArray(json.messages) ? json.messages : [];
  for (const m of messages) n += PER_MESSAGE + (isObject(m) ? contentTokens(m.content) : 0);
  if (Array.isArray(json.tools) && json.tools.length > 0) n += countText(JSON.stringify(json.tools));
  return n;
}

/** A `cache_control` breakpoint: the prompt's tokens up to and including its block, and that prefix. */
export interface Breakpoint {
  tokens: number;
  /** The prefix (tools, system, messages, in the order Anthropic caches them) up to the breakpoint. */
  prefix: string;
  ttl: '5m' | '1h';
}

const ttlOf = (block: Record<string, unknown>): '5m' | '1h' | undefined =>
  isObject(block.cache_control) ? (block.cache_control.ttl === '1h' ? '1h' : '5m') : undefined;

/**
 * Every `cache_control` breakpoint of a request, in prompt order (tools, then system, then
 * messages, as Anthropic caches them), with the tokens of the prefix it closes, counted as
 * `promptTokens` counts them (so a prefix never exceeds the prompt).
 */
export function cacheBreakpoints(json: Record<string, unknown>): Breakpoint[] {
  const out: Breakpoint[] = [];
  const tools = Array.isArray(json.tools) ? json.tools : [];
  const system = Array.isArray(json.system) ? json.system : [];
  const messages = Array.isArray(json.messages) ? json.messages : [];
  let tokens = PRIMING;
  let toolTokens = 0;
  tools.forEach((tool, i) => {
    const ttl = isObject(tool) ? ttlOf(tool) : undefined;
    if (ttl === undefined) return;
    toolTokens = countText(JSON.stringify(tools.slice(0, i + 1)));
    out.push({ tokens: tokens + toolTokens, prefix: JSON.stringify([tools.slice(0, i + 1)]), ttl });
  });
  tokens += tools.length > 0 ? countText(JSON.stringify(tools)) : 0;
  if (typeof json.system === 'string') tokens += countText(json.system);
  system.forEach((block, i) => {
    tokens += contentTokens([block]);
    const ttl = isObject(block) ? ttlOf(block) : undefined;
    if (ttl !== undefined) out.push({ tokens, prefix: JSON.stringify([tools, system.slice(0, i + 1)]), ttl });
  });
  messages.forEach((m, i) => {
    tokens += PER_MESSAGE;
    const content = isObject(m) ? m.content : undefined;
    const blocks = Array.isArray(content) ? content : [content];
    blocks.forEach((block, j) => {
      tokens += contentTokens(typeof block === 'string' ? block : [block]);
      const ttl = isObject(block) ? ttlOf(block) : undefined;
      if (ttl === undefined || !isObject(m)) return;
      const upTo = [...messages.slice(0, i), { role: m.role, content: blocks.slice(0, j + 1) }];
      out.push({ tokens, prefix: JSON.stringify([tools, system, upTo]), ttl });
    });
  });
  return out;
}

/** Occurrences of `needle` in `raw` (memchr-fast in Buffer.indexOf). */
function occurrences(raw: Buffer, needle: string): number {
  let n = 0;
  for (let i = raw.indexOf(needle); i !== -1; i = raw.indexOf(needle, i + needle.length)) n++;
  return n;
}

/**
 * An upper bound of `promptTokens` from the raw body without the tokenizer: every string counted is
 * in the body and a token covers at least one byte; each object may add a message's framing, each
 * image its fixed cost.
 */
export const promptBound = (raw: Buffer): number =>
  raw.length + PRIMING + PER_MESSAGE * occurrences(raw, '{') + IMAGE_TOKENS * occurrences(raw, '"image"');
