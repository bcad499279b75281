/**
 * Hostile input, property-tested where it fits: arbitrary bytes as JSON bodies, arbitrary
 * multipart uploads, arbitrary chunkings of an upstream SSE stream, header floods, slow bodies,
 * a connection storm, control characters in correlation ids, and path tricks. The sidecar answers
 * each in the provider's error shape (never 5xx for the worker's fault), relays streams byte for
 * byte, and keeps serving. Extends test/bad-input.test.ts with generated cases.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Agent, createServer, request as httpRequest, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { type Standin, startStandin } from '../support/standin.js';
import { startTestTollgate, type TestTollgate, until } from '../support/tollgate.js';
import { connectionsOf, rawExchange, rawHeaders, send } from './support.js';

const KEY = 'sk-test-hostile-key-0123456789';
const LLAMA_KEY = 'llx-test-hostile-0123456789';
const VALID_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const CHAT = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] });

const assertOpenAIShape = (body: string, context: string) => {
  const parsed = JSON.parse(body) as { error?: { message?: unknown; type?: unknown; code?: unknown } };
  assert.ok(parsed.error, `OpenAI error shape expected (${context}), got ${body.slice(0, 200)}`);
  assert.equal(typeof parsed.error.message, 'string');
  assert.equal(typeof parsed.error.type, 'string');
  assert.ok('code' in parsed.error);
};

const assertLlamaShape = (body: string, context: string) => {
  const parsed = JSON.parse(body) as Record<string, unknown>;
  assert.ok(parsed['detail'] !== undefined, `LlamaCloud error shape expected (${context}), got ${body.slice(0, 200)}`);
  assert.equal(parsed['error'], undefined);
};

/** The payload of a chunked body. */
function dechunk(body: string): string {
  let out = '';
  let rest = body;
  for (;;) {
    const crlf = rest.indexOf('\r\n');
    if (crlf === -1) return out;
    const size = Number.parseInt(rest.slice(0, crlf), 16);
    if (!Number.isFinite(size) || size === 0) return out;
    out += rest.slice(crlf + 2, crlf + 2 + size);
    rest = rest.slice(crlf + 2 + size + 2);
  }
}

