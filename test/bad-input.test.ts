/**
 * Hostile and broken input: bodies, sizes, correlation ids, paths, request lines, Host headers,
 * header sizes and methods. The sidecar answers each with the contract's error (section 5) in
 * the provider's shape, never steers a request anywhere but the configured upstream, and keeps
 * serving afterwards.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { type Standin, startStandin } from './support/standin.js';
import { startTestTollgate, type TestTollgate } from './support/tollgate.js';

const KEY = 'sk-test-badinput-key-0123456789';
const LLAMA_KEY = 'llx-test-badinput-0123456789';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const CHAT = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] });

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Parses one HTTP/1.1 response (content-length, chunked or read-to-close). */
function parseResponse(buf: Buffer): RawResponse {
  const text = buf.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  assert.ok(end !== -1, `no complete response head in ${JSON.stringify(text.slice(0, 200))}`);
  const [statusLine = '', ...lines] = text.slice(0, end).split('\r\n');
  const status = Number(statusLine.split(' ')[1]);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let rest = buf.subarray(end + 4);
  if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
    const parts: Buffer[] = [];
    for (;;) {
      const crlf = rest.indexOf('\r\n');
      if (crlf === -1) break;
      const size = Number.parseInt(rest.subarray(0, crlf).toString('latin1'), 16);
      if (!Number.isFinite(size) || size === 0) break;
      parts.push(rest.subarray(crlf + 2, crlf + 2 + size));
      rest = rest.subarray(crlf + 2 + size + 2);
    }
    rest = Buffer.concat(parts);
  } else if (headers['content-length'] !== undefined) {
    rest = rest.subarray(0, Number(headers['content-length']));
  }
  return { status, headers, body: rest.toString('utf8') };
}

/** Writes bytes on a raw socket and reads until the server closes it (send `connection: close`). */
function rawRequest(port: number, data: string | Buffer, timeoutMs = 5000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('raw request timed out'));
    }, timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => {
      // A reset after the answer (the server closed while we still wrote) is fine: judge what arrived.
    });
    socket.on('close', () => {
      clearTimeout(timer);
      try {
        resolve(parseResponse(Buffer.concat(chunks)));
      } catch (e) {
        reject(e);
      }
    });
    socket.write(data);
  });
}

/** A request line plus headers, with `connection: close`. */
const head = (requestLine: string, headers: Record<string, string> = {}, host: string | null = 'localhost') => {
  let out = `${requestLine}\r\n`;
  if (host !== null) out += `Host: ${host}\r\n`;
  for (const [k, v] of Object.entries(headers)) out += `${k}: ${v}\r\n`;
  return `${out}Connection: close\r\n\r\n`;
};

const rawPost = (port: number, target: string, body: string, headers: Record<string, string> = {}, host?: string) =>
  rawRequest(
    port,
    head(
      `POST ${target} HTTP/1.1`,
      { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)), ...headers },
      host,
    ) + body,
  );

/** Sends a body with chunked transfer encoding through node:http (no content-length). */
function chunkedPost(
  url: string,
  chunks: (string | Buffer)[],
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers: { ...headers, 'transfer-encoding': 'chunked' } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8') }));
      res.on('error', reject);
    });
    // The sidecar may answer 413 and close before we finished writing: that is the point.
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE' && e.code !== 'ECONNRESET') reject(e);
    });
    let i = 0;
    const writeNext = () => {
      if (req.destroyed) return;
      if (i >= chunks.length) {
        req.end();
        return;
      }
      req.write(chunks[i++]!, () => setImmediate(writeNext));
    };
    writeNext();
  });
}

const assertOpenAIError = (body: string, code: string) => {
  const parsed = JSON.parse(body) as { error?: { message?: unknown; type?: unknown; param?: unknown; code?: unknown } };
  assert.ok(parsed.error, `OpenAI error shape expected, got ${body}`);
  assert.equal(parsed.error.code, code);
  assert.equal(typeof parsed.error.message, 'string');
  assert.equal(typeof parsed.error.type, 'string');
  assert.ok('param' in parsed.error, 'param is present (null or a name)');
};

