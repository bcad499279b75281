import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { detectFormat, fileExtension } from './index.js';

const fixture = (name: string) => readFile(new URL(`../../../../test/fixtures/${name}`, import.meta.url));

describe('detectFormat', () => {
  it('treats an unknown but text-like file as text, and sniffs a PDF without extension', async () => {
    assert.equal(detectFormat('notes.rst2', new TextEncoder().encode('just some text')), 'text');
    assert.equal(detectFormat('blob', await fixture('documents/sample-report.pdf')), 'pdf');
    assert.throws(() => detectFormat('blob', new Uint8Array([0, 159, 146, 150])), { kind: 'unsupported' });
    assert.equal(detectFormat('/home/me/docs/Report.PDF', new Uint8Array([1])), 'pdf');
  });

  it('reads the extension from the last path segment, lower-cased', () => {
    assert.equal(fileExtension('C:\\docs\\Q3.Report.CSV'), 'csv');
    assert.equal(fileExtension('.env'), '');
    assert.equal(fileExtension('README'), '');
  });

  it('refuses archives whatever their bytes, and takes office files as opaque', () => {
    assert.throws(() => detectFormat('notes.zip', new TextEncoder().encode('plain text')), {
      kind: 'unsupported',
      message: 'Unsupported file type: .zip',
    });
    assert.equal(detectFormat('deck.pptx', new Uint8Array([0x50, 0x4b])), 'opaque');
  });

  it('judges text by whole characters when the sample cuts a UTF-8 sequence in half', () => {
    // 1 + 2 × 5000 bytes: the 8192-byte sample ends inside an é.
    assert.equal(detectFormat('blob', new TextEncoder().encode(`a${'é'.repeat(5000)}`)), 'text');
  });
});
