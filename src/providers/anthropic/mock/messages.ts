/**
 * The mock's answer to a messages request: text for the conversation (cut at a stop sequence or at
 * `max_tokens`, as the model stops), or, when a tool is forced, one `tool_use` block whose input fits
 * the tool's `input_schema`. The same message is answered as JSON or as the SSE event sequence.
 */
import { Mulberry32 } from '../../../random.js';
import { countText, promptTokens, truncateText } from '../tokens.js';
import type { CacheUsage } from './cache.js';
import { anthropicId } from './reply.js';
import { valueFor } from './schema-value.js';
import { prose, seedFor } from './text.js';
import type { MessagesRequest } from './validate.js';

export type StopReason = 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use';

export type Block =
  | { type: 'text'; text: string; citations: null }
  | { type: 'tool_use'; id: string; name: string; input: unknown; caller: { type: 'direct' } };

/** The counters of Anthropic's `usage`, every field its answers carry. */
export interface MockUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  cache_creation: { ephemeral_5m_input_tokens: number; ephemeral_1h_input_tokens: number };
  server_tool_use: null;
  service_tier: 'standard';
  inference_geo: null;
  output_tokens_details: null;
  speed: null;
}

/** A whole Messages API answer (the SDK's `Message`). */
export interface MockMessage {
  id: string;
  type: 'message';
  role: 'assistant';
  model: string;
  content: Block[];
  stop_reason: StopReason;
  stop_sequence: string | null;
  stop_details: null;
  container: null;
  diagnostics: null;
  usage: MockUsage;
}

/** Tokens a tool_use block adds around its input (name, id and framing). */
const TOOL_USE_FRAMING = 12;

function toolUse(request: MessagesRequest, rng: Mulberry32): { block: Block; outputTokens: number } {
  const forced = request.forced as NonNullable<MessagesRequest['forced']>;
  const tools = request.tools;
  const tool =
    forced.type === 'tool' ? tools.find((t) => t.name === forced.name) : tools[Math.floor(rng.next() * tools.length)];
  const chosen = tool ?? (tools[0] as (typeof tools)[number]);
  const input = valueFor(chosen.input_schema, rng);
  const block: Block = {
    type: 'tool_use',
    id: anthropicId('toolu'),
    name: chosen.name,
    input,
    caller: { type: 'direct' },
  };
  return { block, outputTokens: countText(JSON.stringify(input)) + TOOL_USE_FRAMING };
}

/** The earliest stop sequence in `text`, and where it starts. */
function firstStop(text: string, stops: readonly string[]): { at: number; sequence: string } | undefined {
  let found: { at: number; sequence: string } | undefined;
  for (const sequence of stops) {
    const at = text.indexOf(sequence);
    if (at !== -1 && (found === undefined || at < found.at)) found = { at, sequence };
  }
  return found;
}

function textAnswer(request: MessagesRequest, seed: number) {
  const full = prose(seed);
  const cut = truncateText(full, request.maxTokens);
  const stop = firstStop(cut, request.stopSequences);
  if (stop !== undefined) {
    const text = cut.slice(0, stop.at);
    return { text, reason: 'stop_sequence' as const, sequence: stop.sequence };
  }
  return {
    text: cut,
    reason: cut.length < full.length ? ('max_tokens' as const) : ('end_turn' as const),
    sequence: null,
  };
}

const NO_CACHE: CacheUsage = { reads: 0, writes5m: 0, writes1h: 0 };

/**
 * The message the mock answers for `request`: deterministic for MOCK_SEED and the request, but for
 * ids and for the prompt cache's reads and writes (`cache`), which depend on earlier requests.
 */
export function answerFor(request: MessagesRequest, mockSeed: number, cache: CacheUsage = NO_CACHE): MockMessage {
  const { json } = request;
  const writes = cache.writes5m + cache.writes1h;
  const seed = seedFor(mockSeed, request.model, JSON.stringify(json.system ?? ''), JSON.stringify(json.messages));
  let content: Block[];
  let outputTokens: number;
  let reason: StopReason;
  let sequence: string | null = null;
  if (request.forced !== undefined) {
    const tool = toolUse(request, new Mulberry32(seed));
    content = [tool.block];
    outputTokens = tool.outputTokens;
    reason = 'tool_use';
  } else {
    const answer = textAnswer(request, seed);
    content = [{ type: 'text', text: answer.text, citations: null }];
    outputTokens = Math.max(1, countText(answer.text));
    reason = answer.reason;
    sequence = answer.sequence;
  }
  return {
    id: anthropicId('msg'),
    type: 'message',
    role: 'assistant',
    model: request.model,
    content,
    stop_reason: reason,
    stop_sequence: sequence,
    stop_details: null,
    container: null,
    diagnostics: null,
    usage: {
      // Anthropic's input_tokens leaves out what was read from or written to the cache.
      input_tokens: Math.max(0, promptTokens(json) - writes - cache.reads),
      output_tokens: outputTokens,
      cache_creation_input_tokens: writes,
      cache_read_input_tokens: cache.reads,
      cache_creation: { ephemeral_5m_input_tokens: cache.writes5m, ephemeral_1h_input_tokens: cache.writes1h },
      server_tool_use: null,
      service_tier: 'standard',
      inference_geo: null,
      output_tokens_details: null,
      speed: null,
    },
  };
}
