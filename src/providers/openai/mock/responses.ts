/**
 * POST /v1/responses: the Response object, and its SSE event sequence
 * (created, in_progress, output_item.added, content_part.added, output_text.delta...,
 * output_text.done, content_part.done, output_item.done, completed | incomplete).
 */
import { invalidRequest } from '../../../errors.js';
import { eventFrame } from '../../frames.js';
import type { MockCall, ProviderReply } from '../../types.js';
import { countChatTokens, countTextTokens } from '../tokens.js';
import { answerFor, type Completion, cutAnswer, type OutputFormat, type ToolSpec } from './generate.js';
import { rngFrom, uniqueId } from './prng.js';
import { epochSeconds, jsonReply, type MockContext, sseReply } from './reply.js';
import {
  type Body,
  checkSampling,
  isRecord,
  missing,
  optionalBool,
  optionalInt,
  optionalObject,
  optionalString,
  requireBody,
  requireModel,
  wrongType,
} from './validate.js';

const MESSAGE_ROLES = new Set(['user', 'assistant', 'system', 'developer']);
// OpenAI's floor for max_output_tokens on the Responses API.
const MIN_OUTPUT_TOKENS = 16;

function checkInput(body: Body): unknown[] {
  const input = body.input;
  if (input === undefined || input === null) throw missing('input');
  if (typeof input === 'string') return [{ role: 'user', content: input }];
  if (!Array.isArray(input)) throw wrongType('input', 'a string or array', input);
  input.forEach((item: unknown, i) => {
    const at = `input[${i}]`;
    if (!isRecord(item)) throw wrongType(at, 'an object', item);
    // Items other than messages (function_call_output, reasoning, item_reference...) pass as they are.
    if (item.type !== undefined && item.type !== 'message') return;
    if (typeof item.role !== 'string' || !MESSAGE_ROLES.has(item.role)) {
      throw invalidRequest(
        `Invalid value: '${String(item.role)}'. Supported values are: 'assistant', 'system', 'developer', and 'user'.`,
        `${at}.role`,
      );
    }
    const content = item.content;
    if (content === undefined || content === null) throw missing(`${at}.content`);
    if (typeof content !== 'string' && !Array.isArray(content)) {
      throw wrongType(`${at}.content`, 'a string or array', content);
    }
  });
  return input;
}

function checkFormat(body: Body, promptText: () => string): OutputFormat {
  const text = optionalObject(body, 'text');
  const format = text === undefined ? undefined : optionalObject(text, 'format');
  if (format === undefined || format.type === 'text') return { kind: 'text' };
  if (format.type === 'json_object') {
    if (!/json/i.test(promptText())) {
      throw invalidRequest(
        "Response input messages must contain the word 'json' in some form to use 'text.format' of type 'json_object'.",
        'input',
      );
    }
    return { kind: 'json_object' };
  }
  if (format.type === 'json_schema') {
    if (typeof format.name !== 'string' || format.name === '') throw missing('text.format.name');
    if (!isRecord(format.schema)) throw missing('text.format.schema');
    return { kind: 'json_schema', schema: format.schema };
  }
  throw invalidRequest(
    `Invalid value: '${String(format.type)}'. Supported values are: 'text', 'json_object', and 'json_schema'.`,
    'text.format.type',
  );
}

function checkTools(body: Body): { tools: ToolSpec[]; forced: string | undefined } {
  const raw = body.tools;
  const tools: ToolSpec[] = [];
  if (raw !== undefined && raw !== null) {
    if (!Array.isArray(raw)) throw wrongType('tools', 'an array', raw);
    raw.forEach((tool: unknown, i) => {
      if (!isRecord(tool)) throw wrongType(`tools[${i}]`, 'an object', tool);
      if (tool.type !== 'function') return; // built-in tools (web_search, file_search...): accepted, never called
      if (typeof tool.name !== 'string' || tool.name === '') throw missing(`tools[${i}].name`);
      tools.push({ name: tool.name, parameters: tool.parameters });
    });
  }
  const choice = body.tool_choice;
  if (choice === undefined || choice === null || choice === 'auto' || choice === 'none') {
    return { tools, forced: undefined };
  }
  if (choice === 'required') {
    if (tools.length === 0) {
      throw invalidRequest("Tool choice 'required' must be specified with 'tools' parameter.", 'tool_choice');
    }
    return { tools, forced: '' };
  }
  if (isRecord(choice) && choice.type === 'function' && typeof choice.name === 'string') {
    const name = choice.name;
    if (!tools.some((t) => t.name === name)) {
      throw invalidRequest(`Tool choice '${name}' not found in 'tools' parameter.`, 'tool_choice');
    }
    return { tools, forced: name };
  }
  // Hosted-tool choices ({type: 'web_search_preview'}...) are accepted and answered with text.
  return { tools, forced: undefined };
}