const assertLlamaError = (body: string, code: string) => {
  const parsed = JSON.parse(body) as Record<string, unknown>;
  assert.equal(parsed['code'], code);
  assert.equal(typeof parsed['detail'], 'string');
  assert.equal(parsed['error'], undefined, 'not the OpenAI shape');
};

/** A multipart upload body with one `file` part of `size` bytes. */
const multipart = (size: number) => {
  const boundary = '----tollgateboundary7MA4YWxkTrZu0gW';
  const pre = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\nContent-Type: text/plain\r\n\r\n`,
  );
  const post = Buffer.from(`\r\n--${boundary}--\r\n`);
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    body: Buffer.concat([pre, Buffer.alloc(size, 'a'), post]),
  };
};

describe('bad input in MOCK mode', () => {
  let tg: TestTollgate;
  let base: string;

  before(async () => {
    tg = await startTestTollgate({
      SERVICE_MODE: 'mock',
      MAX_BODY_BYTES: '2048',
      LLAMAPARSE_MAX_UPLOAD_BYTES: '4096',
    });
    base = tg.url;
  });
  after(async () => {
    await tg.close();
  });

  const post = (path: string, body: string, contentType = 'application/json', extra: Record<string, string> = {}) =>
    fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': contentType, ...extra }, body });

  describe('bodies', () => {
    it('answers malformed JSON with 400 invalid_json in the OpenAI shape', async () => {
      const res = await post('/openai/v1/chat/completions', '{"model": "gpt-4o-mini", "messages": [');
      assert.equal(res.status, 400);
      assert.match(res.headers.get('content-type') ?? '', /application\/json/);
      assertOpenAIError(await res.text(), 'invalid_json');
    });

    for (const [name, body] of [
      ['a JSON array', '[{"model":"gpt-4o-mini"}]'],
      ['a JSON number', '42'],
      ['JSON null', 'null'],
      ['a JSON string', '"hello"'],
    ] as const) {
      it(`answers ${name} body with 400 invalid_request`, async () => {
        const res = await post('/openai/v1/chat/completions', body);
        assert.equal(res.status, 400);
        assertOpenAIError(await res.text(), 'invalid_request');
      });
    }

    it('answers an empty body with 400 invalid_json', async () => {
      const res = await post('/openai/v1/chat/completions', '');
      assert.equal(res.status, 400);
      assertOpenAIError(await res.text(), 'invalid_json');
    });

    it('answers a text/plain body with 400 invalid_request naming content-type', async () => {
      const res = await post('/openai/v1/chat/completions', CHAT, 'text/plain');
      assert.equal(res.status, 400);
      const body = await res.text();
      assertOpenAIError(body, 'invalid_request');
      assert.equal((JSON.parse(body) as { error: { param: unknown } }).error.param, 'content-type');
    });

    it('accepts application/json with a charset and a +json subtype', async () => {
      const a = await post('/openai/v1/chat/completions', CHAT, 'application/json; charset=utf-8');
      assert.equal(a.status, 200);
      await a.arrayBuffer();
      const b = await post('/openai/v1/chat/completions', CHAT, 'application/vnd.api+json');
      assert.equal(b.status, 200);
      await b.arrayBuffer();
    });

    it('refuses a body over MAX_BODY_BYTES declared by content-length with 413 request_too_large', async () => {
      const big = JSON.stringify({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'x'.repeat(4000) }],
      });
      const res = await post('/openai/v1/chat/completions', big);
      assert.equal(res.status, 413);
      assertOpenAIError(await res.text(), 'request_too_large');
    });

    it('refuses a chunked body that grows past MAX_BODY_BYTES with 413 request_too_large', async () => {
      const chunk = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"${'y'.repeat(900)}`;
      const chunks = [chunk, 'z'.repeat(900), 'z'.repeat(900), 'z'.repeat(900), '"}]}'];
      const res = await chunkedPost(`${base}/openai/v1/chat/completions`, chunks, {
        'content-type': 'application/json',
      });
      assert.equal(res.status, 413);
      assertOpenAIError(res.body, 'request_too_large');
    });

    it('accepts a chunked body under MAX_BODY_BYTES', async () => {
      const res = await chunkedPost(`${base}/openai/v1/chat/completions`, [CHAT.slice(0, 10), CHAT.slice(10)], {
        'content-type': 'application/json',
      });
      assert.equal(res.status, 200);
      assert.equal((JSON.parse(res.body) as { object: string }).object, 'chat.completion');
    });

    it('refuses a LlamaParse upload over LLAMAPARSE_MAX_UPLOAD_BYTES with 413 in the LlamaCloud shape', async () => {
      const { contentType, body } = multipart(8000);
      const res = await fetch(`${base}/llamaparse/api/v1/parsing/upload`, {
        method: 'POST',
        headers: { 'content-type': contentType },
        body,
      });
      assert.equal(res.status, 413);
      assertLlamaError(await res.text(), 'request_too_large');
    });

    it('refuses a chunked LlamaParse upload that grows past the cap with 413 in the LlamaCloud shape', async () => {
      const { contentType, body } = multipart(8000);
      const chunks: Buffer[] = [];
      for (let i = 0; i < body.length; i += 1000) chunks.push(body.subarray(i, i + 1000));
      const res = await chunkedPost(`${base}/llamaparse/api/v1/parsing/upload`, chunks, {
        'content-type': contentType,
      });
      assert.equal(res.status, 413);
      assertLlamaError(res.body, 'request_too_large');
    });

    it('accepts a LlamaParse upload under the cap', async () => {
      const form = new FormData();
      form.append('file', new Blob(['# Title\n\nSome text.\n'], { type: 'text/markdown' }), 'small.md');
      const res = await fetch(`${base}/llamaparse/api/v1/parsing/upload`, { method: 'POST', body: form });
      assert.equal(res.status, 200);
      const job = (await res.json()) as { id?: unknown };
      assert.equal(typeof job.id, 'string');
    });
  });

  describe('correlation ids', () => {
    const chatWith = async (id: string) => {
      const res = await post('/openai/v1/chat/completions', CHAT, 'application/json', { 'x-correlation-id': id });
      await res.arrayBuffer();
      return res.headers.get('x-correlation-id');
    };

    for (const id of ['doc-42', 'a.b:c_d-e', 'x'.repeat(128), 'Z']) {
      it(`echoes the valid id ${JSON.stringify(id.length > 20 ? `${id.slice(0, 8)}… (${id.length})` : id)}`, async () => {
        assert.equal(await chatWith(id), id);
      });
    }

    for (const [name, id] of [
      ['129 characters', 'x'.repeat(129)],
      ['a space', 'doc 42'],
      ['a slash', 'doc/42'],
      ['a quote', 'doc"42'],
    ] as const) {
      it(`replaces an id with ${name} by a fresh UUID`, async () => {
        const got = await chatWith(id);
        assert.match(got ?? '', UUID);
        assert.notEqual(got, id);
      });
    }

    it('gives two requests without an id two different UUIDs', async () => {
      const a = await post('/openai/v1/chat/completions', CHAT);
      const b = await post('/openai/v1/chat/completions', CHAT);
      await a.arrayBuffer();
      await b.arrayBuffer();
      assert.match(a.headers.get('x-correlation-id') ?? '', UUID);
      assert.match(b.headers.get('x-correlation-id') ?? '', UUID);
      assert.notEqual(a.headers.get('x-correlation-id'), b.headers.get('x-correlation-id'));
    });

    it('replaces an id with a tab (raw socket) by a fresh UUID', async () => {
      const res = await rawPost(tg.port, '/openai/v1/chat/completions', CHAT, { 'X-Correlation-Id': 'doc\t42' });
      assert.equal(res.status, 200);
      assert.match(res.headers['x-correlation-id'] ?? '', UUID);
    });

    it('replaces an id with non-ASCII bytes (raw socket, UTF-8) by a fresh UUID', async () => {
      const data = Buffer.concat([
        Buffer.from(
          `POST /openai/v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(CHAT)}\r\nX-Correlation-Id: `,
        ),
        Buffer.from('dôc-42-ü', 'utf8'),
        Buffer.from(`\r\nConnection: close\r\n\r\n${CHAT}`),
      ]);
      const res = await rawRequest(tg.port, data);
      assert.equal(res.status, 200);
      assert.match(res.headers['x-correlation-id'] ?? '', UUID);
    });

    it('never echoes a control character (raw socket, \\x01 in the id)', async () => {
      const res = await rawPost(tg.port, '/openai/v1/chat/completions', CHAT, { 'X-Correlation-Id': 'doc\x0142' });
      // Node may refuse the header outright (400) or pass it: either way it is never echoed.
      assert.ok(res.status === 200 || res.status === 400, `status ${res.status}`);
      if (res.status === 200) assert.match(res.headers['x-correlation-id'] ?? '', UUID);
    });

    it('puts the correlation id on the sidecar’s own error answers too', async () => {
      const res = await post('/openai/v1/chat/completions', '{', 'application/json', { 'x-correlation-id': 'err-1' });
      assert.equal(res.status, 400);
      await res.arrayBuffer();
      assert.equal(res.headers.get('x-correlation-id'), 'err-1');
    });
  });

  describe('unknown paths and methods', () => {
    it('answers an unknown OpenAI path with 404 in the OpenAI shape', async () => {
      const res = await post('/openai/v1/nope', '{}');
      assert.equal(res.status, 404);
      assertOpenAIError(await res.text(), 'not_found');
    });

    it('answers an unknown OpenAI GET path with 404 in the OpenAI shape', async () => {
      const res = await fetch(`${base}/openai/v1/nope/deeper`);
      assert.equal(res.status, 404);
      assertOpenAIError(await res.text(), 'not_found');
    });

    it('answers an unknown LlamaParse path with 404 in the LlamaCloud shape', async () => {
      const res = await fetch(`${base}/llamaparse/api/nope`);
      assert.equal(res.status, 404);
      assertLlamaError(await res.text(), 'not_found');
    });

    it('answers a path outside both providers with 404', async () => {
      const res = await fetch(`${base}/elsewhere`);
      assert.equal(res.status, 404);
      await res.arrayBuffer();
    });

    it('answers DELETE /openai/v1/chat/completions with 404 in the OpenAI shape', async () => {
      const res = await fetch(`${base}/openai/v1/chat/completions`, { method: 'DELETE' });
      assert.equal(res.status, 404);
      assertOpenAIError(await res.text(), 'not_found');
    });

    it('answers GET /openai/v1/chat/completions with 404 in the OpenAI shape', async () => {
      const res = await fetch(`${base}/openai/v1/chat/completions`);
      assert.equal(res.status, 404);
      assertOpenAIError(await res.text(), 'not_found');
    });
  });

  describe('path tricks (raw socket)', () => {
    for (const target of [
      '/openai/v1/../../admin/mode',
      '/openai/v1/./chat/completions',
      '/openai/v1/%2e%2e/x',
      '/openai/v1/%2E%2E/%2E%2E/admin/mode',
      '/openai/v1/a%2fb',
      '/openai/v1/a%2Fb',
      '/openai/v1/a%5cb',
      '/openai/v1/a%00b',
      '//evil.com/openai/v1/models',
      '/openai/v1//models',
      '/openai/v1/models/..',
      '/llamaparse/api/../../admin/mode',
    ]) {
      it(`refuses ${target} with 400`, async () => {
        const res = await rawRequest(tg.port, head(`GET ${target} HTTP/1.1`));
        assert.equal(res.status, 400);
      });
    }

    it('refuses backslashes in the path with 400', async () => {
      const res = await rawRequest(tg.port, head('GET /openai/v1\\..\\..\\admin\\mode HTTP/1.1'));
      assert.equal(res.status, 400);
    });

    it('answers a dot-segment trick on /openai in the OpenAI error shape', async () => {
      const res = await rawRequest(tg.port, head('GET /openai/v1/../v1/models HTTP/1.1'));
      assert.equal(res.status, 400);
      assertOpenAIError(res.body, 'invalid_request');
    });

    it('serves an absolute-form request line by its path', async () => {
      const res = await rawPost(tg.port, 'http://evil.example/openai/v1/chat/completions', CHAT);
      assert.equal(res.status, 200);
      assert.equal(res.headers['x-tollgate-served-by'], 'mock');
      assert.equal((JSON.parse(res.body) as { object: string }).object, 'chat.completion');
    });

    it('refuses an absolute-form target whose path has dot segments', async () => {
      const res = await rawRequest(tg.port, head('GET http://evil.example/openai/v1/../../admin/mode HTTP/1.1'));
      // new URL() resolves the dots to /admin/mode: it must not become an admin call that succeeds.
      assert.notEqual(res.status, 200);
    });
  });

  describe('header abuse', () => {
    it('answers headers over the size limit with 431 and keeps serving', async () => {
      const res = await rawRequest(tg.port, head('GET /livez HTTP/1.1', { 'X-Big': 'a'.repeat(40 * 1024) }));
      assert.equal(res.status, 431);
      const after = await fetch(`${base}/livez`);
      assert.equal(after.status, 200);
      await after.arrayBuffer();
    });

    it('answers many headers that together pass the limit with 431', async () => {
      const headers: Record<string, string> = {};
      for (let i = 0; i < 200; i++) headers[`X-H${i}`] = 'b'.repeat(200);
      const res = await rawRequest(tg.port, head('GET /livez HTTP/1.1', headers));
      assert.equal(res.status, 431);
    });

    it('answers a request line that is not HTTP with 400', async () => {
      const res = await rawRequest(tg.port, 'HELLO THERE\r\n\r\n');
      assert.equal(res.status, 400);
    });
  });

  describe('x-tollgate-mode header', () => {
    it('is ignored when ALLOW_MODE_HEADER is not set', async () => {
      const res = await post('/openai/v1/chat/completions', CHAT, 'application/json', { 'x-tollgate-mode': 'real' });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
      assert.equal(res.headers.get('x-tollgate-mode'), 'mock');
      assert.equal(res.headers.get('x-tollgate-served-by'), 'mock');
    });

    it('is ignored, even when invalid, when ALLOW_MODE_HEADER is not set', async () => {
      const res = await post('/openai/v1/chat/completions', CHAT, 'application/json', { 'x-tollgate-mode': 'bogus' });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    });
  });

  it('still serves a normal chat call after all of the above', async () => {
    const res = await post('/openai/v1/chat/completions', CHAT);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { object: string; choices: unknown[] };
    assert.equal(body.object, 'chat.completion');
    assert.ok(body.choices.length > 0);
    const live = await fetch(`${base}/livez`);
    assert.equal(live.status, 200);
    await live.arrayBuffer();
  });
});

