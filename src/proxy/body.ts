import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { unlink } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { requestTooLarge } from '../errors.js';

const declaredLength = (req: IncomingMessage): number | undefined => {
  const v = req.headers['content-length'];
  return v === undefined ? undefined : Number(v);
};

/** Reads a whole (small) body, refusing it with 413 as soon as it passes `limit`. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = declaredLength(req);
  if (declared !== undefined && declared > limit) return Promise.reject(requestTooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.resume();
        reject(requestTooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    const onClose = () => {
      if (!req.readableEnded) onError(Object.assign(new Error('client closed the request'), { name: 'AbortError' }));
    };
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/** Passes a body through, failing it with 413 once more than `limit` bytes went by. */
export class ByteCap extends Transform {
  #seen = 0;
  readonly #limit: number;
  constructor(limit: number) {
    super();
    this.#limit = limit;
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
    this.#seen += chunk.length;
    if (this.#seen > this.#limit) done(requestTooLarge(this.#limit));
    else done(null, chunk);
  }
  get bytes() {
    return this.#seen;
  }
}

/** A capped view of a streamed request body (uploads are never held whole in memory). */
export function cappedBody(req: IncomingMessage, limit: number): Readable {
  const declared = declaredLength(req);
  if (declared !== undefined && declared > limit) throw requestTooLarge(limit);
  const cap = new ByteCap(limit);
  req.on('error', (e) => cap.destroy(e));
  return req.pipe(cap);
}

export interface Spooled {
  size: number;
  open(): Readable;
  cleanup(): Promise<void>;
}

/**
 * Writes a streamed body to a temporary file, so that a HYBRID call can send it upstream and
 * still hand it to the mock if the provider fails — without holding it in memory.
 */
export async function spool(req: IncomingMessage, limit: number): Promise<Spooled> {
  const path = join(tmpdir(), `tollgate-${randomUUID()}.upload`);
  const body = cappedBody(req, limit);
  const cleanup = () => unlink(path).catch(() => {});
  try {
    await pipeline(body, createWriteStream(path));
  } catch (e) {
    await cleanup();
    throw e;
  }
  return { size: (body as ByteCap).bytes, open: () => createReadStream(path), cleanup };
}
