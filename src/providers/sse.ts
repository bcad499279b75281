/**
 * Incremental Server-Sent Events framing: feed it chunks with arbitrary boundaries, get back
 * whole events (the raw text including its terminating blank line, plus the joined `data`).
 */
import { isObject } from '../json.js';

export interface SseEvent {
  /** The event exactly as received, terminator included, so it can be relayed byte for byte. */
  raw: string;
  event: string | undefined;
  data: string;
}

/** An event's data as a JSON object; undefined when it is empty, OpenAI's `[DONE]`, not JSON or not an object. */
export function sseJson(event: SseEvent): Record<string, unknown> | undefined {
  if (event.data === '' || event.data === '[DONE]') return undefined;
  try {
    const data: unknown = JSON.parse(event.data);
    return isObject(data) ? data : undefined;
  } catch {
    return undefined;
  }
}

const BOUNDARY = /\r\n\r\n|\n\n|\r\r/;

export class SseParser {
  #buffer = '';
  readonly #decoder = new TextDecoder();

  /** Returns the events completed by this chunk; a partial event waits for the next one. */
  push(chunk: Uint8Array | string): SseEvent[] {
    this.#buffer += typeof chunk === 'string' ? chunk : this.#decoder.decode(chunk, { stream: true });
    const events: SseEvent[] = [];
    for (;;) {
      const m = BOUNDARY.exec(this.#buffer);
      if (m === null) break;
      const end = m.index + m[0].length;
      events.push(parseEvent(this.#buffer.slice(0, end)));
      this.#buffer = this.#buffer.slice(end);
    }
    return events;
  }

  /** What is left when the stream ends (an unterminated last event), if anything. */
  flush(): SseEvent | undefined {
    this.#buffer += this.#decoder.decode();
    const rest = this.#buffer;
    this.#buffer = '';
    return rest.trim() === '' ? undefined : parseEvent(rest);
  }
}

function parseEvent(raw: string): SseEvent {
  let event: string | undefined;
  const data: string[] = [];
  for (const line of raw.split(/\r\n|\n|\r/)) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') event = value;
  }
  return { raw, event, data: data.join('\n') };
}
