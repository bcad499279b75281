import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { selectInstrumentations } from './instrumentations.js';

describe('selectInstrumentations (OTEL_NODE_ENABLED/DISABLED_INSTRUMENTATIONS)', () => {
  it('runs runtime-node alone by default', () => {
    assert.deepEqual(selectInstrumentations({}), { enabled: ['runtime-node'], refused: [], ignored: [] });
  });

  it('replaces the default with the enabled list and removes the disabled ones', () => {
    const s = selectInstrumentations({
      OTEL_NODE_ENABLED_INSTRUMENTATIONS: ' ioredis , pino,runtime-node',
      OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'runtime-node',
    });
    assert.deepEqual(s.enabled, ['ioredis', 'pino']);
  });

  it('refuses http and undici with the reason, and ignores names the sidecar has no use for', () => {
    const s = selectInstrumentations({ OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http,undici,express,runtime-node' });
    assert.deepEqual(s.enabled, ['runtime-node']);
    assert.deepEqual(
      s.refused.map((r) => r.name),
      ['http', 'undici'],
    );
    assert.ok(s.refused.every((r) => /double/.test(r.reason)));
    assert.deepEqual(s.ignored, ['express']);
  });

  it('selects nothing for `none`, or when the default is disabled', () => {
    assert.deepEqual(selectInstrumentations({ OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'none' }).enabled, []);
    assert.deepEqual(selectInstrumentations({ OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'runtime-node' }).enabled, []);
  });
});