describe('hostile input in MOCK mode', () => {
  let tg: TestTollgate;

  before(async () => {
    tg = await startTestTollgate({ SERVICE_MODE: 'mock', MAX_BODY_BYTES: '65536', LOG_LEVEL: 'fatal' });
  });
  after(async () => {
    await tg.close();
  });

  const alive = async () => {
    const a = await send(`${tg.url}/livez`);
    assert.equal(a.status, 200, 'the process keeps serving');
  };

  for (const route of ['chat/completions', 'embeddings', 'responses']) {
    it(`answers arbitrary bytes sent to ${route} as JSON with a 4xx in the OpenAI shape`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ maxLength: 600 }), async (bytes) => {
          const a = await send(`${tg.url}/openai/v1/${route}`, { body: Buffer.from(bytes) });
          const body = a.body.toString('utf8');
          assert.ok(a.status >= 400 && a.status < 500, `status ${a.status} for ${Buffer.from(bytes).toString('hex')}`);
          assertOpenAIShape(body, route);
        }),
        { numRuns: 40 },
      );
      await alive();
    });

    it(`answers arbitrary JSON objects sent to ${route} with 2xx or a 4xx in the OpenAI shape, never 5xx`, async () => {
      const anything = fc.jsonValue({ maxDepth: 3 });
      const request = fc.record(
        {
          model: fc.oneof(fc.constantFrom('gpt-4o-mini', 'text-embedding-3-small', 'no-such-model'), anything),
          messages: fc.oneof(
            fc.array(fc.record({ role: fc.constantFrom('user', 'system', 'tool', 'x'), content: anything })),
            anything,
          ),
          input: anything,
          stream: fc.oneof(fc.boolean(), anything),
          n: fc.oneof(fc.integer({ min: -3, max: 5 }), anything),
          max_tokens: fc.oneof(fc.integer({ min: -5, max: 50 }), anything),
          dimensions: fc.oneof(fc.integer({ min: -5, max: 64 }), anything),
          encoding_format: fc.oneof(fc.constantFrom('float', 'base64'), anything),
          stream_options: anything,
        },
        { requiredKeys: [] },
      );
      await fc.assert(
        fc.asyncProperty(request, async (json) => {
          const a = await send(`${tg.url}/openai/v1/${route}`, { body: JSON.stringify(json) });
          const body = a.body.toString('utf8');
          assert.ok(
            a.status < 500,
            `status ${a.status} for ${JSON.stringify(json).slice(0, 300)}: ${body.slice(0, 200)}`,
          );
          assert.equal(a.hung, false);
          if (a.status >= 400) assertOpenAIShape(body, route);
        }),
        { numRuns: 40 },
      );
      await alive();
    });
  }

  for (const path of ['/llamaparse/api/v1/parsing/upload', '/llamaparse/api/v2/parse/upload']) {
    it(`answers arbitrary multipart bodies to ${path} with 2xx or a 4xx in the LlamaCloud shape`, async () => {
      const boundary = 'fcBoundary7MA4YWxk';
      const part = fc.record({
        name: fc.constantFrom('file', 'upload_file', 'parsing_instruction', 'tier', 'x', ''),
        filename: fc.option(fc.constantFrom('a.md', 'b.pdf', 'c.txt', 'd.csv', 'e.html', 'weird".md', 'ü.bin', '')),
        type: fc.constantFrom('text/plain', 'text/markdown', 'application/pdf', 'application/octet-stream', ''),
        content: fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc.string({ maxLength: 300 }).map((s) => Buffer.from(s)),
        ),
      });
      const wellFormed = fc.array(part, { maxLength: 4 }).map((parts) => {
        const chunks: Buffer[] = [];
        for (const p of parts) {
          let head = `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"`;
          if (p.filename !== null) head += `; filename="${p.filename}"`;
          head += '\r\n';
          if (p.type !== '') head += `Content-Type: ${p.type}\r\n`;
          chunks.push(Buffer.from(`${head}\r\n`), Buffer.from(p.content), Buffer.from('\r\n'));
        }
        chunks.push(Buffer.from(`--${boundary}--\r\n`));
        return Buffer.concat(chunks);
      });
      // Bodies cut short inside a file part raise an uncaught exception : covered in a child process below.
      const body = fc.oneof(
        wellFormed,
        fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b)),
      );
      const contentType = fc.constantFrom(
        `multipart/form-data; boundary=${boundary}`,
        'multipart/form-data',
        'multipart/form-data; boundary=',
        'multipart/form-data; boundary=other',
        'application/json',
        'text/plain',
      );
      await fc.assert(
        fc.asyncProperty(body, contentType, async (b, ct) => {
          const a = await send(`${tg.url}${path}`, { body: b, headers: { 'content-type': ct } });
          const text = a.body.toString('utf8');
          assert.equal(a.hung, false);
          assert.ok(a.status >= 200 && a.status < 500, `status ${a.status} (${ct}): ${text.slice(0, 200)}`);
          if (a.status >= 400) assertLlamaShape(text, path);
          else assert.equal(typeof (JSON.parse(text) as { id?: unknown }).id, 'string');
        }),
        { numRuns: 50 },
      );
      await alive();
    });
  }

  it('answers an upload cut short inside a file part with 400 and no uncaught exception', () => {
    // In a child process: an uncaught exception here would fail this whole file, not this one test.
    const child = spawnSync(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(new URL('./truncated-upload.child.ts', import.meta.url))],
      {
        encoding: 'utf8',
        timeout: 20_000,
      },
    );
    const line = child.stdout.trim().split('\n').at(-1) ?? '';
    const result = JSON.parse(line) as { statuses: number[]; uncaught: string[] };
    assert.deepEqual(result.statuses, [400, 400]);
    assert.deepEqual(result.uncaught, [], 'no uncaught exception in the sidecar');
  });

  const METHODS = ['PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'PROPFIND', 'MKCOL', 'LOCK', 'SEARCH', 'PURGE', 'GET'];

  it('answers any other method on the metered OpenAI routes with a 4xx in the OpenAI shape', async () => {
    for (const route of ['chat/completions', 'embeddings', 'responses']) {
      for (const method of METHODS) {
        const a = await send(`${tg.url}/openai/v1/${route}`, { method });
        assert.ok(a.status >= 400 && a.status < 500, `${method} ${route}: ${a.status}`);
        assertOpenAIShape(a.body.toString('utf8'), `${method} ${route}`);
        assert.match(String(a.headers['x-correlation-id']), VALID_ID);
      }
    }
    await alive();
  });

  it('answers any other method with a body on the metered OpenAI routes with a 4xx, never 5xx', async () => {
    for (const route of ['chat/completions', 'embeddings', 'responses']) {
      for (const method of METHODS.filter((m) => m !== 'GET')) {
        const a = await send(`${tg.url}/openai/v1/${route}`, { method, body: CHAT });
        assert.ok(a.status >= 400 && a.status < 500, `${method} ${route}: ${a.status}`);
      }
    }
    await alive();
  });

  it('answers those methods with a body in the OpenAI error shape with a correlation id', {}, async () => {
    for (const method of ['DELETE', 'OPTIONS', 'TRACE']) {
      const a = await send(`${tg.url}/openai/v1/chat/completions`, { method, body: CHAT });
      assert.ok(a.status >= 400 && a.status < 500, `${method}: ${a.status}`);
      assertOpenAIShape(a.body.toString('utf8'), method);
      assert.match(String(a.headers['x-correlation-id']), VALID_ID);
    }
  });

  it('answers a backslash in an OpenAI path in the OpenAI error shape', async () => {
    const r = await rawExchange(tg.port, 'GET /openai/v1/a\\b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(r.status, 400);
    assertOpenAIShape(r.text.slice(r.text.indexOf('\r\n\r\n') + 4), 'backslash');
  });

  it('answers a request method that is not an HTTP token with 400 and keeps serving', async () => {
    for (const line of ['FOO{} /openai/v1/models HTTP/1.1', 'G\x01T /openai/v1/models HTTP/1.1', ' /livez HTTP/1.1']) {
      const r = await rawExchange(tg.port, `${line}\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.equal(r.status, 400, JSON.stringify(line));
    }
    await alive();
  });

  describe('header floods', () => {
    it('answers any header set over 32 KiB with 431 and keeps serving', async () => {
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 1, max: 400 }), fc.integer({ min: 1, max: 40_000 }), async (count, len) => {
          const per = Math.max(len, Math.ceil((40 * 1024) / count));
          let head = 'GET /openai/v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n';
          for (let i = 0; i < count; i++) head += `X-Flood-${i}: ${'f'.repeat(per)}\r\n`;
          const r = await rawExchange(tg.port, `${head}\r\n`);
          assert.equal(r.status, 431, `${count} headers of ${per} bytes`);
        }),
        { numRuns: 15 },
      );
      await alive();
    });

    it('serves any header set well under the limit', async () => {
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 1, max: 100 }), async (count, len) => {
          const headers: Record<string, string> = {};
          for (let i = 0; i < count; i++) headers[`x-many-${i}`] = 'm'.repeat(len);
          const a = await send(`${tg.url}/openai/v1/models`, { headers });
          assert.equal(a.status, 200, `${count} headers of ${len} bytes`);
        }),
        { numRuns: 15 },
      );
    });
  });

  describe('correlation ids from raw sockets', () => {
    it('echoes a valid id exactly and replaces anything else, never echoing a control character', async () => {
      const byte = fc.oneof(
        fc.integer({ min: 0x20, max: 0x7e }),
        fc.integer({ min: 0, max: 0x1f }).filter((b) => b !== 0x0a && b !== 0x0d),
        fc.integer({ min: 0x7f, max: 0xff }),
        fc.constantFrom(...Buffer.from('abcXYZ019._:-')),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(byte, { minLength: 1, maxLength: 160 }), async (bytes) => {
          const id = Buffer.from(bytes);
          const req = Buffer.concat([
            Buffer.from('GET /openai/v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\nx-correlation-id: '),
            id,
            Buffer.from('\r\n\r\n'),
          ]);
          const r = await rawExchange(tg.port, req);
          if (r.status === 400) return; // the HTTP parser refused the header: fine, nothing echoed
          assert.equal(r.status, 200, `id ${id.toString('hex')}`);
          const echoed = rawHeaders(r.text)['x-correlation-id'] ?? '';
          assert.match(echoed, VALID_ID);
          const given = id.toString('latin1').replace(/^[ \t]+|[ \t]+$/g, '');
          if (VALID_ID.test(given)) assert.equal(echoed, given);
          else assert.notEqual(echoed, given);
        }),
        { numRuns: 80 },
      );
      await alive();
    });
  });

  describe('slow and stalled bodies', () => {
    it('serves a body sent one byte every 100 ms without delaying other requests', async () => {
      const body = Buffer.from(CHAT);
      const tail = 15;
      const socket = connect(tg.port, '127.0.0.1');
      const received: Buffer[] = [];
      socket.on('data', (c: Buffer) => received.push(c));
      const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
      socket.on('error', () => {});
      socket.write(
        `POST /openai/v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
      );
      socket.write(body.subarray(0, body.length - tail));
      const latencies: number[] = [];
      const others = (async () => {
        for (let i = 0; i < 10; i++) {
          const a = await send(`${tg.url}/openai/v1/chat/completions`, { body: CHAT });
          assert.equal(a.status, 200);
          latencies.push(a.ms);
          await sleep(50);
        }
      })();
      for (let i = body.length - tail; i < body.length; i++) {
        await sleep(100);
        socket.write(body.subarray(i, i + 1));
      }
      await others;
      await Promise.race([closed, sleep(3000)]);
      socket.destroy();
      const text = Buffer.concat(received).toString('utf8');
      assert.match(text, /^HTTP\/1\.1 200/, 'the slow request is served once its body is whole');
      assert.ok(Math.max(...latencies) < 500, `concurrent requests took up to ${Math.max(...latencies).toFixed(0)} ms`);
    });

    it('keeps serving while a body stalls halfway, and frees the connection when the worker gives up', async () => {
      const base = await connectionsOf(tg.server);
      const socket = connect(tg.port, '127.0.0.1');
      socket.on('error', () => {});
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.write(
        'POST /openai/v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"model":',
      );
      await until(async () => (await connectionsOf(tg.server)) === base + 1, 2000);
      const a = await send(`${tg.url}/openai/v1/chat/completions`, { body: CHAT });
      assert.equal(a.status, 200);
      assert.ok(a.ms < 500, `a normal call took ${a.ms.toFixed(0)} ms beside a stalled body`);
      socket.destroy();
      await until(async () => (await connectionsOf(tg.server)) === base, 2000);
      await until(() => tg.inFlight() === 0, 2000);
    });
  });

  it('answers 200 concurrent keep-alive connections, twice over the same sockets', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 200 });
    const one = () =>
      new Promise<number>((resolve, reject) => {
        const req = httpRequest(
          `${tg.url}/openai/v1/chat/completions`,
          { method: 'POST', agent, headers: { 'content-type': 'application/json' } },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end(CHAT);
      });
    try {
      const first = await Promise.all(Array.from({ length: 200 }, one));
      assert.deepEqual(new Set(first), new Set([200]));
      const open = await connectionsOf(tg.server);
      assert.ok(open >= 150, `${open} keep-alive connections held open`);
      const second = await Promise.all(Array.from({ length: 200 }, one));
      assert.deepEqual(new Set(second), new Set([200]));
      assert.ok((await connectionsOf(tg.server)) <= open, 'the second round reused the sockets');
    } finally {
      agent.destroy();
    }
    await until(async () => (await connectionsOf(tg.server)) === 0, 3000);
    await alive();
  });
});

