/**
 * A message as the Messages API streams it: `message_start` (the message with no content yet and
 * its prompt usage), per block `content_block_start`, `content_block_delta`s and
 * `content_block_stop` (a `ping` after the first block starts), then `message_delta` with the stop
 * reason and the output usage, and `message_stop`. Frames are built lazily, one at a time.
 */

import { eventFrame } from '../../frames.js';
import type { Block, MockMessage, MockUsage, StopReason } from './messages.js';

type StartBlock =
  | { type: 'text'; text: ''; citations: null }
  | { type: 'tool_use'; id: string; name: string; input: Record<string, never>; caller: { type: 'direct' } };

/** Every event the mock streams (each assignable to the SDK's `RawMessageStreamEvent`, checked in a test). */
export type MockStreamEvent =
  | {
      type: 'message_start';
      message: Omit<MockMessage, 'stop_reason' | 'stop_sequence'> & { stop_reason: null; stop_sequence: null };
    }
  | { type: 'content_block_start'; index: number; content_block: StartBlock }
  | { type: 'content_block_delta'; index: number; delta: { type: 'text_delta'; text: string } }
  | { type: 'content_block_delta'; index: number; delta: { type: 'input_json_delta'; partial_json: string } }
  | { type: 'content_block_stop'; index: number }
  | {
      type: 'message_delta';
      delta: { stop_reason: StopReason; stop_sequence: string | null; stop_details: null; container: null };
      usage: Pick<
        MockUsage,
        'input_tokens' | 'cache_creation_input_tokens' | 'cache_read_input_tokens' | 'output_tokens' | 'server_tool_use'
      > & { output_tokens_details: null };
    }
  | { type: 'message_stop' };

/** Not an SDK stream event (the SDK skips it); Anthropic sends it to keep the connection warm. */
type Ping = { type: 'ping' };

/** Text in word-sized pieces (each with its leading space), as a model emits them. */
const pieces = (text: string): string[] => text.match(/\s*\S+/g) ?? [];

/** JSON in a few partial pieces, as `input_json_delta` carries a tool's input. */
function jsonPieces(value: unknown): string[] {
  const json = JSON.stringify(value);
  const out: string[] = [];
  for (let i = 0; i < json.length; i += 16) out.push(json.slice(i, i + 16));
  return out;
}

function startOf(block: Block): StartBlock {
  if (block.type === 'text') return { type: 'text', text: '', citations: null };
  return { type: 'tool_use', id: block.id, name: block.name, input: {}, caller: block.caller };
}

function* blockEvents(block: Block, index: number): Generator<MockStreamEvent | Ping> {
  yield { type: 'content_block_start', index, content_block: startOf(block) };
  if (index === 0) yield { type: 'ping' };
  if (block.type === 'text') {
    for (const text of pieces(block.text))
      yield { type: 'content_block_delta', index, delta: { type: 'text_delta', text } };
  } else {
    for (const partial_json of jsonPieces(block.input))
      yield { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json } };
  }
  yield { type: 'content_block_stop', index };
}

/** The events of `message`, in the order the API sends them. */
export function* streamEvents(message: MockMessage): Generator<MockStreamEvent | Ping> {
  const { usage } = message;
  yield {
    type: 'message_start',
    message: { ...message, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } },
  };
  for (const [index, block] of message.content.entries()) yield* blockEvents(block, index);
  yield {
    type: 'message_delta',
    delta: {
      stop_reason: message.stop_reason,
      stop_sequence: message.stop_sequence,
      stop_details: null,
      container: null,
    },
    usage: {
      input_tokens: usage.input_tokens,
      cache_creation_input_tokens: usage.cache_creation_input_tokens,
      cache_read_input_tokens: usage.cache_read_input_tokens,
      output_tokens: usage.output_tokens,
      server_tool_use: null,
      output_tokens_details: null,
    },
  };
  yield { type: 'message_stop' };
}

export function* streamFrames(message: MockMessage): Generator<string> {
  for (const event of streamEvents(message)) yield eventFrame(event);
}
