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

/**
 * Reads a whole body with events (cheaper than async iteration), up to `limit` bytes. Past the limit
 * it stops reading and resolves `rest` (the chunks read so far; the stream is paused there), else
 * `whole`. A stream closed before its end rejects with an AbortError saying `closedEarly`.
 */
export function collect(
  body: Readable,
  limit: number,
  closedEarly: string,
): Promise<{ whole: Buffer; rest: undefined } | { whole: undefined; rest: Buffer[] }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > limit) {
        cleanup();
        body.pause();
        resolve({ whole: undefined, rest: chunks });
      }
    };
    const onEnd = () => {
      cleanup();
      resolve({ whole: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size), rest: undefined });
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    const onClose = () => {
      if (!body.readableEnded) onError(Object.assign(new Error(closedEarly), { name: 'AbortError' }));
    };
    const cleanup = () => {
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
      body.off('close', onClose);
    };
    body.on('data', onData);
    body.on('end', onEnd);
    body.on('error', onError);
    body.on('close', onClose);
  });
}

/** Reads a whole (small) body, refusing it with 413 as soon as it passes `limit`. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = declaredLength(req);
  if (declared !== undefined && declared > limit) throw requestTooLarge(limit);
  const got = await collect(req, limit, 'client closed the request');
  if (got.whole !== undefined) return got.whole;
  req.resume();
  throw requestTooLarge(limit);
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
  const open = () => {
    const stream = createReadStream(path);
    // A reader that refused the call before reading (a 400) leaves the stream unopened; once the file
    // is cleaned up its open fails. Whoever reads it sees errors through its own pipeline.
    stream.on('error', () => {});
    return stream;
  };
  return { size: (body as ByteCap).bytes, open, cleanup };
}
