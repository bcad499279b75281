/**
 * Checks a messages (or count_tokens) request as the Messages API does, with its messages: a
 * missing field is `<field>: Field required`, a wrong value names its path. What passes is returned
 * as the few facts the mock answers from.
 */
import { isObject } from '../../../json.js';

export interface Tool {
  name: string;
  input_schema: Record<string, unknown>;
}

export interface MessagesRequest {
  model: string;
  /** Absent for count_tokens. */
  maxTokens: number;
  stream: boolean;
  stopSequences: string[];
  tools: Tool[];
  /** The tool the request forces (`tool_choice` `tool` or `any`), if any. */
  forced: { type: 'tool'; name: string } | { type: 'any' } | undefined;
  json: Record<string, unknown>;
}

export type Checked = { ok: true; request: MessagesRequest } | { ok: false; message: string };

const fail = (message: string): Checked => ({ ok: false, message });
const ROLES = new Set(['user', 'assistant']);

function checkMessages(messages: unknown): string | undefined {
  if (messages === undefined) return 'messages: Field required';
  if (!Array.isArray(messages)) return 'messages: Input should be a valid list';
  for (const [i, m] of messages.entries()) {
    if (!isObject(m)) return `messages.${i}: Input should be a valid dictionary`;
    if (typeof m.role !== 'string' || !ROLES.has(m.role))
      return `messages.${i}.role: Input should be 'user' or 'assistant'`;
    if (m.content === undefined) return `messages.${i}.content: Field required`;
    if (typeof m.content !== 'string' && !Array.isArray(m.content))
      return `messages.${i}.content: Input should be a valid string or a list of content blocks`;
  }
  return undefined;
}

function checkTools(tools: unknown): Tool[] | string {
  if (tools === undefined) return [];
  if (!Array.isArray(tools)) return 'tools: Input should be a valid list';
  const out: Tool[] = [];
  for (const [i, t] of tools.entries()) {
    if (!isObject(t) || typeof t.name !== 'string') return `tools.${i}.name: Field required`;
    // Server tools (web search, code execution) carry a `type` and no schema.
    out.push({ name: t.name, input_schema: isObject(t.input_schema) ? t.input_schema : { type: 'object' } });
  }
  return out;
}

function checkChoice(choice: unknown, tools: Tool[]): MessagesRequest['forced'] | string {
  if (choice === undefined || !isObject(choice)) return undefined;
  if (choice.type === 'any')
    return tools.length > 0 ? { type: 'any' } : 'tool_choice: tool_choice.type any requires tools';
  if (choice.type !== 'tool') return undefined;
  if (typeof choice.name !== 'string') return 'tool_choice.name: Field required';
  const name = choice.name;
  if (!tools.some((t) => t.name === name)) return `tool_choice.name: Tool '${name}' not found in provided tools`;
  return { type: 'tool', name };
}

/** The request as the mock answers it, or the invalid_request_error message Anthropic would give. */
export function checkRequest(json: unknown, countOnly: boolean): Checked {
  if (!isObject(json)) return fail('Input should be a valid dictionary');
  if (json.model === undefined) return fail('model: Field required');
  if (typeof json.model !== 'string' || json.model === '') return fail('model: Input should be a valid string');
  const bad = checkMessages(json.messages);
  if (bad !== undefined) return fail(bad);
  if (Array.isArray(json.messages) && json.messages.length === 0)
    return fail('messages: at least one message is required');
  let maxTokens = 0;
  if (!countOnly) {
    if (json.max_tokens === undefined) return fail('max_tokens: Field required');
    if (typeof json.max_tokens !== 'number' || !Number.isInteger(json.max_tokens))
      return fail('max_tokens: Input should be a valid integer');
    if (json.max_tokens < 1) return fail('max_tokens: Input should be greater than or equal to 1');
    maxTokens = json.max_tokens;
  }
  const stop = json.stop_sequences;
  if (stop !== undefined && !(Array.isArray(stop) && stop.every((s) => typeof s === 'string')))
    return fail('stop_sequences: Input should be a valid list of strings');
  const tools = checkTools(json.tools);
  if (typeof tools === 'string') return fail(tools);
  const forced = checkChoice(json.tool_choice, tools);
  if (typeof forced === 'string') return fail(forced);
  return {
    ok: true,
    request: {
      model: json.model,
      maxTokens,
      stream: json.stream === true,
      stopSequences: (stop as string[] | undefined)?.filter((s) => s.length > 0) ?? [],
      tools,
      forced,
      json,
    },
  };
}
