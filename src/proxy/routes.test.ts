import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { llamaparse } from '../providers/llamaparse/index.js';
import { openai } from '../providers/openai/index.js';
import { RouteTable } from './routes.js';

const PASS = { operation: 'passthrough', method: '*', pattern: '/*', body: 'stream', metered: false } as const;

/** The table the server builds, with each handler standing for its route's operation and template. */
function table(): RouteTable<string> {
  const t = new RouteTable<string>();
  for (const a of [openai, llamaparse]) t.addAdapter(a, (route, path) => `${route.operation} ${path}`, PASS);
  return t;
}

describe('RouteTable', () => {
  const t = table();

  it('matches static routes by method and exact path', () => {
    assert.equal(t.match('POST', '/openai/v1/chat/completions')?.handler, 'chat /openai/v1/chat/completions');
    assert.equal(t.match('POST', '/openai/v1/embeddings')?.handler, 'embeddings /openai/v1/embeddings');
    assert.equal(t.match('GET', '/openai/v1/models')?.handler, 'models /openai/v1/models');
  });

  it('sends another method or a trailing slash to the pass-through, as the router did', () => {
    assert.equal(t.match('GET', '/openai/v1/chat/completions')?.handler, 'passthrough /openai/v1/*');
    assert.equal(t.match('POST', '/openai/v1/chat/completions/')?.handler, 'passthrough /openai/v1/*');
    assert.equal(t.match('DELETE', '/openai/v1/files/file-1')?.handler, 'passthrough /openai/v1/*');
  });

  it('decodes parameters, and a malformed escape matches no parameter route', () => {
    const m = t.match('GET', '/openai/v1/models/ft%3Agpt-4o-mini');
    assert.equal(m?.handler, 'model /openai/v1/models/:model');
    assert.deepEqual(m?.params, { model: 'ft:gpt-4o-mini' });
    assert.equal(t.match('GET', '/openai/v1/models/bad%zz')?.handler, 'passthrough /openai/v1/*');
  });

  it('takes the first registered of several matching patterns (most specific first)', () => {
    const md = t.match('GET', '/llamaparse/api/v1/parsing/job/j-1/result/markdown');
    assert.equal(md?.handler.split(' ')[0], 'parse.result.markdown');
    assert.deepEqual(md?.params, { id: 'j-1' });
    const other = t.match('GET', '/llamaparse/api/v1/parsing/job/j-1/result/xlsx');
    assert.notEqual(other?.handler.split(' ')[0], 'parse.result.markdown');
    assert.equal(other?.params.id, 'j-1');
  });

  it('answers nothing outside the providers’ prefixes', () => {
    assert.equal(t.match('GET', '/admin/mode'), undefined);
    assert.equal(t.match('POST', '/openai/chat/completions'), undefined);
    assert.equal(t.match('GET', '/llamaparse'), undefined);
  });
});