/** A request to POST /v1/responses, checked in the order OpenAI reports its errors. */
interface ResponsesRequest {
  body: Body;
  model: string;
  items: unknown[];
  instructions: string | undefined;
  maxOutputTokens: number | undefined;
  stream: boolean;
  format: OutputFormat;
  toolPlan: { tools: ToolSpec[]; forced: string | undefined };
}

function readRequest(call: MockCall): ResponsesRequest {
  const body = requireBody(call.json);
  const model = requireModel(body);
  const items = checkInput(body);
  const instructions = optionalString(body, 'instructions');
  const maxOutputTokens = optionalInt(body, 'max_output_tokens', MIN_OUTPUT_TOKENS);
  checkSampling(body);
  const stream = optionalBool(body, 'stream') ?? false;
  const format = checkFormat(body, () => JSON.stringify([instructions ?? '', body.input]));
  const toolPlan = checkTools(body);
  return { body, model, items, instructions, maxOutputTokens, stream, format, toolPlan };
}

/** The answer to a request, the same whether it is sent whole or streamed. */
interface ResponsesAnswer {
  completion: Completion;
  usage: ReturnType<typeof usageOf>;
  id: string;
  /** The output item's id: `fc_` for a tool call, `msg_` for a message. */
  itemId: string;
  callId: string;
  createdAt: number;
  finalStatus: 'completed' | 'incomplete';
}

function answerRequest(req: ResponsesRequest, ctx: MockContext): ResponsesAnswer {
  const { body, model, instructions, maxOutputTokens, format, toolPlan } = req;
  const input = JSON.stringify([
    instructions ?? null,
    body.input,
    isRecord(body.text) ? (body.text.format ?? null) : null,
    body.tools ?? null,
    body.tool_choice ?? null,
  ]);
  // Names (seed, model, input) for the memos: a prompt sent again is not generated or hashed again.
  const asked = `${ctx.seed}\0${model}\0${input}`;
  const whole = answerFor(`responses\0${asked}`, model, () => rngFrom(ctx.seed, 'responses', model, input), {
    format,
    tools: toolPlan.tools,
    forced: toolPlan.forced,
  });
  const completion: Completion = cutAnswer(model, whole, maxOutputTokens);
  const usage = usageOf(req, completion);

  // Ids are unique per call, as OpenAI's; the content is what the seed makes reproducible.
  const id = uniqueId('resp_', 50, 'hex');
  const itemId = completion.tool ? uniqueId('fc_', 50, 'hex') : uniqueId('msg_', 50, 'hex');
  const callId = uniqueId('call_', 24);
  const createdAt = epochSeconds(ctx);
  const finalStatus = completion.truncated ? 'incomplete' : 'completed';
  return { completion, usage, id, itemId, callId, createdAt, finalStatus };
}

function usageOf(req: ResponsesRequest, completion: Completion) {
  const { body, model, items, instructions, format, toolPlan } = req;
  const prompt = instructions === undefined ? items : [{ role: 'developer', content: instructions }, ...items];
  let inputTokens = countChatTokens(model, prompt);
  if (toolPlan.tools.length > 0) inputTokens += countTextTokens(model, JSON.stringify(body.tools));
  if (format.kind === 'json_schema') inputTokens += countTextTokens(model, JSON.stringify(format.schema));
  return {
    input_tokens: inputTokens,
    input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
    output_tokens: completion.tokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: inputTokens + completion.tokens,
  };
}

type Stage = 'in_progress' | 'final';

/** The output item: a function call or an assistant message, in progress (empty) or final. */
function outputItem(answer: ResponsesAnswer, state: Stage, text: string) {
  const { completion, itemId } = answer;
  const status = state === 'in_progress' ? 'in_progress' : answer.finalStatus;
  if (completion.tool) {
    return {
      id: itemId,
      type: 'function_call',
      status,
      arguments: text,
      call_id: answer.callId,
      name: completion.tool.name,
    };
  }
  const content = state === 'in_progress' ? [] : [outputText(text)];
  return { id: itemId, type: 'message', status, content, role: 'assistant' };
}

