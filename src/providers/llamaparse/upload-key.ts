import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import type { SpooledUpload, UploadKey } from '../adapter.js';

/**
 * An upload as a recording knows it: the sha256 of each file part's bytes and the form's text fields
 * (the parse options), sorted, so the same document parsed the same way is the same recording
 * whatever the multipart boundary or the order of the fields.
 */
export async function uploadKey(upload: SpooledUpload): Promise<UploadKey | undefined> {
  const fields: [string, string][] = [];
  const files: Promise<string>[] = [];
  try {
    const parser = busboy({ headers: upload.headers, defParamCharset: 'utf8' });
    parser.on('field', (name, value) => fields.push([name, value]));
    parser.on('file', (name, stream) => {
      stream.on('error', () => {});
      const hash = createHash('sha256');
      files.push(
        new Promise((resolve, reject) => {
          stream.on('data', (c: Buffer) => hash.update(c));
          stream.on('end', () => resolve(`${name}:${hash.digest('hex')}`));
          stream.on('error', reject);
        }),
      );
    });
    await pipeline(upload.open(), parser);
    const hashes = await Promise.all(files);
    if (hashes.length === 0) return undefined;
    fields.sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : 1) : a[0] < b[0] ? -1 : 1));
    return { sha256: createHash('sha256').update(hashes.join('\n')).digest('hex'), fields };
  } catch {
    // A form that cannot be read is never recorded (nor replayed).
    return undefined;
  }
}
