/**
 * POST /v1/chat/completions: JSON and SSE, n choices, max_tokens truncation, JSON modes,
 * forced tool calls, usage from the tokenizer.
 */
import { invalidRequest } from '../../../errors.js';
import type { MockCall, ProviderReply } from '../../types.js';
import { countChatTokens, countTextTokens } from '../tokens.js';
import { answerFor, type Completion, cutAnswer, type OutputFormat, type ToolSpec } from './generate.js';
import { rngFrom, stableId, uniqueId } from './prng.js';
import { DONE_FRAME, dataFrame, epochSeconds, jsonReply, type MockContext, sseReply } from './reply.js';
import {
  type Body,
  checkSampling,
  isRecord,
  missing,
  optionalBool,
  optionalInt,
  optionalObject,
  requireBody,
  requireModel,
  wrongType,
} from './validate.js';

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'function']);

function checkMessages(body: Body): unknown[] {
  const messages = body.messages;
  if (messages === undefined || messages === null) throw missing('messages');
  if (!Array.isArray(messages)) throw wrongType('messages', 'an array', messages);
  if (messages.length === 0) {
    throw invalidRequest(
      "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
      'messages',
    );
  }
  messages.forEach((message: unknown, i) => {
    const at = `messages[${i}]`;
    if (!isRecord(message)) throw wrongType(at, 'an object', message);
    const role = message.role;
    if (role === undefined) throw missing(`${at}.role`);
    if (typeof role !== 'string' || !ROLES.has(role)) {
      throw invalidRequest(
        `Invalid value: '${String(role)}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.`,
        `${at}.role`,
      );
    }
    const content = message.content;
    const hasToolCalls = Array.isArray(message.tool_calls) && message.tool_calls.length > 0;
    if (
      (content === undefined || content === null) &&
      !(role === 'assistant' && (hasToolCalls || message.function_call))
    ) {
      throw missing(`${at}.content`);
    }
    if (content !== undefined && content !== null && typeof content !== 'string' && !Array.isArray(content)) {
      throw wrongType(`${at}.content`, 'one of a string or array of objects', content);
    }
    if (role === 'tool' && typeof message.tool_call_id !== 'string') throw missing(`${at}.tool_call_id`);
  });
  return messages;
}

function checkFormat(body: Body, messages: unknown[]): OutputFormat {
  const format = optionalObject(body, 'response_format');
  if (format === undefined || format.type === 'text') return { kind: 'text' };
  if (format.type === 'json_object') {
    // OpenAI refuses JSON mode unless the prompt asks for JSON, so workers learn it here, not in production.
    if (!/json/i.test(JSON.stringify(messages))) {
      throw invalidRequest(
        "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
        'messages',
      );
    }
    return { kind: 'json_object' };
  }
  if (format.type === 'json_schema') {
    const spec = format.json_schema;
    if (!isRecord(spec)) throw missing('response_format.json_schema');
    if (typeof spec.name !== 'string' || spec.name === '') throw missing('response_format.json_schema.name');
    return { kind: 'json_schema', schema: spec.schema ?? { type: 'object', properties: {} } };
  }
  throw invalidRequest(
    `Invalid value: '${String(format.type)}'. Supported values are: 'json_object', 'json_schema', and 'text'.`,
    'response_format.type',
  );
}

interface ToolPlan {
  tools: ToolSpec[];
  /** undefined: answer with text; '' : call any tool; a name: call that one. */
  forced: string | undefined;
}

function checkTools(body: Body): ToolPlan {
  const raw = body.tools;
  const tools: ToolSpec[] = [];
  if (raw !== undefined && raw !== null) {
    if (!Array.isArray(raw)) throw wrongType('tools', 'an array', raw);
    raw.forEach((tool: unknown, i) => {
      if (!isRecord(tool)) throw wrongType(`tools[${i}]`, 'an object', tool);
      if (tool.type !== 'function' && tool.type !== undefined) return; // custom tools: accepted, never called
      if (!isRecord(tool.function)) throw missing(`tools[${i}].function`);
      const name = tool.function.name;
      if (typeof name !== 'string' || name === '') throw missing(`tools[${i}].function.name`);
      tools.push({ name, parameters: tool.function.parameters });
    });
  }
  const choice = body.tool_choice;
  if (choice === undefined || choice === null || choice === 'auto' || choice === 'none') {
    return { tools, forced: undefined };
  }
  if (tools.length === 0) {
    throw invalidRequest(
      "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
      'tool_choice',
    );
  }
  if (choice === 'required') return { tools, forced: '' };
  if (isRecord(choice) && isRecord(choice.function) && typeof choice.function.name === 'string') {
    const name = choice.function.name;
    if (!tools.some((t) => t.name === name)) {
      throw invalidRequest(`Tool choice '${name}' not found in 'tools' parameter.`, 'tool_choice');
    }
    return { tools, forced: name };
  }
  throw invalidRequest(
    "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or a named function.",
    'tool_choice',
  );
}

