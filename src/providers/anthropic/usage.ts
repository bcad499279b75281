import { isObject } from '../../json.js';
import { emptyUsage, type Usage } from '../adapter.js';
import { type SseEvent, sseJson } from '../sse.js';

/** A count the provider reported; anything that is not a non-negative integer counts as absent. */
const count = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined;

/** Bounded: enough to count what a cut-short stream delivered, never unbounded memory. */
const MAX_DELIVERED = 4 * 1024 * 1024;
function deliver(usage: Usage, text: string) {
  const cur = usage.deliveredText ?? '';
  if (cur.length < MAX_DELIVERED) usage.deliveredText = cur + text;
}

/**
 * Folds Anthropic's usage counters into `usage`. Anthropic reports `input_tokens` apart from cache
 * reads (`cache_read_input_tokens`) and writes (`cache_creation_input_tokens`); `Usage.inputTokens`
 * is the whole prompt, so the three are added, and reads and writes are kept as its parts. A counter
 * that is absent (or null) keeps what an earlier event said: `message_delta` repeats only some.
 */
function foldUsage(u: Record<string, unknown>, usage: Usage): boolean {
  const reads = count(u.cache_read_input_tokens) ?? usage.cachedInputTokens;
  const writes = count(u.cache_creation_input_tokens) ?? usage.cacheWriteTokens ?? 0;
  const previousInput = usage.inputTokens - usage.cachedInputTokens - (usage.cacheWriteTokens ?? 0);
  const input = count(u.input_tokens) ?? previousInput;
  usage.inputTokens = input + reads + writes;
  usage.cachedInputTokens = reads;
  usage.cacheWriteTokens = writes;
  const ttl = isObject(u.cache_creation) ? u.cache_creation : undefined;
  const writes1h = ttl === undefined ? undefined : count(ttl.ephemeral_1h_input_tokens);
  if (writes1h !== undefined) usage.cacheWrite1hTokens = Math.min(writes1h, writes);
  const output = count(u.output_tokens);
  if (output !== undefined) usage.outputTokens = output;
  return count(u.input_tokens) !== undefined || output !== undefined;
}

/** Usage of a whole `messages` answer (count_tokens and models are free: no usage). */
export function usageFromJson(operation: string, body: unknown): Usage | undefined {
  if (operation !== 'messages' || !isObject(body) || !isObject(body.usage)) return undefined;
  const usage = emptyUsage();
  if (typeof body.model === 'string') usage.model = body.model;
  if (typeof body.id === 'string') usage.responseId = body.id;
  if (typeof body.stop_reason === 'string') usage.finishReasons = [body.stop_reason];
  if (foldUsage(body.usage, usage)) usage.reported = true;
  return usage;
}

/**
 * Folds one event of a `messages` stream into `usage`: `message_start` carries the model, the id
 * and the prompt's counters (input and cache tokens), the deltas the text delivered, and
 * `message_delta` the stop reason and the output tokens. Usage counts as reported only once
 * `message_delta` arrived; before that a cut stream is booked from the prompt counters and the text
 * delivered. Nothing is injected into an Anthropic stream, so no event is stripped.
 */
export function usageFromSse(operation: string, event: SseEvent, usage: Usage): boolean {
  if (operation !== 'messages') return false;
  const data = sseJson(event);
  if (data === undefined) return false;
  if (data.type === 'message_start' && isObject(data.message)) {
    const m = data.message;
    if (typeof m.model === 'string') usage.model = m.model;
    if (typeof m.id === 'string') usage.responseId = m.id;
    if (isObject(m.usage)) foldUsage({ ...m.usage, output_tokens: undefined }, usage);
  } else if (data.type === 'content_block_delta' && isObject(data.delta)) {
    const d = data.delta;
    if (typeof d.text === 'string') deliver(usage, d.text);
    else if (typeof d.partial_json === 'string') deliver(usage, d.partial_json);
  } else if (data.type === 'message_delta') {
    if (isObject(data.delta) && typeof data.delta.stop_reason === 'string')
      usage.finishReasons = [data.delta.stop_reason];
    if (isObject(data.usage) && foldUsage(data.usage, usage)) usage.reported = true;
  }
  return false;
}
