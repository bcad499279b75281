/**
 * The house keeps its shape: imports run one way through each folder's index.ts (the layers are in
 * scripts/structure.ts and docs/architecture.md), no file or function outgrows a sitting, and the
 * provider registry and the provider catalog name the same providers.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { structure } from '../scripts/structure.js';
import { CATALOG } from '../src/config/index.js';
import { providers } from '../src/providers/index.js';

const MAX_FILE_LINES = 400;
const MAX_FUNCTION_LINES = 120;

describe('the structure of src/', () => {
  const report = structure();

  it('has no import that runs against the layers or goes around a folder index', () => {
    assert.deepEqual(
      report.violations.map((v) => `${v.from} -> ${v.to}: ${v.why}`),
      [],
    );
  });

  it(`has no source file over ${MAX_FILE_LINES} lines`, () => {
    assert.deepEqual(
      report.files.filter((f) => f.lines > MAX_FILE_LINES).map((f) => `${f.name} (${f.lines})`),
      [],
    );
  });

  it(`has no function over ${MAX_FUNCTION_LINES} lines`, () => {
    assert.deepEqual(
      report.functions.filter((f) => f.lines > MAX_FUNCTION_LINES).map((f) => `${f.name} (${f.lines})`),
      [],
    );
  });

  it('reports an import from a lower layer to a higher one', () => {
    // The check itself can fail: a module of state/ importing the proxy is against the layers.
    const found = structure({ extra: [{ from: 'src/state/memory.ts', to: 'src/proxy/index.ts' }] });
    assert.ok(found.violations.some((v) => v.from === 'src/state/memory.ts' && /layer/.test(v.why)));
  });
});

describe('the provider registry', () => {
  it('has one adapter for every provider in the catalog, in the same order', () => {
    assert.deepEqual(
      providers.map((a) => a.name),
      CATALOG.map((p) => p.name),
    );
  });
});
