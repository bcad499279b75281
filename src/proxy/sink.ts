import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { CallRecord } from './call.js';
import { chunkBytes } from './media.js';

/** Waits until the response can take more, or is gone. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

export interface StreamHooks {
  /** Rewrites or drops (returns undefined) a chunk before it goes out. */
  onChunk?: (chunk: string | Uint8Array) => string | Uint8Array | undefined;
  /** What was held back (a stream's final event): it goes out after `settle`. */
  onEnd?: () => string | undefined;
  /** Books the call: runs before the last byte, so a worker never holds an answer the ledger lacks. */
  settle: () => Promise<void>;
  /** Maps a body that failed before the first byte went out (a transport failure, not the worker's). */
  failure: (e: unknown) => unknown;
}

/**
 * Where a call's answer goes: the worker's Node response, with the sidecar's own headers added to
 * whatever status line goes out. It records the status and the first byte's time on the call.
 */
export class Sink {
  /** Rate-limit headers of the call's admission, sent with whatever answer goes out. */
  limitHeaders: Record<string, string> = {};
  constructor(
    readonly out: ServerResponse,
    readonly call: CallRecord,
    readonly started: number,
  ) {}

  /** True once nothing clean can be said any more (headers gone, or the socket). */
  get committed(): boolean {
    return this.out.headersSent || this.out.destroyed;
  }

  #ours(headers: OutgoingHttpHeaders): OutgoingHttpHeaders {
    const call = this.call;
    headers['x-correlation-id'] = call.correlationId;
    headers['x-tollgate-served-by'] = call.servedBy;
    headers['x-tollgate-mode'] = call.mode;
    if (call.fallbackReason !== undefined) headers['x-tollgate-fallback'] = call.fallbackReason;
    if (call.cache !== undefined) headers['x-tollgate-cache'] = call.cache;
    for (const k in this.limitHeaders) headers[k] = this.limitHeaders[k];
    return headers;
  }

  #head(status: number, headers: OutgoingHttpHeaders): void {
    if (this.out.headersSent) return;
    this.call.status = status;
    this.out.writeHead(status, this.#ours(headers));
  }

  /** A whole answer with its length. */
  whole(status: number, headers: OutgoingHttpHeaders, body: string | Uint8Array): void {
    this.call.status = status;
    headers['content-length'] = chunkBytes(body);
    this.out.writeHead(status, this.#ours(headers));
    this.call.firstChunkMs = performance.now() - this.started;
    this.out.end(body);
  }

  /**
   * Relays a body chunk by chunk. The status line goes out with the first chunk: until then a failing
   * upstream can still get a clean error or a fallback.
   */
  async stream(
    status: number,
    headers: OutgoingHttpHeaders,
    body: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>,
    hooks: StreamHooks,
  ): Promise<void> {
    const { out, call } = this;
    try {
      for await (const chunk of body) {
        if (out.destroyed) break;
        const piece = hooks.onChunk ? hooks.onChunk(chunk) : chunk;
        if (piece === undefined || chunkBytes(piece) === 0) continue;
        this.#head(status, headers);
        call.firstChunkMs ??= performance.now() - this.started;
        if (!out.write(piece)) await drained(out);
      }
    } catch (e) {
      if (!out.headersSent && !call.aborted) throw hooks.failure(e);
      throw e;
    }
    if (call.aborted) return;
    const tail = hooks.onEnd?.();
    call.status = status;
    await hooks.settle();
    this.#head(status, headers);
    if (tail && !out.destroyed) out.write(tail);
    out.end();
  }

  /** Cuts an answer that already started: there is no clean way to report a failure any more. */
  cut(): void {
    this.out.destroy();
  }
}