/** The Response object, as the JSON reply and the stream's created/in_progress/completed events carry it. */
function responseObject(req: ResponsesRequest, answer: ResponsesAnswer, ctx: MockContext, state: Stage) {
  const { body, model, instructions, maxOutputTokens } = req;
  const { completion, finalStatus } = answer;
  const final = state === 'final';
  return {
    id: answer.id,
    object: 'response',
    created_at: answer.createdAt,
    status: final ? finalStatus : 'in_progress',
    background: false,
    completed_at: final && !completion.truncated ? epochSeconds(ctx) : null,
    error: null,
    incomplete_details: final && completion.truncated ? { reason: 'max_output_tokens' } : null,
    instructions: instructions ?? null,
    max_output_tokens: maxOutputTokens ?? null,
    max_tool_calls: null,
    model,
    output: final ? [outputItem(answer, 'final', completion.text)] : [],
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: body.previous_response_id ?? null,
    // Identifiers the request set come back as they were sent, as OpenAI echoes them.
    prompt_cache_key: echoString(body.prompt_cache_key),
    reasoning: { effort: null, summary: null },
    safety_identifier: echoString(body.safety_identifier),
    service_tier: 'default',
    store: body.store ?? true,
    temperature: body.temperature ?? 1,
    text: {
      format: isRecord(body.text) && isRecord(body.text.format) ? body.text.format : { type: 'text' },
      verbosity: 'medium',
    },
    tool_choice: body.tool_choice ?? 'auto',
    tools: body.tools ?? [],
    top_logprobs: 0,
    top_p: body.top_p ?? 1,
    truncation: 'disabled',
    usage: final ? answer.usage : null,
    user: echoString(body.user),
    metadata: body.metadata ?? {},
  };
}

/** The SSE event sequence, built lazily: each event when it is sent. */
function* responseFrames(req: ResponsesRequest, answer: ResponsesAnswer, ctx: MockContext): Generator<string> {
  const { completion } = answer;
  const response = (state: Stage) => responseObject(req, answer, ctx, state);
  let sequence = 0;
  const event = (type: string, fields: object) => eventFrame({ type, ...fields, sequence_number: sequence++ });
  yield event('response.created', { response: response('in_progress') });
  yield event('response.in_progress', { response: response('in_progress') });
  yield event('response.output_item.added', { output_index: 0, item: outputItem(answer, 'in_progress', '') });
  const at = { item_id: answer.itemId, output_index: 0 };
  // Delta events differ only in their delta and sequence number: the rest is serialised once.
  const deltas = (type: string, fields: object, after: string) => {
    const open = `event: ${type}\ndata: ${JSON.stringify({ type, ...fields }).slice(0, -1)},"delta":`;
    const close = `${after},"sequence_number":`;
    return (delta: string) => `${open}${JSON.stringify(delta)}${close}${sequence++}}\n\n`;
  };
  if (completion.tool) {
    const delta = deltas('response.function_call_arguments.delta', at, '');
    for (const piece of completion.pieces) yield delta(piece);
    yield event('response.function_call_arguments.done', {
      ...at,
      name: completion.tool.name,
      arguments: completion.text,
    });
  } else {
    const part = { ...at, content_index: 0 };
    yield event('response.content_part.added', { ...part, part: outputText('') });
    const delta = deltas('response.output_text.delta', part, ',"logprobs":[]');
    for (const piece of completion.pieces) yield delta(piece);
    yield event('response.output_text.done', { ...part, text: completion.text, logprobs: [] });
    yield event('response.content_part.done', { ...part, part: outputText(completion.text) });
  }
  yield event('response.output_item.done', { output_index: 0, item: outputItem(answer, 'final', completion.text) });
  yield event(completion.truncated ? 'response.incomplete' : 'response.completed', { response: response('final') });
}

export function responses(call: MockCall, ctx: MockContext): ProviderReply {
  const req = readRequest(call);
  const answer = answerRequest(req, ctx);
  if (!req.stream) return jsonReply(200, responseObject(req, answer, ctx, 'final'), ctx.startedAt, ctx.now);
  return sseReply(responseFrames(req, answer, ctx), ctx.streamChunkDelayMs, ctx.signal, ctx.startedAt, ctx.now);
}

const echoString = (value: unknown): string | null => (typeof value === 'string' ? value : null);

function outputText(text: string) {
  return { type: 'output_text', annotations: [], logprobs: [], text };
}
