import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { capture } from './capture.js';
import { bodyBytes, bodyOf, clientHeaders, deserialize, type RecordedBody, serialize } from './format.js';
import { repeatable, requestKey } from './key.js';
import { CassetteStore } from './store.js';

const key = (
  json: Record<string, unknown> | undefined,
  search = '',
  volatile = ['user', 'metadata', 'stream_options'],
) => requestKey({ provider: 'openai', method: 'post', path: '/chat/completions', search, json, volatile });

describe('requestKey', () => {
  it('is the same whatever the key order, the volatile fields or the query order', () => {
    const a = key({ model: 'm', messages: [{ role: 'user', content: 'x' }], user: 'a' }, '?b=2&a=1');
    const b = key(
      { user: 'b', metadata: { run: 1 }, messages: [{ content: 'x', role: 'user' }], model: 'm' },
      '?a=1&b=2',
    );
    assert.equal(a.hash, b.hash);
    assert.equal(a.file, b.file);
    assert.match(a.file, /^openai_chat-completions_[0-9a-f]{24}\.json$/);
    assert.equal(a.request.method, 'POST');
  });

  it('differs when anything that changes the answer differs', () => {
    const base = key({ model: 'm', input: 'x' });
    assert.notEqual(key({ model: 'm', input: 'y' }).hash, base.hash);
    assert.notEqual(key({ model: 'n', input: 'x' }).hash, base.hash);
    assert.notEqual(key({ model: 'm', input: 'x' }, '?v=1').hash, base.hash);
    assert.notEqual(
      key({ model: 'm', input: 'x', user: 'u' }, '', []).hash,
      base.hash,
      'user counts when not volatile',
    );
  });

  it('calls a sampled request without a seed not repeatable', () => {
    assert.equal(repeatable({ temperature: 0.7 }), false);
    assert.equal(repeatable({ temperature: 0.7, seed: 1 }), true);
    assert.equal(repeatable({ temperature: 0 }), true);
    assert.equal(repeatable({}), true);
  });
});

describe('the recording format', () => {
  it('gives back the exact bytes of any body, in its most readable form', () => {
    fc.assert(
      fc.property(fc.oneof(fc.json(), fc.string(), fc.uint8Array()), (v) => {
        const bytes = typeof v === 'string' ? Buffer.from(v) : Buffer.from(v);
        for (const ct of ['application/json', 'text/plain', undefined]) {
          const body = bodyOf(bytes, ct);
          const back = deserialize(
            serialize(
              { key: 'k', recordedAt: 't', request: key(undefined).request, status: 200, headers: {}, body },
              [],
            ),
          ).body;
          assert.ok(Buffer.from(bodyBytes(back)).equals(bytes));
        }
      }),
    );
    assert.deepEqual(bodyOf(Buffer.from('{\n  "a": 1\n}'), 'application/json'), { json: { a: 1 }, indent: 2 });
  });

  it('keeps no credential, cookie or sidecar header, and blanks out secrets found in the text', () => {
    const h = clientHeaders({
      'content-type': 'application/json',
      'set-cookie': 'a=b',
      authorization: 'Bearer sk-secret',
      'x-api-key': 'k',
      'openai-organization': 'org',
      'x-request-id': 'req_1',
      'x-tollgate-served-by': 'real',
      date: 'now',
    });
    assert.deepEqual(Object.keys(h), ['content-type', 'openai-organization', 'x-request-id']);
    const text = serialize(
      {
        key: 'k',
        recordedAt: 't',
        request: key({ input: 'sk-secret-0123456789' }).request,
        status: 200,
        headers: {},
        body: { text: 'echo sk-secret-0123456789' },
      },
      ['sk-secret-0123456789'],
    );
    assert.ok(!text.includes('sk-secret-0123456789'));
  });
});

describe('capture', () => {
  it('passes a stream through unchanged and hands over its whole events, whatever the chunk boundaries', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 20 }), async (cuts) => {
        const text = 'data: {"a":1}\n\ndata: {"b":2}\n\nevent: done\ndata: [DONE]\n\n';
        const chunks: string[] = [];
        let at = 0;
        for (const n of cuts) {
          if (at >= text.length) break;
          chunks.push(text.slice(at, at + n));
          at += n;
        }
        if (at < text.length) chunks.push(text.slice(at));
        let got: RecordedBody | undefined;
        const out = capture(Readable.from(chunks.map((c) => Buffer.from(c))), 'text/event-stream', (r) => {
          got = r;
        });
        let relayed = '';
        for await (const c of out) relayed += c.toString();
        assert.equal(relayed, text);
        assert.ok(got !== undefined && 'events' in got);
        assert.deepEqual(
          got.events.map((e) => e.raw),
          ['data: {"a":1}\n\n', 'data: {"b":2}\n\n', 'event: done\ndata: [DONE]\n\n'],
        );
      }),
      { numRuns: 50 },
    );
  });

  it('hands over nothing when the body fails', async () => {
    let called = false;
    const failing = new Readable({
      read() {
        this.push('data: partial');
        this.destroy(new Error('reset'));
      },
    });
    const out = capture(failing, 'text/event-stream', () => {
      called = true;
    });
    await assert.rejects(async () => {
      for await (const _ of out) {
        // drain
      }
    });
    assert.equal(called, false);
  });
});

describe('CassetteStore', () => {
  it('leaves one whole recording when many writers write the same file at once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-store-'));
    try {
      const store = new CassetteStore(dir);
      const k = key({ model: 'm' });
      const texts = Array.from({ length: 40 }, (_, i) => `answer ${i} ${'x'.repeat(20_000 + i)}`);
      await Promise.all(
        texts.map((text) =>
          store.write(
            k.file,
            { key: k.hash, recordedAt: 't', request: k.request, status: 200, headers: {}, body: { text } },
            [],
          ),
        ),
      );
      assert.deepEqual(await readdir(dir), [k.file], 'no temporary file left behind');
      const got = deserialize(await readFile(join(dir, k.file), 'utf8'));
      assert.ok('text' in got.body && texts.includes(got.body.text));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('adds follow-ups of one job one after another, none lost', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-store-'));
    try {
      const store = new CassetteStore(dir);
      const k = key({ model: 'm' });
      const r = { key: k.hash, recordedAt: 't', request: k.request, status: 200, headers: {}, body: { text: 'up' } };
      await store.write(k.file, { ...r, jobId: 'job-1' }, []);
      const answers = Array.from({ length: 10 }, (_, i) => `GET /job/job-1/result/${i}`);
      await Promise.all(
        answers.map((a) => store.addFollowUp(k.file, a, { status: 200, headers: {}, body: { text: a } }, [])),
      );
      const got = await store.read(k.file);
      assert.deepEqual(Object.keys(got?.followUps ?? {}).sort(), [...answers].sort());
      assert.equal(await new CassetteStore(dir).findJob('openai', 'job-1'), k.file);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
