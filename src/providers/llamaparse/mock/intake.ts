/** Reading an upload's multipart body and extracting its document, shared by every upload route. */
import { invalidRequest } from '../../../errors.js';
import type { MockCall } from '../../types.js';
import { DocumentError, type ExtractedPage, extractDocument } from '../extract/index.js';
import type { MockContext } from './context.js';
import { type FormFields, field } from './tiers.js';
import { type MultipartForm, readMultipart, type UploadedFile } from './upload.js';

export async function readUpload(ctx: MockContext, call: MockCall): Promise<MultipartForm> {
  if (!call.body) throw invalidRequest('A multipart/form-data body is required', 'file');
  return readMultipart(call.body, call.headers, { maxBytes: ctx.maxUploadBytes, signal: call.signal });
}

/** Extracts at upload time: empty and unsupported files are refused here, broken ones fail the job. */
export async function extractUpload(file: UploadedFile): Promise<ExtractedPage[] | DocumentError> {
  try {
    return (await extractDocument(file.bytes, file.filename)).pages;
  } catch (error) {
    if (error instanceof DocumentError && error.kind === 'broken') return error;
    throw error;
  }
}

/**
 * FormData turns every newline of a text field into CRLF on the wire; the client meant `\n`,
 * and LlamaParseReader splits results on its own (`\n`) separator, so CRLF goes back to LF.
 */
export function textField(fields: FormFields, name: string): string | undefined {
  return field(fields, name)?.replace(/\r\n/g, '\n');
}

export function baseName(filename: string): string {
  return filename.split(/[\\/]/).pop() || 'file';
}
