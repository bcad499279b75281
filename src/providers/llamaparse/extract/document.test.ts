import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { DocumentError, extractDocument } from './index.js';

const fixture = (name: string) => readFile(new URL(`../../../../test/fixtures/${name}`, import.meta.url));

describe('extractDocument', () => {
  it('refuses empty files and unsupported types, and reports a corrupt PDF as broken', async () => {
    await assert.rejects(extractDocument(await fixture('bad-documents/empty.pdf'), 'empty.pdf'), {
      name: 'DocumentError',
      kind: 'empty',
    });
    await assert.rejects(extractDocument(await fixture('bad-documents/firmware.bin'), 'firmware.bin'), {
      kind: 'unsupported',
      message: 'Unsupported file type: .bin',
    });
    await assert.rejects(extractDocument(new Uint8Array([1, 2, 3]), 'setup.exe'), { kind: 'unsupported' });
    await assert.rejects(extractDocument(await fixture('bad-documents/corrupt.pdf'), 'corrupt.pdf'), (error) => {
      assert.ok(error instanceof DocumentError);
      assert.equal(error.kind, 'broken');
      return true;
    });
  });
});
