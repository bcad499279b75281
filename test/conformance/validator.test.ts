/** The validator's handling of OpenAPI 3.0 leftovers and of the known differences, on small documents. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KNOWN_DIFFERENCES, type KnownDifference } from './support/differences.js';
import { createSpecValidator } from './support/validator.js';

const doc = () => ({
  openapi: '3.1.0',
  components: {
    schemas: {
      Status: { type: 'string', enum: ['on', 'off'], nullable: true },
      Item: {
        type: 'object',
        properties: { at: { type: 'number', format: 'unixtime' }, status: { $ref: '#/components/schemas/Status' } },
        required: ['at', 'status'],
      },
    },
  },
});

describe('the conformance validator', () => {
  it('reads nullable: true as "or null", without widening the enum', () => {
    const v = createSpecValidator('t1', doc(), []);
    assert.deepEqual(v.problems('Status', null), []);
    assert.deepEqual(v.problems('Status', 'on'), []);
    assert.notDeepEqual(v.problems('Status', 'maybe'), []);
  });

  it('knows format: unixtime (seconds, never negative) and resolves $refs inside the document', () => {
    const v = createSpecValidator('t2', doc(), []);
    assert.deepEqual(v.problems('Item', { at: 1_765_000_000, status: 'off' }), []);
    assert.match(v.problems('Item', { at: -1, status: 'off' }).join(), /unixtime/);
    assert.match(v.problems('Item', { status: 'on' }).join(), /required property 'at'/);
    assert.match(v.problems('Missing', {}).join(), /no component schema named Missing/);
  });

  it('applies a known difference to the document, and fails naming it when its target has moved', () => {
    const widenStatus: KnownDifference = {
      id: 'test.status-unknown',
      spec: 'test',
      schema: 'Item',
      reason: 'test',
      evidence: 'test',
      apply: (schemas) => {
        const item = schemas.Item as { properties: Record<string, unknown> } | undefined;
        if (item === undefined) throw new Error('known difference test.status-unknown: Item is not there any more');
        item.properties.status = { anyOf: [item.properties.status, { const: 'unknown' }] };
      },
    };
    const v = createSpecValidator('t3', doc(), [widenStatus]);
    assert.deepEqual(v.problems('Item', { at: 1, status: 'unknown' }), []);
    const moved = { openapi: '3.1.0', components: { schemas: {} } };
    assert.throws(() => createSpecValidator('t4', moved, [widenStatus]), /test\.status-unknown/);
    const openai = KNOWN_DIFFERENCES.filter((d) => d.spec === 'openai');
    assert.throws(() => createSpecValidator('t5', moved, openai), /known difference openai\./);
  });
});