interface Choice {
  completion: Completion;
  callId: string | undefined;
  finishReason: 'stop' | 'length' | 'tool_calls';
}

function usageOf(promptTokens: number, completionTokens: number) {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

function messageOf(choice: Choice) {
  const { completion } = choice;
  if (completion.tool === undefined) {
    return { role: 'assistant', content: completion.text, refusal: null, annotations: [] };
  }
  return {
    role: 'assistant',
    content: null,
    refusal: null,
    annotations: [],
    tool_calls: [
      { id: choice.callId, type: 'function', function: { name: completion.tool.name, arguments: completion.text } },
    ],
  };
}

// One fingerprint per (seed, model), hashed once; model names come from requests, so the cache is capped.
const fingerprints = new Map<string, string>();

export function fingerprint(seed: number, model: string): string {
  const key = `${seed}\0${model}`;
  let fp = fingerprints.get(key);
  if (fp === undefined) {
    fp = stableId('fp_', 10, seed, 'fingerprint', model).toLowerCase();
    if (fingerprints.size >= 1000) fingerprints.clear();
    fingerprints.set(key, fp);
  }
  return fp;
}

/** A request to POST /v1/chat/completions, checked in the order OpenAI reports its errors. */
interface ChatRequest {
  body: Body;
  model: string;
  messages: unknown[];
  n: number;
  maxTokens: number | undefined;
  stream: boolean;
  includeUsage: boolean;
  format: OutputFormat;
  toolPlan: ToolPlan;
}

function readRequest(call: MockCall): ChatRequest {
  const body = requireBody(call.json);
  const model = requireModel(body);
  const messages = checkMessages(body);
  const n = optionalInt(body, 'n', 1, 128) ?? 1;
  const maxCompletionTokens = optionalInt(body, 'max_completion_tokens', 1);
  const maxTokens = maxCompletionTokens ?? optionalInt(body, 'max_tokens', 1);
  checkSampling(body);
  const stream = optionalBool(body, 'stream') ?? false;
  const streamOptions = optionalObject(body, 'stream_options');
  if (streamOptions !== undefined && !stream) {
    throw invalidRequest("The 'stream_options' parameter is only allowed when 'stream' is enabled.", 'stream_options');
  }
  const includeUsage = streamOptions !== undefined && optionalBool(streamOptions, 'include_usage') === true;
  const format = checkFormat(body, messages);
  const toolPlan = checkTools(body);
  return { body, model, messages, n, maxTokens, stream, includeUsage, format, toolPlan };
}

/** The answer to a request, the same whether it is sent whole or streamed. */
interface ChatAnswer {
  id: string;
  created: number;
  systemFingerprint: string;
  choices: Choice[];
  usage: ReturnType<typeof usageOf>;
}

function answerRequest(req: ChatRequest, ctx: MockContext): ChatAnswer {
  const { body, model, messages, n, maxTokens, format, toolPlan } = req;
  // The answer depends on what was asked, not on how (stream, n, max_tokens): a truncated or
  // streamed answer is a prefix of / identical to the plain one.
  const input = JSON.stringify([messages, body.response_format ?? null, body.tools ?? null, body.tool_choice ?? null]);
  // Names (seed, model, input) for the memos: a prompt sent again is not generated or hashed again.
  const asked = `${ctx.seed}\0${model}\0${input}`;
  const plan = { format, tools: toolPlan.tools, forced: toolPlan.forced };
  const choices: Choice[] = [];
  for (let i = 0; i < n; i++) {
    const whole = answerFor(`chat\0${i}\0${asked}`, model, () => rngFrom(ctx.seed, 'chat', model, input, i), plan);
    const completion = cutAnswer(model, whole, maxTokens);
    const finishReason = completion.truncated ? 'length' : completion.tool ? 'tool_calls' : 'stop';
    const callId = completion.tool ? uniqueId('call_', 24) : undefined;
    choices.push({ completion, callId, finishReason });
  }

  let promptTokens = countChatTokens(model, messages);
  // Tool definitions and schemas are part of the prompt the model reads; OpenAI bills them.
  if (toolPlan.tools.length > 0) promptTokens += countTextTokens(model, JSON.stringify(body.tools));
  if (format.kind === 'json_schema') promptTokens += countTextTokens(model, JSON.stringify(format.schema));
  const completionTokens = choices.reduce((sum, c) => sum + c.completion.tokens, 0);
  const usage = usageOf(promptTokens, completionTokens);
  // Unique per call, as OpenAI's; the content above is what the seed makes reproducible.
  const id = uniqueId('chatcmpl-', 29);
  const created = epochSeconds(ctx);
  const systemFingerprint = fingerprint(ctx.seed, model);
  return { id, created, systemFingerprint, choices, usage };
}

/** The chat.completion object of a reply that is not streamed. */
function completionObject(model: string, answer: ChatAnswer) {
  return {
    id: answer.id,
    object: 'chat.completion',
    created: answer.created,
    model,
    choices: answer.choices.map((choice, index) => ({
      index,
      message: messageOf(choice),
      logprobs: null,
      finish_reason: choice.finishReason,
    })),
    usage: answer.usage,
    service_tier: 'default',
    system_fingerprint: answer.systemFingerprint,
  };
}

/** The chat.completion.chunk frames, built lazily: each chunk when it is sent. */
function* chunkFrames(req: ChatRequest, answer: ChatAnswer): Generator<string> {
  const { choices } = answer;
  const head = {
    id: answer.id,
    object: 'chat.completion.chunk',
    created: answer.created,
    model: req.model,
    service_tier: 'default',
    system_fingerprint: answer.systemFingerprint,
  };
  // Every chunk is `{...head, choices: [{index, delta, logprobs, finish_reason}], ...tail}`; the
  // constant parts are serialised once and each chunk only writes its own delta.
  const open = `data: ${JSON.stringify(head).slice(0, -1)},"choices":[{"index":`;
  const close = req.includeUsage ? '}],"usage":null}\n\n' : '}]}\n\n';
  const chunk = (index: number, delta: object, finishReason: string | null = null) =>
    `${open}${index},"delta":${JSON.stringify(delta)},"logprobs":null,"finish_reason":${finishReason === null ? 'null' : JSON.stringify(finishReason)}${close}`;

  for (const [index, choice] of choices.entries()) {
    const { completion } = choice;
    if (completion.tool === undefined) {
      yield chunk(index, { role: 'assistant', content: '', refusal: null });
    } else {
      yield chunk(index, {
        role: 'assistant',
        content: null,
        tool_calls: [
          { index: 0, id: choice.callId, type: 'function', function: { name: completion.tool.name, arguments: '' } },
        ],
        refusal: null,
      });
    }
  }
  // With n > 1 OpenAI interleaves the choices' deltas; clients must route by index.
  const longest = Math.max(...choices.map((c) => c.completion.pieces.length));
  for (let step = 0; step < longest; step++) {
    for (const [index, choice] of choices.entries()) {
      const piece = choice.completion.pieces[step];
      if (piece === undefined) continue;
      yield choice.completion.tool === undefined
        ? `${open}${index},"delta":{"content":${JSON.stringify(piece)}},"logprobs":null,"finish_reason":null${close}`
        : chunk(index, { tool_calls: [{ index: 0, function: { arguments: piece } }] });
    }
  }
  for (const [index, choice] of choices.entries()) yield chunk(index, {}, choice.finishReason);
  if (req.includeUsage) yield dataFrame({ ...head, choices: [], usage: answer.usage });
  yield DONE_FRAME;
}

export function chatCompletions(call: MockCall, ctx: MockContext): ProviderReply {
  const req = readRequest(call);
  const answer = answerRequest(req, ctx);
  if (!req.stream) return jsonReply(200, completionObject(req.model, answer), ctx.startedAt, ctx.now);
  return sseReply(chunkFrames(req, answer), ctx.streamChunkDelayMs, ctx.signal, ctx.startedAt, ctx.now);
}
