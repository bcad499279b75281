import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RecordedEvent } from './format.js';

/**
 * A recorded stream played back: the same events, each after its recorded delay, or after
 * `fixedDelayMs` when that is set (CI runs fast with MOCK_STREAM_CHUNK_DELAY_MS). Stops when
 * `signal` aborts (the worker went away).
 */
export function paced(events: readonly RecordedEvent[], fixedDelayMs: number, signal: AbortSignal): Readable {
  async function* play() {
    for (const [i, e] of events.entries()) {
      const delay = fixedDelayMs > 0 ? (i === 0 ? 0 : fixedDelayMs) : e.delay_ms;
      if (delay > 0) await sleep(delay, undefined, { signal });
      yield Buffer.from(e.raw);
    }
  }
  return Readable.from(play(), { objectMode: false });
}
