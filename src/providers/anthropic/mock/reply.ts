/**
 * Reply plumbing of the Anthropic mock: Anthropic-like headers (a `request-id` on every answer),
 * JSON bodies, its error shape, and paced, abortable SSE streams.
 */
import { randomBytes } from 'node:crypto';
import { paced } from '../../frames.js';
import type { ProviderReply } from '../../types.js';

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

/** Anthropic's ids: a prefix, `01`, then 22 base58 characters (`msg_01…`, `toolu_01…`, `req_01…`). */
export function anthropicId(prefix: string): string {
  const bytes = randomBytes(22);
  let out = `${prefix}_01`;
  for (const b of bytes) out += BASE58[b % BASE58.length];
  return out;
}

function baseHeaders(contentType: string): Record<string, string> {
  return { 'content-type': contentType, 'request-id': anthropicId('req') };
}

export function jsonReply(status: number, body: unknown): ProviderReply {
  return { status, headers: baseHeaders('application/json'), body: JSON.stringify(body) };
}

/** Anthropic's error types, as its API documents them. */
export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'api_error'
  | 'overloaded_error';

/** Anthropic's error body (the SDK's `ErrorResponse`). */
export interface MockErrorBody {
  type: 'error';
  error: { type: ErrorType; message: string };
  request_id: string | null;
}

/** `{"type":"error","error":{"type","message"},"request_id"}` with the same id in the `request-id` header. */
export function errorReply(status: number, type: ErrorType, message: string): ProviderReply {
  const headers = baseHeaders('application/json');
  const body: MockErrorBody = { type: 'error', error: { type, message }, request_id: headers['request-id'] ?? null };
  return { status, headers, body: JSON.stringify(body) };
}

export function sseReply(frames: Iterable<string>, delayMs: number, signal: AbortSignal): ProviderReply {
  const headers = baseHeaders('text/event-stream; charset=utf-8');
  headers['cache-control'] = 'no-cache';
  return { status: 200, headers, body: paced(frames, delayMs, signal) };
}
