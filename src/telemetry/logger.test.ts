import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { context, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { SyncContextManager } from './context.js';
import { createLogger } from './logger.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
      done();
    },
  });
  return { log: createLogger({ level: 'info', destination }), lines };
}

const SPAN = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 };

describe('createLogger: trace ids on lines', () => {
  before(() => context.setGlobalContextManager(new SyncContextManager()));
  after(() => context.disable());

  it('a line written inside a span carries its trace and span ids beside its own fields', () => {
    const { log, lines } = capture();
    const fields = { job: 'doc-1' };
    context.with(trace.setSpan(ROOT_CONTEXT, trace.wrapSpanContext(SPAN)), () => log.info(fields, 'inside'));
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.['trace_id'], SPAN.traceId);
    assert.equal(lines[0]?.['span_id'], SPAN.spanId);
    assert.equal(lines[0]?.['job'], 'doc-1');
    assert.deepEqual(fields, { job: 'doc-1' }, 'the caller’s object is not changed');
  });

  it('a line that names its own trace keeps it, and a line outside any span has none', () => {
    const { log, lines } = capture();
    const own = { trace_id: 'ffffffffffffffffffffffffffffffff', span_id: 'eeeeeeeeeeeeeeee', status: 200 };
    context.with(trace.setSpan(ROOT_CONTEXT, trace.wrapSpanContext(SPAN)), () => log.info(own, 'request'));
    log.info({ status: 201 }, 'outside');
    assert.equal(lines[0]?.['trace_id'], own.trace_id);
    assert.equal(lines[0]?.['span_id'], own.span_id);
    assert.equal(lines[0]?.['status'], 200);
    assert.equal(lines[1]?.['trace_id'], undefined);
    assert.equal(lines[1]?.['status'], 201);
    assert.deepEqual(Object.keys(own), ['trace_id', 'span_id', 'status'], 'the caller’s object gains nothing');
  });
});
