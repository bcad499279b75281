/**
 * Reply plumbing shared by the OpenAI mock's operations: OpenAI-like headers, JSON bodies,
 * paced and abortable SSE streams.
 */
import { randomFillSync } from 'node:crypto';
import { paced } from '../../frames.js';
import type { ProviderReply } from '../../types.js';

// Random bytes are drawn 4 KiB at a time and handed out 16 per id: one system call per 256 ids.
const ID_BYTES = 16;
const entropy = Buffer.alloc(ID_BYTES * 256);
let entropyAt = entropy.length;

/** OpenAI's request ids are random per call (`req_` + 32 hex), not part of the answer. */
function requestId(): string {
  if (entropyAt === entropy.length) {
    randomFillSync(entropy);
    entropyAt = 0;
  }
  const id = `req_${entropy.toString('hex', entropyAt, entropyAt + ID_BYTES)}`;
  entropyAt += ID_BYTES;
  return id;
}

function baseHeaders(contentType: string, startedAt: number, now: () => number): Record<string, string> {
  return {
    'content-type': contentType,
    'x-request-id': requestId(),
    'openai-processing-ms': String(Math.max(0, Math.round(now() - startedAt))),
    'openai-version': '2020-10-01',
  };
}

export function jsonReply(status: number, body: unknown, startedAt: number, now: () => number): ProviderReply {
  return rawJsonReply(status, JSON.stringify(body), startedAt, now);
}

/** A reply whose JSON text the caller already built (parts of it cached). */
export function rawJsonReply(status: number, json: string, startedAt: number, now: () => number): ProviderReply {
  return { status, headers: baseHeaders('application/json', startedAt, now), body: json };
}

/** OpenAI's error body, for errors that are answers (5xx faults, model_not_found) rather than TollgateErrors. */
export function openaiErrorBody(message: string, type: string, param: string | null, code: string | null) {
  return { error: { message, type, param, code } };
}

/** `data: {...}\n\n`, as chat completion streams frame every chunk. */
export function dataFrame(payload: unknown): string {
  return `data: ${JSON.stringify(payload)}\n\n`;
}

export const DONE_FRAME = 'data: [DONE]\n\n';

export function sseReply(
  frames: Iterable<string>,
  delayMs: number,
  signal: AbortSignal,
  startedAt: number,
  now: () => number,
): ProviderReply {
  const headers = baseHeaders('text/event-stream; charset=utf-8', startedAt, now);
  headers['cache-control'] = 'no-cache';
  return { status: 200, headers, body: paced(frames, delayMs, signal) };
}

/** What each operation needs besides the call: settings read once per call, the clock. */
export interface MockContext {
  seed: number;
  streamChunkDelayMs: number;
  startedAt: number;
  now: () => number;
  signal: AbortSignal;
}

/** Seconds since the epoch, as OpenAI's `created` fields are. */
export function epochSeconds(ctx: MockContext): number {
  return Math.floor(ctx.now() / 1000);
}
