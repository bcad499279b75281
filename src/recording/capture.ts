import { pipeline, type Readable, Transform } from 'node:stream';
import { bodyOf, type RecordedBody, type RecordedEvent } from './format.js';

/** Splits a stream's text into whole SSE events, each stamped with the delay since the previous one. */
class EventClock {
  readonly events: RecordedEvent[] = [];
  #pending = '';
  #last: number;
  constructor(readonly now: () => number) {
    this.#last = now();
  }

  push(text: string): void {
    this.#pending += text;
    const at = this.now();
    let end = boundary(this.#pending);
    while (end !== -1) {
      this.events.push({ delay_ms: Math.round(at - this.#last), raw: this.#pending.slice(0, end) });
      this.#last = at;
      this.#pending = this.#pending.slice(end);
      end = boundary(this.#pending);
    }
  }

  finish(): RecordedEvent[] {
    if (this.#pending !== '') this.events.push({ delay_ms: Math.round(this.now() - this.#last), raw: this.#pending });
    this.#pending = '';
    return this.events;
  }
}

/** The end (exclusive) of the first whole event in `s` (blank line included), or -1. */
function boundary(s: string): number {
  const m = /\r?\n\r?\n/.exec(s);
  return m === null ? -1 : m.index + m[0].length;
}

/**
 * Copies a body as it streams by, unchanged and unbuffered, and hands over what passed once it ended
 * whole: a stream's events with their pacing, else the whole body. A body that fails or is cut short
 * hands nothing over (a partial answer is never kept). `readable: false` keeps JSON as text (the cache:
 * nobody reads it, and a hit then costs no parse and re-serialization).
 */
export function capture(
  body: Readable,
  contentType: string | undefined,
  onWhole: (recorded: RecordedBody) => Promise<void> | void,
  { readable = true, now = () => performance.now() }: { readable?: boolean; now?: () => number } = {},
): Readable {
  const sse = contentType !== undefined && /^text\/event-stream\b/i.test(contentType);
  const clock = sse ? new EventClock(now) : undefined;
  const decoder = new TextDecoder();
  const parts: Buffer[] = [];
  const tap = new Transform({
    transform(chunk: Buffer | string, _enc, done) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (clock) clock.push(decoder.decode(bytes, { stream: true }));
      else parts.push(bytes);
      done(null, chunk);
    },
    flush(done) {
      let kept: Promise<void> | undefined;
      try {
        clock?.push(decoder.decode());
        const recorded: RecordedBody = clock
          ? { events: clock.finish() }
          : bodyOf(Buffer.concat(parts), readable ? contentType : undefined);
        kept = Promise.resolve(onWhole(recorded));
      } catch {
        // Keeping a copy must never fail the answer itself.
      }
      // The body ends once the copy is kept, so whoever got the whole answer finds it stored.
      Promise.resolve(kept).then(
        () => done(),
        () => done(),
      );
    },
  });
  // pipeline() destroys both sides on an error or an early close, so failures reach whoever reads `tap`.
  pipeline(body, tap, () => {});
  return tap;
}
