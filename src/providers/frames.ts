/**
 * What the mocks share to write a stream: the `event:`/`data:` frame, and frames sent one at a time,
 * paced and abortable.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** `event: <type>\ndata: {...}\n\n`, as the Responses API and Anthropic's Messages API frame events. */
export function eventFrame(payload: { type: string; [field: string]: unknown }): string {
  return `event: ${payload.type}\ndata: ${JSON.stringify(payload)}\n\n`;
}

/** Wait `ms`; false when the signal fired first (the caller then stops quietly). */
export async function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  if (ms <= 0) return true;
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

/**
 * Frames one at a time, `delayMs` apart. Frames are built lazily by the generator, so each
 * is produced when it is sent, and a worker that hangs up stops the work, not just the sending.
 */
export async function* paced(frames: Iterable<string>, delayMs: number, signal: AbortSignal): AsyncGenerator<string> {
  let first = true;
  for (const frame of frames) {
    // Without a delay there is nothing to wait for: no timer, no extra await per frame.
    if (!first && delayMs > 0 && !(await pause(delayMs, signal))) return;
    if (signal.aborted) return;
    first = false;
    yield frame;
  }
}