describe('bad input in REAL mode never reaches anywhere but the stand-in', () => {
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
      MAX_BODY_BYTES: '2048',
      LLAMAPARSE_MAX_UPLOAD_BYTES: '4096',
      UPSTREAM_TIMEOUT_MS: '2000',
    });
  });
  after(async () => {
    await tg.close();
    await standin.close();
  });
  beforeEach(() => {
    standin.reset();
    tg.circuits.openai.reset();
    tg.circuits.llamaparse.reset();
  });

  for (const target of [
    '/openai/v1/../../admin/mode',
    '/openai/v1/%2e%2e/x',
    '/openai/v1/a%2fb',
    '//evil.com/openai/v1/models',
    '/openai/v1/..%2f..%2fadmin',
    '/llamaparse/api/%2e%2e/%2e%2e/v1/models',
  ]) {
    it(`refuses ${target} with 400 and sends nothing upstream`, async () => {
      const res = await rawRequest(tg.port, head(`GET ${target} HTTP/1.1`));
      assert.equal(res.status, 400);
      assert.equal(standin.hits(), 0);
    });
  }

  it('refuses backslashes with 400 and sends nothing upstream', async () => {
    const res = await rawRequest(tg.port, head('GET /openai/v1\\..\\models HTTP/1.1'));
    assert.equal(res.status, 400);
    assert.equal(standin.hits(), 0);
  });

  it('sends malformed JSON, wrong content types and oversized bodies nowhere', async () => {
    const bad = await fetch(`${tg.url}/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"model":',
    });
    assert.equal(bad.status, 400);
    await bad.arrayBuffer();
    const plain = await fetch(`${tg.url}/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: CHAT,
    });
    assert.equal(plain.status, 400);
    await plain.arrayBuffer();
    const big = await fetch(`${tg.url}/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x'.repeat(5000) }] }),
    });
    assert.equal(big.status, 413);
    await big.arrayBuffer();
    assert.equal(standin.hits(), 0);
  });

  it('refuses an oversized LlamaParse upload (content-length) without forwarding it', async () => {
    const { contentType, body } = multipart(8000);
    const res = await fetch(`${tg.url}/llamaparse/api/v1/parsing/upload`, {
      method: 'POST',
      headers: { 'content-type': contentType },
      body,
    });
    assert.equal(res.status, 413);
    assertLlamaError(await res.text(), 'request_too_large');
    assert.equal(standin.hits(), 0);
  });

  it('refuses an oversized chunked LlamaParse upload with 413 in the LlamaCloud shape', async () => {
    const { contentType, body } = multipart(8000);
    const chunks: Buffer[] = [];
    for (let i = 0; i < body.length; i += 1000) chunks.push(body.subarray(i, i + 1000));
    const res = await chunkedPost(`${tg.url}/llamaparse/api/v1/parsing/upload`, chunks, {
      'content-type': contentType,
    });
    assert.equal(res.status, 413);
    assertLlamaError(res.body, 'request_too_large');
    // The stand-in may have seen the start of the stream; it must never have received the whole of it.
    for (const r of standin.requests) assert.ok(r.bytes <= 4096, `upstream received ${r.bytes} bytes`);
    // The worker's oversized upload is not the provider's failure.
    assert.equal(tg.circuits.llamaparse.consecutiveFailures, 0);
  });

  it('sends an absolute-form request to the configured stand-in, by its path', async () => {
    const res = await rawPost(tg.port, 'http://evil.example/openai/v1/chat/completions', CHAT);
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-tollgate-served-by'], 'real');
    assert.equal(standin.hits('/v1/chat/completions'), 1);
    assert.equal(standin.requests.length, 1);
    const seen = standin.requests[0]!;
    assert.equal(seen.url, '/v1/chat/completions');
    assert.equal(seen.headers.host, new URL(standin.url).host);
  });

  it('sends an absolute-form request with another port to the stand-in too', async () => {
    const res = await rawPost(tg.port, 'http://127.0.0.1:1/openai/v1/chat/completions?x=1', CHAT);
    assert.equal(res.status, 200);
    assert.equal(standin.hits('/v1/chat/completions'), 1);
    assert.equal(standin.requests[0]!.url, '/v1/chat/completions?x=1');
  });

  for (const [name, host] of [
    ['evil.com', 'evil.com'],
    ['evil.com with a port', 'evil.com:443'],
    ['empty', ''],
    ['very long', `${'a'.repeat(4000)}.example`],
    ['with spaces', 'evil .com x'],
    ['an IP literal', '169.254.169.254'],
  ] as const) {
    it(`ignores a hostile Host header (${name}) when forwarding`, async () => {
      const res = await rawPost(tg.port, '/openai/v1/chat/completions', CHAT, {}, host);
      if (res.status === 400) {
        // Refusing the request outright is fine too, as long as nothing went anywhere.
        assert.equal(standin.hits(), 0);
        return;
      }
      assert.equal(res.status, 200, `status ${res.status}: ${res.body.slice(0, 200)}`);
      assert.equal(res.headers['x-tollgate-served-by'], 'real');
      assert.equal(standin.hits('/v1/chat/completions'), 1);
      const seen = standin.requests.at(-1)!;
      assert.equal(seen.headers.host, new URL(standin.url).host, 'the upstream sees its own host');
      assert.equal(seen.headers['x-forwarded-host'], undefined);
    });
  }

  it('ignores a second Host header and X-Forwarded-Host when forwarding', async () => {
    const res = await rawPost(tg.port, '/openai/v1/chat/completions', CHAT, {
      'X-Forwarded-Host': 'evil.com',
      Forwarded: 'host=evil.com',
    });
    assert.equal(res.status, 200);
    const seen = standin.requests.at(-1)!;
    assert.equal(seen.headers.host, new URL(standin.url).host);
    assert.equal(seen.headers['x-forwarded-host'], undefined);
    assert.equal(seen.headers.forwarded, undefined);
  });

  it('answers oversized headers with 431, forwards nothing, and keeps serving', async () => {
    const res = await rawRequest(
      tg.port,
      head('POST /openai/v1/chat/completions HTTP/1.1', { 'X-Big': 'c'.repeat(40 * 1024) }),
    );
    assert.equal(res.status, 431);
    assert.equal(standin.hits(), 0);
    const ok = await fetch(`${tg.url}/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: CHAT,
    });
    assert.equal(ok.status, 200);
    await ok.arrayBuffer();
    assert.equal(standin.hits('/v1/chat/completions'), 1);
  });

  for (const [name, encoded] of [
    ['an encoded space', 'gpt%20x'],
    ['an encoded non-ASCII character', '%E2%82%AC'],
  ] as const) {
    it(`forwards a path with ${name} still encoded, and never counts it against the circuit`, async () => {
      const res = await fetch(`${tg.url}/openai/v1/models/${encoded}`);
      const body = await res.text();
      // The stand-in answers 404 model_not_found for an unknown model: the worker's own mistake.
      assert.equal(res.status, 404, body);
      assert.equal(standin.requests.at(-1)?.url, `/v1/models/${encoded}`);
      assert.equal(tg.circuits.openai.consecutiveFailures, 0);
    });
  }

  it('keeps the circuit closed after many malformed paths from one worker', async () => {
    for (let i = 0; i < 6; i++) await (await fetch(`${tg.url}/openai/v1/models/bad%20name${i}`)).arrayBuffer();
    assert.equal(tg.circuits.openai.state, 'closed');
    const res = await fetch(`${tg.url}/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: CHAT,
    });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
  });

  it('still serves a normal chat call from the stand-in after all of the above', async () => {
    const res = await fetch(`${tg.url}/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: CHAT,
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-tollgate-served-by'), 'real');
    const body = (await res.json()) as { object: string };
    assert.equal(body.object, 'chat.completion');
  });
});

