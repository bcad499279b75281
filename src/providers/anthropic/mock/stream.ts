/**
 * A message as the Messages API streams it: `message_start` (the message with no content yet and
 * its prompt usage), per block `content_block_start`, `content_block_delta`s and
 * `content_block_stop` (a `ping` after the first block starts), then `message_delta` with the stop
 * reason and the output usage, and `message_stop`. Frames are built lazily, one at a time.
 */
import type { Block, MockMessage } from './messages.js';
import { eventFrame } from './reply.js';

/** Text in word-sized pieces (each with its leading space), as a model emits them. */
const pieces = (text: string): string[] => text.match(/\s*\S+/g) ?? [];

/** JSON in a few partial pieces, as `input_json_delta` carries a tool's input. */
function jsonPieces(value: unknown): string[] {
  const json = JSON.stringify(value);
  const out: string[] = [];
  for (let i = 0; i < json.length; i += 16) out.push(json.slice(i, i + 16));
  return out;
}

function startOf(block: Block): Record<string, unknown> {
  if (block.type === 'text') return { type: 'text', text: '', citations: null };
  return { type: 'tool_use', id: block.id, name: block.name, input: {}, caller: block.caller };
}

function* blockFrames(block: Block, index: number): Generator<string> {
  yield eventFrame({ type: 'content_block_start', index, content_block: startOf(block) });
  if (index === 0) yield eventFrame({ type: 'ping' });
  if (block.type === 'text') {
    for (const text of pieces(block.text))
      yield eventFrame({ type: 'content_block_delta', index, delta: { type: 'text_delta', text } });
  } else {
    for (const partial_json of jsonPieces(block.input))
      yield eventFrame({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json } });
  }
  yield eventFrame({ type: 'content_block_stop', index });
}

export function* streamFrames(message: MockMessage): Generator<string> {
  const { usage } = message;
  yield eventFrame({
    type: 'message_start',
    message: {
      ...message,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { ...usage, output_tokens: 1 },
    },
  });
  for (const [index, block] of message.content.entries()) yield* blockFrames(block, index);
  yield eventFrame({
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
  });
  yield eventFrame({ type: 'message_stop' });
}
