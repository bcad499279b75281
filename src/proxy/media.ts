import type { OutgoingHttpHeaders } from 'node:http';

/** The first value of a header as a string (Node gives arrays for repeated headers). */
export const headerValue = (h: string | string[] | number | undefined): string | undefined =>
  Array.isArray(h) ? h[0] : h === undefined ? undefined : String(h);

export const isJsonType = (ct: string | undefined): boolean =>
  ct !== undefined && /^application\/(?:[\w.+-]+\+)?json\b/i.test(ct);

export const isSseType = (ct: string | undefined): boolean => ct !== undefined && /^text\/event-stream\b/i.test(ct);

export const contentType = (headers: OutgoingHttpHeaders): string | undefined => headerValue(headers['content-type']);

export const chunkBytes = (chunk: string | Uint8Array): number =>
  typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
