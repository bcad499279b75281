/**
 * Reads a multipart upload as it streams in, with a byte cap on the whole request. Only the
 * file part is kept (the mock must read the document to answer from it); other file parts are
 * drained and dropped.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import { invalidRequest, requestTooLarge, TollgateError, unsupportedMediaType } from '../../../errors.js';
import type { FormFields } from './tiers.js';

export interface UploadedFile {
  field: string;
  filename: string;
  mimeType: string;
  bytes: Uint8Array;
}

export interface MultipartForm {
  fields: FormFields;
  file: UploadedFile | undefined;
}

export interface ReadMultipartOptions {
  maxBytes: number;
  /** Part names that carry the document: `file` (v1, v2), `upload_file` (some SDK versions). */
  fileFields?: readonly string[];
  signal?: AbortSignal;
}

/** Text fields are options, not documents: a megabyte is far more than any real option needs. */
const MAX_FIELD_BYTES = 1024 * 1024;

/**
 * @throws TollgateError 413 `request_too_large` over `maxBytes`, 415 when the body is not
 *   multipart/form-data, 400 `invalid_request` when it is malformed.
 */
export function readMultipart(
  body: Readable,
  headers: IncomingHttpHeaders,
  options: ReadMultipartOptions,
): Promise<MultipartForm> {
  const refusal = refuseUnread(headers, options.maxBytes);
  if (refusal !== undefined) {
    body.resume();
    return Promise.reject(refusal);
  }
  return new Promise<MultipartForm>((resolve, reject) => parseParts(body, headers, options, resolve, reject));
}

/** What the headers alone refuse: a body that is not multipart, or one declared over the cap. */
function refuseUnread(headers: IncomingHttpHeaders, maxBytes: number): TollgateError | undefined {
  const contentType = headers['content-type'];
  if (!contentType?.toLowerCase().startsWith('multipart/form-data')) {
    return unsupportedMediaType('multipart/form-data', contentType);
  }
  const declared = Number(headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) return requestTooLarge(maxBytes);
  return undefined;
}

/** Pipes the body through the parser and settles once: the form, a refusal, or the abort. */
function parseParts(
  body: Readable,
  headers: IncomingHttpHeaders,
  { maxBytes, fileFields = ['file', 'upload_file'], signal }: ReadMultipartOptions,
  resolve: (form: MultipartForm) => void,
  reject: (reason: unknown) => void,
): void {
  const fields = new Map<string, string[]>();
  let file: UploadedFile | undefined;
  let received = 0;
  let settled = false;

  let parser: busboy.Busboy;
  try {
    parser = busboy({ headers, limits: { fileSize: maxBytes, fieldSize: MAX_FIELD_BYTES }, defParamCharset: 'utf8' });
  } catch (error) {
    body.resume();
    reject(invalidRequest(`Malformed multipart body: ${(error as Error).message}`));
    return;
  }

  function fail(error: TollgateError): void {
    if (settled) return;
    settled = true;
    cleanup();
    body.unpipe(parser);
    // Keep reading and discarding, so the client finishes sending and can read our answer.
    body.resume();
    reject(error);
  }

  function countBytes(chunk: Buffer): void {
    received += chunk.length;
    if (received > maxBytes) fail(requestTooLarge(maxBytes));
  }

  function onAbort(): void {
    if (settled) return;
    settled = true;
    cleanup();
    body.unpipe(parser);
    body.destroy();
    reject(signal?.reason ?? new Error('aborted'));
  }

  function cleanup(): void {
    body.off('data', countBytes);
    signal?.removeEventListener('abort', onAbort);
  }

  parser.on('field', function onField(name, value, info) {
    if (info.valueTruncated) fail(invalidRequest(`Form field ${name} is larger than ${MAX_FIELD_BYTES} bytes`, name));
    const values = fields.get(name) ?? [];
    values.push(value);
    fields.set(name, values);
  });

  parser.on('file', function onFile(name, stream, info) {
    // A body cut inside a file part errors this stream too; the parser's own error answers the upload.
    stream.on('error', () => {});
    if (!fileFields.includes(name) || file) {
      stream.resume();
      return;
    }
    stream.on('limit', () => fail(requestTooLarge(maxBytes)));
    keepFilePart(stream, name, info, (kept) => {
      file = kept;
    });
  });

  parser.on('error', (error: Error) => fail(invalidRequest(`Malformed multipart body: ${error.message}`)));
  parser.on('close', function onClose() {
    if (settled) return;
    settled = true;
    cleanup();
    resolve({ fields, file });
  });

  body.on('data', countBytes);
  // A size refusal from the proxy's cap keeps its 413; anything else is an interrupted upload.
  body.on('error', (error: Error) =>
    fail(error instanceof TollgateError ? error : invalidRequest(`Upload interrupted: ${error.message}`)),
  );
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  body.pipe(parser);
}

/** Collects the document's part and hands it over once it has been read to its end. */
function keepFilePart(
  stream: Readable,
  field: string,
  info: busboy.FileInfo,
  kept: (file: UploadedFile) => void,
): void {
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  stream.on('end', function onFileEnd() {
    kept({
      field,
      filename: info.filename ?? 'file',
      mimeType: info.mimeType,
      bytes: new Uint8Array(Buffer.concat(chunks)),
    });
  });
}
