import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { type ProviderShape, TollgateError } from '../errors.js';

const REFUSALS = {
  431: {
    code: 'request_too_large',
    message: 'Request header fields too large',
    reason: 'Request Header Fields Too Large',
  },
  408: { code: 'invalid_request', message: 'Request timed out', reason: 'Request Timeout' },
  400: { code: 'invalid_request', message: 'Malformed HTTP request', reason: 'Bad Request' },
} as const;

/**
 * Answers a request the HTTP parser refused before any route ran (bad syntax, headers too large, too
 * slow), still in the provider's error shape, chosen from the request line.
 */
export function clientErrorHandler(shapeOf: (path: string) => ProviderShape) {
  return function clientError(err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Socket): void {
    if (!socket.writable) return void socket.destroy();
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const refusal = REFUSALS[status];
    const line = err.rawPacket?.subarray(0, 256).toString('latin1') ?? '';
    const target = /^[A-Z]+ (\S+)/.exec(line)?.[1] ?? '/';
    const body = JSON.stringify(new TollgateError(status, refusal.code, refusal.message).body(shapeOf(target)));
    socket.end(
      `HTTP/1.1 ${status} ${refusal.reason}\r\nconnection: close\r\ncontent-type: application/json\r\nx-correlation-id: ${randomUUID()}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  };
}
