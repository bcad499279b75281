import { isObject } from '../../json.js';
import { emptyUsage, type Usage } from '../adapter.js';
import { type SseEvent, sseJson } from '../sse.js';

type Obj = Record<string, unknown>;
/** A count the provider reported; anything that is not a non-negative integer counts as absent. */
const count = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined;

function fromUsageObject(u: unknown, usage: Usage): boolean {
  if (!isObject(u)) return false;
  const input = count(u.prompt_tokens) ?? count(u.input_tokens);
  if (input === undefined) return false;
  usage.inputTokens = input;
  const details = isObject(u.prompt_tokens_details) ? u.prompt_tokens_details : u.input_tokens_details;
  usage.cachedInputTokens = Math.min(input, isObject(details) ? (count(details.cached_tokens) ?? 0) : 0);
  // Cache writes (chat `prompt_tokens_details`, responses `input_tokens_details`) are part of the
  // prompt like cache reads; OpenAI bills them at the input price, so they only inform, never cost.
  const writes = isObject(details) ? count(details.cache_write_tokens) : undefined;
  if (writes !== undefined) usage.cacheWriteTokens = Math.min(input - usage.cachedInputTokens, writes);
  usage.outputTokens = count(u.completion_tokens) ?? count(u.output_tokens) ?? 0;
  usage.reported = true;
  return true;
}

function finishReasons(choices: unknown): string[] | undefined {
  if (!Array.isArray(choices)) return undefined;
  const reasons = choices
    .map((c) => (isObject(c) && typeof c.finish_reason === 'string' ? c.finish_reason : undefined))
    .filter((r): r is string => r !== undefined);
  return reasons.length > 0 ? reasons : undefined;
}

/** Bounded: enough to count what a cut-short stream delivered, never unbounded memory. */
const MAX_DELIVERED = 4 * 1024 * 1024;
function deliver(usage: Usage, text: string) {
  const cur = usage.deliveredText ?? '';
  if (cur.length < MAX_DELIVERED) usage.deliveredText = cur + text;
}

/** Usage from a whole JSON answer of chat, embeddings or responses. */
export function usageFromJson(operation: string, body: unknown): Usage | undefined {
  if (!isObject(body)) return undefined;
  const usage = emptyUsage();
  if (typeof body.model === 'string') usage.model = body.model;
  if (typeof body.id === 'string') usage.responseId = body.id;
  if (operation === 'chat') usage.finishReasons = finishReasons(body.choices);
  if (operation === 'responses' && typeof body.status === 'string') usage.finishReasons = [body.status];
  if (fromUsageObject(body.usage, usage)) return usage;
  if (usage.model === undefined) return undefined;
  // No usable usage: keep the answer's text so its output can be counted with the tokenizer.
  usage.deliveredText = answerText(operation, body);
  return usage;
}

function answerText(operation: string, body: Obj): string {
  const parts: string[] = [];
  if (operation === 'chat' && Array.isArray(body.choices)) {
    for (const c of body.choices) {
      const content = isObject(c) && isObject(c.message) ? c.message.content : undefined;
      if (typeof content === 'string') parts.push(content);
    }
  }
  if (operation === 'responses' && Array.isArray(body.output)) {
    for (const item of body.output) {
      if (!isObject(item) || !Array.isArray(item.content)) continue;
      for (const part of item.content) if (isObject(part) && typeof part.text === 'string') parts.push(part.text);
    }
  }
  return parts.join('');
}

/**
 * Folds one SSE event of a chat or responses stream into `usage`. Returns true for the chat
 * usage chunk (`choices: []` with `usage`), which is stripped when the sidecar injected it.
 */
export function usageFromSse(operation: string, event: SseEvent, usage: Usage): boolean {
  const data = sseJson(event);
  if (data === undefined) return false;
  if (operation === 'responses') {
    if (data.type === 'response.output_text.delta' && typeof data.delta === 'string') deliver(usage, data.delta);
    const response = isObject(data.response) ? data.response : undefined;
    if (response !== undefined) {
      if (typeof response.model === 'string') usage.model = response.model;
      if (typeof response.id === 'string') usage.responseId = response.id;
      if (typeof response.status === 'string' && data.type !== 'response.created')
        usage.finishReasons = [response.status];
      fromUsageObject(response.usage, usage);
    }
    return false;
  }
  if (typeof data.model === 'string') usage.model = data.model;
  if (typeof data.id === 'string') usage.responseId = data.id;
  if (Array.isArray(data.choices)) {
    for (const c of data.choices) {
      const content = isObject(c) && isObject(c.delta) ? c.delta.content : undefined;
      if (typeof content === 'string') deliver(usage, content);
    }
  }
  const reasons = finishReasons(data.choices);
  if (reasons !== undefined) usage.finishReasons = [...(usage.finishReasons ?? []), ...reasons];
  const usageOnly = Array.isArray(data.choices) && data.choices.length === 0 && isObject(data.usage);
  if (isObject(data.usage)) fromUsageObject(data.usage, usage);
  return usageOnly;
}