describe('hostile input in REAL mode', () => {
  let standin: Standin;
  let tg: TestTollgate;

  before(async () => {
    standin = await startStandin({ expectOpenAIKey: KEY, expectLlamaKey: LLAMA_KEY, quiet: true });
    tg = await startTestTollgate({
      SERVICE_MODE: 'real',
      ANTHROPIC_MODE: 'mock',
      OPENAI_API_KEY: KEY,
      LLAMA_CLOUD_API_KEY: LLAMA_KEY,
      OPENAI_UPSTREAM_URL: standin.openaiBase,
      LLAMAPARSE_UPSTREAM_URL: standin.llamaparseBase,
      LOG_LEVEL: 'fatal',
    });
  });
  after(async () => {
    await tg.close();
    await standin.close();
  });

  it('refuses any path with a dot segment, encoded dot/slash/backslash/NUL, a backslash or an empty segment, forwarding nothing', async () => {
    // The startup health probes are the only upstream traffic allowed.
    const base = standin.hits();
    const segment = fc.stringMatching(/^[A-Za-z0-9_~-]{1,8}$/);
    const trick = fc.constantFrom(
      { kind: 'segment', text: '..' },
      { kind: 'segment', text: '.' },
      { kind: 'segment', text: '' }, // an empty segment: `//`
      { kind: 'inside', text: '%2e' },
      { kind: 'inside', text: '%2E%2e' },
      { kind: 'inside', text: '%2f' },
      { kind: 'inside', text: '%2F' },
      { kind: 'inside', text: '%5c' },
      { kind: 'inside', text: '\\' },
      { kind: 'inside', text: '%00' },
    );
    const prefix = fc.constantFrom('/openai/v1', '/llamaparse/api', '/llamaparse/api/v1/parsing');
    const method = fc.constantFrom('GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'OPTIONS');
    await fc.assert(
      fc.asyncProperty(
        prefix,
        fc.array(segment, { minLength: 1, maxLength: 5 }),
        trick,
        fc.nat(),
        fc.option(fc.constantFrom('?a=1', '?x=../y', '?%2e=1')),
        method,
        async (pre, segments, t, at, query, m) => {
          // An empty segment is only a trick between two others (`//`); at the end it is a trailing slash.
          const where = at % (t.text === '' ? segments.length : segments.length + 1);
          const segs = [...segments];
          if (t.kind === 'segment') segs.splice(where, 0, t.text);
          else {
            const host = segs[where % segs.length]!;
            const cut = at % (host.length + 1);
            segs[where % segs.length] = host.slice(0, cut) + t.text + host.slice(cut);
          }
          const path = `${pre}/${segs.join('/')}${query ?? ''}`;
          const hits = standin.hits();
          const r = await rawExchange(
            tg.port,
            `${m} ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${['POST', 'PUT', 'PATCH'].includes(m) ? 'Content-Length: 0\r\n' : ''}\r\n`,
          );
          assert.equal(r.status, 400, `${m} ${path}`);
          // A backslash is refused by the HTTP adapter before the app: a bare 400.
          if (t.text !== '\\') {
            const body = r.text.slice(r.text.indexOf('\r\n\r\n') + 4);
            const json = rawHeaders(r.text)['transfer-encoding'] === 'chunked' ? dechunk(body) : body;
            if (pre.startsWith('/openai')) assertOpenAIShape(json, path);
            else assertLlamaShape(json, path);
          }
          assert.equal(standin.hits(), hits, `${path} reached the provider`);
        },
      ),
      { numRuns: 120 },
    );
    assert.equal(standin.hits(), base);
    const ok = await send(`${tg.url}/openai/v1/chat/completions`, { body: CHAT });
    assert.equal(ok.status, 200);
  });
});

describe('arbitrary chunkings of an upstream SSE stream', () => {
  /** What the tiny upstream sends next: the bytes and where to split them. */
  let script: { bytes: Buffer; cuts: number[] } = { bytes: Buffer.alloc(0), cuts: [] };
  let asked: unknown[] = [];
  let upstream: Server;
  let tg: TestTollgate;

  before(async () => {
    upstream = createServer((req, res) => {
      if (req.method === 'GET') {
        // The sidecar's health probes (GET /models, /api/v1/projects): answer them like the provider.
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"object":"list","data":[]}');
        return;
      }
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', async () => {
        asked.push(JSON.parse(Buffer.concat(parts).toString('utf8')));
        res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
        const { bytes, cuts } = script;
        let from = 0;
        for (const to of [...cuts, bytes.length]) {
          if (to <= from) continue;
          res.write(bytes.subarray(from, to));
          from = to;
          // A pause so each piece leaves as its own segment and reaches the sidecar as its own chunk.
          await sleep(2);
        }
        res.end();
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', () => resolve()));
    tg = await startTestTollgate({
      OPENAI_MODE: 'real',
      OPENAI_API_KEY: KEY,
      OPENAI_UPSTREAM_URL: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`,
      LOG_LEVEL: 'fatal',
    });
  });
  after(async () => {
    await tg.close();
    upstream.closeAllConnections();
    await new Promise((resolve) => upstream.close(resolve));
  });

  const pieces = fc.array(
    fc.oneof(
      fc.constantFrom('é', '世界', '😀', 'naïve ', 'Ω≈ç', '\u2028', '"quoted"', '\\', '\r\n', 'data: x\n\n'),
      fc.string({ unit: 'binary', maxLength: 6 }),
    ),
    { minLength: 1, maxLength: 8 },
  );
  const streamArb = fc.record({
    eol: fc.constantFrom('\n', '\r\n'),
    contents: pieces,
    comment: fc.boolean(),
    prompt: fc.integer({ min: 0, max: 5000 }),
    completion: fc.integer({ min: 0, max: 5000 }),
    cachedShare: fc.double({ min: 0, max: 1, noNaN: true }),
  });

  type StreamSpec = typeof streamArb extends fc.Arbitrary<infer T> ? T : never;

  /** Builds an OpenAI chat stream as asked with include_usage; returns its events, the usage one marked. */
  function build(s: StreamSpec) {
    const cached = Math.floor(s.prompt * s.cachedShare);
    const head = '{"id":"chatcmpl-fc","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[';
    const ev = (json: string) => `data: ${json}${s.eol}${s.eol}`;
    const events: { raw: string; usage: boolean }[] = [];
    events.push({
      raw: ev(`${head}{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}`),
      usage: false,
    });
    if (s.comment) events.push({ raw: `: keep-alive${s.eol}${s.eol}`, usage: false });
    for (const c of s.contents) {
      events.push({
        raw: ev(`${head}{"index":0,"delta":{"content":${JSON.stringify(c)}},"finish_reason":null}],"usage":null}`),
        usage: false,
      });
    }
    events.push({ raw: ev(`${head}{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}`), usage: false });
    events.push({
      raw: ev(
        `${head}],"usage":{"prompt_tokens":${s.prompt},"completion_tokens":${s.completion},"total_tokens":${s.prompt + s.completion},"prompt_tokens_details":{"cached_tokens":${cached}}}}`,
      ),
      usage: true,
    });
    events.push({ raw: `data: [DONE]${s.eol}${s.eol}`, usage: false });
    return { events, cached };
  }

  /** Split points biased to the awkward places: inside multi-byte characters and between \r and \n. */
  const withCuts = (bytes: Buffer) => {
    const awkward: number[] = [];
    for (let i = 1; i < bytes.length; i++) {
      const b = bytes[i]!;
      if ((b & 0xc0) === 0x80 || (bytes[i - 1] === 0x0d && b === 0x0a)) awkward.push(i);
    }
    return fc
      .tuple(
        awkward.length > 0
          ? fc.subarray(awkward, { maxLength: Math.min(12, awkward.length) })
          : fc.constant([] as number[]),
        fc.uniqueArray(fc.integer({ min: 1, max: Math.max(1, bytes.length - 1) }), { maxLength: 12 }),
      )
      .map(([a, b]) => [...new Set([...a, ...b])].sort((x, y) => x - y));
  };

  for (const workerAsks of [true, false]) {
    it(`relays every chunking byte for byte ${workerAsks ? 'when the worker asked for usage' : 'minus the injected usage chunk'}, and books the stream's usage`, async () => {
      let serial = 0;
      await fc.assert(
        fc.asyncProperty(
          streamArb.chain((s) => {
            const built = build(s);
            const bytes = Buffer.from(built.events.map((e) => e.raw).join(''));
            return withCuts(bytes).map((cuts) => ({ s, built, bytes, cuts }));
          }),
          async ({ s, built, bytes, cuts }) => {
            script = { bytes, cuts };
            asked = [];
            const id = `sse-${workerAsks}-${++serial}`;
            const request = {
              model: 'gpt-4o-mini',
              messages: [{ role: 'user', content: 'stream please' }],
              stream: true,
              ...(workerAsks ? { stream_options: { include_usage: true } } : {}),
            };
            const a = await send(`${tg.url}/openai/v1/chat/completions`, {
              body: JSON.stringify(request),
              headers: { 'x-correlation-id': id },
            });
            assert.equal(a.status, 200);
            assert.equal(a.complete, true);
            assert.deepEqual((asked[0] as { stream_options?: unknown }).stream_options, { include_usage: true });
            const expected = workerAsks
              ? bytes
              : Buffer.from(
                  built.events
                    .filter((e) => !e.usage)
                    .map((e) => e.raw.replace(/,\s*"usage":\s*null/g, ''))
                    .join(''),
                );
            assert.equal(a.body.toString('hex'), expected.toString('hex'), `cuts ${JSON.stringify(cuts)}`);
            await until(() => tg.calls.some((c) => c.correlationId === id), 2000);
            const call = tg.calls.find((c) => c.correlationId === id)!;
            assert.equal(call.usage?.inputTokens, s.prompt);
            assert.equal(call.usage?.outputTokens, s.completion);
            assert.equal(call.usage?.cachedInputTokens, built.cached);
            const rows = (await tg.store.rows({ from: 0, to: Date.now() + 60_000 })).filter(
              (r) => r.correlationId === id,
            );
            assert.equal(rows.length, 1);
            assert.equal(rows[0]!.inputTokens, s.prompt);
            assert.equal(rows[0]!.outputTokens, s.completion);
            assert.equal(rows[0]!.cachedInputTokens, built.cached);
          },
        ),
        { numRuns: 30 },
      );
    });
  }
});