describe('x-tollgate-mode header with ALLOW_MODE_HEADER=true', () => {
  let standin: Standin;
  let tg: TestTollgate;

  before(async () => {
    standin = await startStandin({ expectOpenAIKey: KEY, quiet: true });
    tg = await startTestTollgate({
      SERVICE_MODE: 'mock',
      ALLOW_MODE_HEADER: 'true',
      OPENAI_API_KEY: KEY,
      OPENAI_UPSTREAM_URL: standin.openaiBase,
      LLAMAPARSE_UPSTREAM_URL: standin.llamaparseBase,
    });
  });
  after(async () => {
    await tg.close();
    await standin.close();
  });
  beforeEach(() => standin.reset());

  const chatWithMode = (mode?: string) =>
    fetch(`${tg.url}/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(mode === undefined ? {} : { 'x-tollgate-mode': mode }) },
      body: CHAT,
    });

  it('serves a request in the mode the header names', async () => {
    const res = await chatWithMode('real');
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    assert.equal(res.headers.get('x-tollgate-mode'), 'real');
    assert.equal(res.headers.get('x-tollgate-served-by'), 'real');
    assert.equal(standin.hits('/v1/chat/completions'), 1);
  });

  it('accepts the mode name in any case', async () => {
    const res = await chatWithMode('REAL');
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    assert.equal(res.headers.get('x-tollgate-served-by'), 'real');
  });

  it('leaves the next request without the header in the configured mode', async () => {
    const res = await chatWithMode();
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    assert.equal(res.headers.get('x-tollgate-mode'), 'mock');
    assert.equal(res.headers.get('x-tollgate-served-by'), 'mock');
    assert.equal(standin.hits(), 0);
  });

  it('answers an invalid mode with 400 invalid_request and forwards nothing', async () => {
    const res = await chatWithMode('turbo');
    assert.equal(res.status, 400);
    const body = await res.text();
    assertOpenAIError(body, 'invalid_request');
    assert.equal((JSON.parse(body) as { error: { param: unknown } }).error.param, 'x-tollgate-mode');
    assert.equal(standin.hits(), 0);
  });
});
