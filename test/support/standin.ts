/**
 * A loopback stand-in for the OpenAI and LlamaCloud HTTP APIs.
 *
 * It answers the routes tollgate meters closely enough for the official SDKs, records
 * every request it receives, and can be told to misbehave (refuse, reset, hang, answer
 * 5xx/429, cut a body short, stall a stream, send broken JSON/SSE or broken usage).
 * Tests of REAL and HYBRID mode and the benchmark point the sidecar's upstream at it.
 *
 * @example
 * const standin = await startStandin({ expectOpenAIKey: 'sk-test' });
 * process.env.OPENAI_UPSTREAM_URL = standin.openaiBase;
 * await standin.setFault({ kind: 'status', status: 503 }, { times: 1, paths: '/v1/chat' });
 * // ... drive the sidecar ...
 * assert.equal(standin.hits('/v1/chat/completions'), 2);
 * await standin.close();
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import busboy from 'busboy';
import { PDFDocument } from 'pdf-lib';

export type Fault =
  | { kind: 'refuse' }
  | { kind: 'reset' }
  | { kind: 'hang' }
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  | { kind: 'close-after-headers' }
  | { kind: 'reset-mid-body' }
  | { kind: 'stall-mid-stream'; ms: number }
  | { kind: 'malformed-json' }
  | { kind: 'malformed-sse' }
  | { kind: 'bad-usage' };

export interface RecordedRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  /** The body as received, cut at `maxRecordedBodyBytes`. */
  body: Buffer;
  /** Every body byte received, also those past the recording cap. */
  bytes: number;
  at: number;
}

export interface Standin {
  url: string;
  openaiBase: string;
  llamaparseBase: string;
  requests: RecordedRequest[];
  /** Requests received whose path (without query) starts with `pathPrefix`; all when omitted. */
  hits(pathPrefix?: string): number;
  /**
   * Makes the next requests misbehave. `times` limits it to the next N matching requests,
   * `paths` to requests whose path starts with that prefix. `refuse` closes the listener
   * (`times` does not apply: a refused connection is never seen); the same port comes back
   * with `setFault(null)` or any other fault.
   */
  setFault(f: Fault | null, opts?: { times?: number; paths?: string }): Promise<void>;
  /** Clears recorded requests, hit counts and faults (a `refuse` listener comes back asynchronously). */
  reset(): void;
  close(): Promise<void>;
}

export interface StandinOptions {
  port?: number;
  expectOpenAIKey?: string;
  expectLlamaKey?: string;
  /** Content chunks of a streamed answer; also the completion tokens of every chat answer. Default 8. */
  streamChunks?: number;
  /** Pause before each streamed content chunk. Default 0. */
  chunkGapMs?: number;
  /** How long a parse job stays PENDING. Default 0. */
  parseDelayMs?: number;
  quiet?: boolean;
  /** Requests kept in `requests` (oldest dropped first); hit counts are kept regardless. Default 10000. */
  maxRecorded?: number;
  /** Body bytes kept per recorded request. Default 16 MiB. */
  maxRecordedBodyBytes?: number;
}

interface ActiveFault {
  fault: Fault;
  remaining: number;
  paths: string | undefined;
}

interface Frame {
  text: string;
  delayMs: number;
}

interface JsonReply {
  kind: 'json';
  status: number;
  headers: Record<string, string>;
  body: string;
}

interface SseReply {
  kind: 'sse';
  status: number;
  headers: Record<string, string>;
  frames: Frame[];
}

type Reply = JsonReply | SseReply;

interface UploadedFile {
  name: string;
  bytes: number;
  /** The first bytes of the file, enough to count pages and echo text. */
  head: Buffer;
  fields: Record<string, string>;
  /** A PDF's page count, read with pdf-lib from its page tree. */
  pdfPages?: number;
}

interface ParseJob {
  id: string;
  createdAt: number;
  name: string;
  pages: string[];
  tier: string;
  creditsPerPage: number;
}

type Json = Record<string, unknown>;

const LOOPBACK = '127.0.0.1';
const REPLY_WORDS = ['This', 'is', 'a', 'stand-in', 'reply', 'from', 'the', 'loopback', 'provider.'];
const FILE_HEAD_BYTES = 8 * 1024 * 1024;
const PAGE_CHARS = 3000;
const EMBEDDING_CACHE_SIZE = 512;
const JSON_HEADERS = { 'content-type': 'application/json' } as const;
const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
} as const;
const CREDITS_PER_PAGE: Record<string, number> = { fast: 1, cost_effective: 3, agentic: 10, agentic_plus: 45 };
const MODELS = [
  'gpt-4o-mini',
  'gpt-4o',
  'gpt-4.1-mini',
  'gpt-4.1',
  'o4-mini',
  'text-embedding-3-small',
  'text-embedding-3-large',
  'text-embedding-ada-002',
];
const MODEL_CREATED = 1_715_367_049;
const STANDIN_PROJECT = {
  name: 'Default',
  id: '00000000-0000-4000-8000-000000000001',
  organization_id: '00000000-0000-4000-8000-000000000002',
  created_at: '2024-05-10T00:00:00Z',
  updated_at: '2024-05-10T00:00:00Z',
  ad_hoc_eval_dataset_id: null,
  is_default: true,
};
const V1_UPLOAD = /^\/api(?:\/v1)?\/parsing\/upload$/;
const V1_JOB = /^\/api(?:\/v1)?\/parsing\/job\/([^/]+)$/;
const V1_RESULT = /^\/api(?:\/v1)?\/parsing\/job\/([^/]+)\/result\/(markdown|text|json)$/;
const V2_JOB = /^\/api\/v2\/parse\/([^/]+)$/;

/** Starts the stand-in on 127.0.0.1 (an ephemeral port unless `port` is given). */
export async function startStandin(opts: StandinOptions = {}): Promise<Standin> {
  const streamChunks = Math.max(1, opts.streamChunks ?? 8);
  const chunkGapMs = Math.max(0, opts.chunkGapMs ?? 0);
  const parseDelayMs = Math.max(0, opts.parseDelayMs ?? 0);
  const maxRecorded = opts.maxRecorded ?? 10_000;
  const maxRecordedBodyBytes = opts.maxRecordedBodyBytes ?? 16 * 1024 * 1024;
  const quiet = opts.quiet ?? false;

  const requests: RecordedRequest[] = [];
  const hitCounts = new Map<string, number>();
  const sockets = new Set<Socket>();
  const jobs = new Map<string, ParseJob>();
  const embeddingCache = new Map<string, string>();
  const shutdown = new AbortController();
  let active: ActiveFault | null = null;
  let listening = false;
  let closed = false;
  let sequence = 0;

  const server = createServer({ keepAlive: true }, function onRequest(req, res) {
    handle(req, res).catch(function onHandlerError(err: unknown) {
      if (!quiet && !closed) console.error('standin: handler failed', err);
      if (!res.headersSent && !res.destroyed) {
        sendJson(res, openaiError(500, 'The stand-in failed to answer.', 'server_error'));
      } else {
        res.destroy();
      }
    });
  });
  server.on('connection', function trackSocket(socket: Socket) {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  // Streams and hung requests may legitimately stay open for a long time in tests.
  server.requestTimeout = 0;

  await listen(opts.port ?? 0);
  const port = (server.address() as AddressInfo).port;
  const url = `http://${LOOPBACK}:${port}`;

  function listen(onPort: number): Promise<void> {
    return new Promise(function listenOnce(resolve, reject) {
      server.once('error', reject);
      server.listen(onPort, LOOPBACK, () => {
        server.off('error', reject);
        listening = true;
        resolve();
      });
    });
  }

  function stopListening(): Promise<void> {
    if (!listening) return Promise.resolve();
    listening = false;
    return new Promise(function closeListener(resolve) {
      server.close(() => resolve());
      // Keep-alive sockets would otherwise keep serving while the port refuses.
      for (const socket of sockets) socket.destroy();
    });
  }

  function nextId(): string {
    sequence += 1;
    return `standin${sequence.toString(36)}`;
  }

  function record(req: IncomingMessage, path: string, body: Buffer, bytes: number, at: number): void {
    hitCounts.set(path, (hitCounts.get(path) ?? 0) + 1);
    if (maxRecorded <= 0) return;
    if (requests.length >= maxRecorded) requests.shift();
    requests.push({ method: req.method ?? 'GET', url: req.url ?? '/', headers: { ...req.headers }, body, bytes, at });
  }

  /** The fault that applies to this request, counting it against `times`. */
  function takeFault(path: string): Fault | null {
    if (active === null || active.fault.kind === 'refuse') return null;
    if (active.paths !== undefined && !path.startsWith(active.paths)) return null;
    const { fault } = active;
    active.remaining -= 1;
    if (active.remaining <= 0) active = null;
    return fault;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = Date.now();
    const rawUrl = req.url ?? '/';
    const queryAt = rawUrl.indexOf('?');
    const path = queryAt === -1 ? rawUrl : rawUrl.slice(0, queryAt);
    const method = req.method ?? 'GET';
    const isUpload =
      method === 'POST' && (V1_UPLOAD.test(path) || path === '/api/v2/parse/upload') && isMultipart(req.headers);
    const upload = isUpload ? parseMultipart(req.headers) : undefined;
    let received: { body: Buffer; bytes: number };
    try {
      received = await readBody(req, maxRecordedBodyBytes, upload);
    } catch {
      // The client went away (or sent a broken body) before we had it all: nothing to answer.
      res.destroy();
      return;
    }
    record(req, path, received.body, received.bytes, at);

    const fault = takeFault(path);
    if (fault?.kind === 'reset') {
      req.socket.resetAndDestroy();
      return;
    }
    if (fault?.kind === 'hang') return; // close() destroys the socket
    const provider: 'openai' | 'llama' = path.startsWith('/api/') ? 'llama' : 'openai';
    if (fault?.kind === 'status') {
      sendJson(res, statusFault(fault, provider));
      return;
    }
    if (fault?.kind === 'malformed-json') {
      sendJson(res, { kind: 'json', status: 200, headers: openaiHeaders(), body: MALFORMED_JSON });
      return;
    }
    if (fault?.kind === 'malformed-sse') {
      await sendSse(res, malformedSse(), null);
      return;
    }

    const badUsage = fault?.kind === 'bad-usage';
    let reply: Reply;
    if (path === '/v1' || path.startsWith('/v1/')) {
      reply =
        authorize(req.headers, opts.expectOpenAIKey, 'openai') ?? routeOpenAI(method, path, received.body, badUsage);
    } else if (path.startsWith('/api/')) {
      const uploaded = upload === undefined ? undefined : await upload.done.catch(() => null);
      if (uploaded) uploaded.pdfPages = await countPdfPages(uploaded.head);
      reply =
        authorize(req.headers, opts.expectLlamaKey, 'llama') ??
        routeLlama(method, path, rawUrl, received.body, uploaded, badUsage);
    } else {
      reply = { kind: 'json', status: 404, headers: { ...JSON_HEADERS }, body: '{"detail":"Not Found"}' };
    }

    if (reply.kind === 'json') await sendJsonWithFault(res, reply, fault);
    else await sendSse(res, reply, fault);
  }

  function routeOpenAI(method: string, path: string, raw: Buffer, badUsage: boolean): Reply {
    if (method === 'GET' && path === '/v1/models') return modelList();
    if (method === 'GET' && path.startsWith('/v1/models/')) return modelOne(decodeURIComponent(path.slice(11)));
    const isChat = path === '/v1/chat/completions';
    const isEmbeddings = path === '/v1/embeddings';
    const isResponses = path === '/v1/responses';
    if (method !== 'POST' || !(isChat || isEmbeddings || isResponses)) {
      return openaiError(404, `Invalid URL (${method} ${path})`, 'invalid_request_error');
    }
    let body: Json;
    try {
      const parsed: unknown = JSON.parse(raw.toString('utf8'));
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      body = parsed as Json;
    } catch {
      return openaiError(400, INVALID_JSON_MESSAGE, 'invalid_request_error');
    }
    if (typeof body['model'] !== 'string') {
      return openaiError(400, 'you must provide a model parameter', 'invalid_request_error');
    }
    if (isChat) return chat(body, badUsage);
    if (isEmbeddings) return embeddings(body, badUsage);
    return responses(body, badUsage);
  }

  function chat(body: Json, badUsage: boolean): Reply {
    const model = body['model'] as string;
    const modelJson = JSON.stringify(model);
    const limit = firstNumber(body['max_completion_tokens'], body['max_tokens']);
    const tokens = limit === undefined ? streamChunks : Math.max(0, Math.min(streamChunks, limit));
    const finish = tokens < streamChunks ? 'length' : 'stop';
    const n = Math.max(1, Math.min(8, firstNumber(body['n']) ?? 1));
    const promptTokens = estimateChatPrompt(body['messages']);
    const usage = badUsage ? BAD_CHAT_USAGE : chatUsage(promptTokens, tokens * n);
    const id = `chatcmpl-${nextId()}`;
    const created = Math.floor(Date.now() / 1000);

    if (body['stream'] !== true) {
      const message = replyMessageJson(tokens);
      let choices = '';
      for (let i = 0; i < n; i++) {
        if (i > 0) choices += ',';
        choices += `{"index":${i},"message":${message},"logprobs":null,"finish_reason":"${finish}"}`;
      }
      return {
        kind: 'json',
        status: 200,
        headers: openaiHeaders(),
        body: `{"id":"${id}","object":"chat.completion","created":${created},"model":${modelJson},"choices":[${choices}],"usage":${usage},"service_tier":"default","system_fingerprint":"fp_standin"}`,
      };
    }

    const options = body['stream_options'];
    const includeUsage = typeof options === 'object' && options !== null && (options as Json)['include_usage'] === true;
    // OpenAI sends "usage":null on every chunk once include_usage is on.
    const usageNull = includeUsage ? ',"usage":null' : '';
    const head = `data: {"id":"${id}","object":"chat.completion.chunk","created":${created},"model":${modelJson},"service_tier":"default","system_fingerprint":"fp_standin","choices":[`;
    const frames: Frame[] = [];
    for (let i = 0; i < n; i++) {
      frames.push({
        text: `${head}{"index":${i},"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]${usageNull}}\n\n`,
        delayMs: 0,
      });
    }
    for (let t = 0; t < tokens; t++) {
      const piece = JSON.stringify(word(t));
      for (let i = 0; i < n; i++) {
        frames.push({
          text: `${head}{"index":${i},"delta":{"content":${piece}},"logprobs":null,"finish_reason":null}]${usageNull}}\n\n`,
          delayMs: i === 0 ? chunkGapMs : 0,
        });
      }
    }
    for (let i = 0; i < n; i++) {
      frames.push({
        text: `${head}{"index":${i},"delta":{},"logprobs":null,"finish_reason":"${finish}"}]${usageNull}}\n\n`,
        delayMs: 0,
      });
    }
    if (includeUsage) frames.push({ text: `${head}],"usage":${usage}}\n\n`, delayMs: 0 });
    frames.push({ text: 'data: [DONE]\n\n', delayMs: 0 });
    return { kind: 'sse', status: 200, headers: { ...openaiHeaders(), ...SSE_HEADERS }, frames };
  }

  function embeddings(body: Json, badUsage: boolean): Reply {
    const model = body['model'] as string;
    const inputs = embeddingInputs(body['input']);
    if (inputs === null) return openaiError(400, "'input' is a required property", 'invalid_request_error');
    const requested = firstNumber(body['dimensions']);
    const dims = requested !== undefined && requested > 0 ? requested : model.endsWith('-large') ? 3072 : 1536;
    const base64 = body['encoding_format'] === 'base64';
    let promptTokens = 0;
    let data = '';
    for (let i = 0; i < inputs.length; i++) {
      const input = inputs[i] as string | number[];
      promptTokens += typeof input === 'string' ? estimateTextTokens(input) : input.length;
      if (i > 0) data += ',';
      data += `{"object":"embedding","index":${i},"embedding":${embeddingJson(input, dims, base64)}}`;
    }
    const usage = badUsage
      ? '{"prompt_tokens":"many","total_tokens":null}'
      : `{"prompt_tokens":${promptTokens},"total_tokens":${promptTokens}}`;
    return {
      kind: 'json',
      status: 200,
      headers: openaiHeaders(),
      body: `{"object":"list","data":[${data}],"model":${JSON.stringify(model)},"usage":${usage}}`,
    };
  }

  function embeddingJson(input: string | number[], dims: number, base64: boolean): string {
    const key = `${dims}|${base64 ? 'b' : 'f'}|${typeof input === 'string' ? input : `#${input.join(',')}`}`;
    const cached = embeddingCache.get(key);
    if (cached !== undefined) return cached;
    const vector = unitVector(typeof input === 'string' ? input : input.join(','), dims);
    let json: string;
    if (base64) {
      const bytes = Buffer.allocUnsafe(dims * 4);
      for (let i = 0; i < dims; i++) bytes.writeFloatLE(vector[i] as number, i * 4);
      json = `"${bytes.toString('base64')}"`;
    } else {
      json = JSON.stringify(Array.from(vector));
    }
    if (embeddingCache.size >= EMBEDDING_CACHE_SIZE) {
      const oldest = embeddingCache.keys().next().value;
      if (oldest !== undefined) embeddingCache.delete(oldest);
    }
    embeddingCache.set(key, json);
    return json;
  }

  function responses(body: Json, badUsage: boolean): Reply {
    const model = body['model'] as string;
    const limit = firstNumber(body['max_output_tokens']);
    const tokens = limit === undefined ? streamChunks : Math.max(0, Math.min(streamChunks, limit));
    const incomplete = tokens < streamChunks;
    const inputTokens = estimateResponsesInput(body['input'], body['instructions']);
    const id = `resp_${nextId()}`;
    const messageId = `msg_${nextId()}`;
    const createdAt = Math.floor(Date.now() / 1000);
    const text = replyText(tokens);
    const usage = badUsage
      ? { input_tokens: 'lots', input_tokens_details: null, output_tokens: null, total_tokens: -1 }
      : {
          input_tokens: inputTokens,
          input_tokens_details: { cached_tokens: 0 },
          output_tokens: tokens,
          output_tokens_details: { reasoning_tokens: 0 },
          total_tokens: inputTokens + tokens,
        };
    const part = { type: 'output_text', annotations: [], logprobs: [], text };
    const doneItem = {
      id: messageId,
      type: 'message',
      status: incomplete ? 'incomplete' : 'completed',
      content: [part],
      role: 'assistant',
    };
    function responseObject(status: string, output: unknown[], withUsage: boolean): Json {
      return {
        id,
        object: 'response',
        created_at: createdAt,
        status,
        background: false,
        error: null,
        incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
        instructions: typeof body['instructions'] === 'string' ? body['instructions'] : null,
        max_output_tokens: limit ?? null,
        model,
        output,
        parallel_tool_calls: true,
        previous_response_id: null,
        reasoning: { effort: null, summary: null },
        service_tier: 'default',
        store: true,
        temperature: 1,
        text: { format: { type: 'text' } },
        tool_choice: 'auto',
        tools: [],
        top_p: 1,
        truncation: 'disabled',
        usage: withUsage ? usage : null,
        user: null,
        metadata: {},
      };
    }
    const finalStatus = incomplete ? 'incomplete' : 'completed';
    if (body['stream'] !== true) {
      return {
        kind: 'json',
        status: 200,
        headers: openaiHeaders(),
        body: JSON.stringify(responseObject(finalStatus, [doneItem], true)),
      };
    }
    const frames: Frame[] = [];
    let seq = 0;
    function event(type: string, payload: Json, delayMs = 0): void {
      frames.push({
        text: `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq, ...payload })}\n\n`,
        delayMs,
      });
      seq += 1;
    }
    const at = { item_id: messageId, output_index: 0, content_index: 0 };
    event('response.created', { response: responseObject('in_progress', [], false) });
    event('response.in_progress', { response: responseObject('in_progress', [], false) });
    event('response.output_item.added', {
      output_index: 0,
      item: { id: messageId, type: 'message', status: 'in_progress', content: [], role: 'assistant' },
    });
    event('response.content_part.added', {
      ...at,
      part: { type: 'output_text', annotations: [], logprobs: [], text: '' },
    });
    for (let t = 0; t < tokens; t++)
      event('response.output_text.delta', { ...at, delta: word(t), logprobs: [] }, chunkGapMs);
    event('response.output_text.done', { ...at, text, logprobs: [] });
    event('response.content_part.done', { ...at, part });
    event('response.output_item.done', { output_index: 0, item: doneItem });
    event(incomplete ? 'response.incomplete' : 'response.completed', {
      response: responseObject(finalStatus, [doneItem], true),
    });
    return { kind: 'sse', status: 200, headers: { ...openaiHeaders(), ...SSE_HEADERS }, frames };
  }

  function routeLlama(
    method: string,
    path: string,
    rawUrl: string,
    raw: Buffer,
    uploaded: UploadedFile | null | undefined,
    badUsage: boolean,
  ): Reply {
    if (method === 'POST' && V1_UPLOAD.test(path)) {
      const file = uploadedFile(uploaded);
      if (typeof file === 'string') return llamaError(400, file);
      const job = createJob(file, 'cost_effective', v1Selection(file.fields));
      return llamaJson(200, { id: job.id, status: 'PENDING', error_code: null, error_message: null });
    }
    if (method === 'POST' && path === '/api/v2/parse/upload') {
      const file = uploadedFile(uploaded);
      if (typeof file === 'string') return llamaError(400, file);
      const config = jsonField(file.fields['configuration']);
      const job = createJob(file, tierOf(config), v2Selection(config));
      return llamaJson(200, v2Job(job));
    }
    if (method === 'POST' && (path === '/api/v2/parse' || path === '/api/v2/parse/')) {
      let body: Json;
      try {
        body = JSON.parse(raw.toString('utf8')) as Json;
      } catch {
        return llamaError(422, 'Invalid JSON body');
      }
      const source = typeof body['file_id'] === 'string' ? body['file_id'] : body['source_url'];
      if (typeof source !== 'string') return llamaError(422, 'file_id or source_url is required');
      const text = `# ${source}\n\nStand-in parse of ${source}.`;
      const job = createJob({ name: source, bytes: text.length, head: Buffer.from(text), fields: {} }, tierOf(body));
      return llamaJson(200, v2Job(job));
    }
    // LlamaCloud's free, authenticated listing (openapi.json: list_projects_api_v1_projects_get);
    // tollgate's health probe calls it.
    if (method === 'GET' && path === '/api/v1/projects') return llamaJson(200, [STANDIN_PROJECT]);
    if (method === 'GET' && (path === '/api/v2/parse' || path === '/api/v2/parse/')) {
      const items = [...jobs.values()].map(v2Job);
      return llamaJson(200, { items, next_page_token: null, total_size: items.length });
    }
    let match = V1_RESULT.exec(path);
    if (method === 'GET' && match !== null) {
      const job = jobs.get(match[1] as string);
      if (job === undefined) return llamaError(404, 'Job not found');
      if (!isDone(job)) return llamaError(404, 'Job not completed yet');
      return llamaJson(200, v1Result(job, match[2] as 'markdown' | 'text' | 'json', badUsage));
    }
    match = V1_JOB.exec(path);
    if (method === 'GET' && match !== null) {
      const job = jobs.get(match[1] as string);
      if (job === undefined) return llamaError(404, 'Job not found');
      return llamaJson(200, {
        id: job.id,
        status: isDone(job) ? 'SUCCESS' : 'PENDING',
        error_code: null,
        error_message: null,
      });
    }
    match = V2_JOB.exec(path);
    if (method === 'GET' && match !== null) {
      const job = jobs.get(match[1] as string);
      if (job === undefined) return llamaError(404, 'Job not found');
      return llamaJson(200, v2Result(job, expandOf(rawUrl), badUsage));
    }
    return llamaError(404, 'Not Found');
  }

  function createJob(file: UploadedFile, tier: string, selection: PageSelection = {}): ParseJob {
    const job: ParseJob = {
      id: randomUUID(),
      createdAt: Date.now(),
      name: file.name,
      pages: selectPages(pagesOf(file), selection),
      tier,
      creditsPerPage: CREDITS_PER_PAGE[tier] ?? 3,
    };
    jobs.set(job.id, job);
    return job;
  }

  function isDone(job: ParseJob): boolean {
    return Date.now() - job.createdAt >= parseDelayMs;
  }

  function v2Job(job: ParseJob): Json {
    const iso = new Date(job.createdAt).toISOString();
    return {
      id: job.id,
      project_id: '00000000-0000-4000-8000-000000000000',
      status: isDone(job) ? 'COMPLETED' : 'PENDING',
      created_at: iso,
      updated_at: iso,
      error_message: null,
      name: job.name,
      tier: job.tier,
    };
  }

  function v2Result(job: ParseJob, expand: Set<string>, badUsage: boolean): Json {
    const out: Json = { job: v2Job(job) };
    if (!isDone(job)) return out;
    if (expand.has('markdown')) {
      out['markdown'] = { pages: job.pages.map((md, i) => ({ page_number: i + 1, markdown: md, success: true })) };
    }
    if (expand.has('markdown_full')) out['markdown_full'] = job.pages.join('\n\n');
    if (expand.has('text')) out['text'] = { pages: job.pages.map((text, i) => ({ page_number: i + 1, text })) };
    if (expand.has('text_full')) out['text_full'] = job.pages.join('\n\n');
    if (expand.has('job_metadata')) out['job_metadata'] = jobMetadata(job, badUsage);
    return out;
  }

  function sendJsonWithFault(res: ServerResponse, reply: JsonReply, fault: Fault | null): Promise<void> {
    if (fault === null || fault.kind === 'bad-usage') {
      sendJson(res, reply);
      return Promise.resolve();
    }
    const body = Buffer.from(reply.body);
    res.writeHead(reply.status, { ...reply.headers, 'content-length': String(body.length) });
    if (fault.kind === 'close-after-headers') {
      res.flushHeaders();
      setImmediate(() => res.socket?.destroy());
      return Promise.resolve();
    }
    const half = body.subarray(0, Math.floor(body.length / 2));
    if (fault.kind === 'reset-mid-body') {
      res.write(half, () => res.socket?.destroy());
      return Promise.resolve();
    }
    if (fault.kind === 'stall-mid-stream') {
      res.write(half);
      return pause(fault.ms).then(function finishStalledBody() {
        if (!res.destroyed) res.end(body.subarray(half.length));
      });
    }
    res.end(body);
    return Promise.resolve();
  }

  async function sendSse(res: ServerResponse, reply: SseReply, fault: Fault | null): Promise<void> {
    res.writeHead(reply.status, reply.headers);
    if (fault?.kind === 'close-after-headers') {
      res.flushHeaders();
      setImmediate(() => res.socket?.destroy());
      return;
    }
    const frames = reply.frames;
    // Cut after the role chunk and at least one content chunk, so the client has started reading.
    const cutAt = fault?.kind === 'reset-mid-body' ? Math.max(2, Math.floor(frames.length / 2)) : frames.length;
    const stallBefore = fault?.kind === 'stall-mid-stream' ? 2 : -1;
    let pending = '';
    for (let i = 0; i < frames.length; i++) {
      const frame = frames[i] as Frame;
      const delay = frame.delayMs + (i === stallBefore ? (fault as { ms: number }).ms : 0);
      if (i === cutAt) {
        if (pending !== '') res.write(pending, () => res.socket?.destroy());
        else res.socket?.destroy();
        return;
      }
      if (delay > 0) {
        // Frames due at once go out in one write; a pause flushes what is queued first.
        if (pending !== '') res.write(pending);
        pending = '';
        await pause(delay);
        if (res.destroyed || closed) return;
      }
      pending += frame.text;
    }
    res.end(pending);
  }

  function pause(ms: number): Promise<void> {
    return sleep(ms, undefined, { signal: shutdown.signal }).catch(() => undefined);
  }

  async function setFault(f: Fault | null, options: { times?: number; paths?: string } = {}): Promise<void> {
    if (closed) throw new Error('standin is closed');
    active =
      f === null ? null : { fault: f, remaining: options.times ?? Number.POSITIVE_INFINITY, paths: options.paths };
    if (f?.kind === 'refuse') await stopListening();
    else if (!listening) await listen(port);
  }

  function reset(): void {
    requests.length = 0;
    hitCounts.clear();
    const wasRefusing = active?.fault.kind === 'refuse';
    active = null;
    if (wasRefusing && !closed) {
      listen(port).catch(function onRelistenError(err: unknown) {
        if (!quiet) console.error('standin: could not listen again', err);
      });
    }
  }

  function hits(pathPrefix?: string): number {
    let total = 0;
    for (const [path, count] of hitCounts) if (pathPrefix === undefined || path.startsWith(pathPrefix)) total += count;
    return total;
  }

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    active = null;
    shutdown.abort();
    await stopListening();
    for (const socket of sockets) socket.destroy();
  }

  return {
    url,
    openaiBase: `${url}/v1`,
    llamaparseBase: url,
    requests,
    hits,
    setFault,
    reset,
    close,
  };
}

// --- bodies -------------------------------------------------------------------------------

interface MultipartParse {
  sink: NodeJS.WritableStream;
  done: Promise<UploadedFile | null>;
}

function isMultipart(headers: IncomingHttpHeaders): boolean {
  return (headers['content-type'] ?? '').toLowerCase().startsWith('multipart/form-data');
}

/** Streams a multipart upload through busboy, keeping only the head of the file. */
function parseMultipart(headers: IncomingHttpHeaders): MultipartParse {
  const parser = busboy({ headers, limits: { files: 1 } });
  const done = new Promise<UploadedFile | null>(function collectUpload(resolve, reject) {
    let file: UploadedFile | null = null;
    const fields: Record<string, string> = {};
    const head: Buffer[] = [];
    let headBytes = 0;
    parser.on('field', (name, value) => {
      fields[name] = value;
    });
    parser.on('file', (_name, stream, info) => {
      const current: UploadedFile = { name: info.filename ?? 'upload', bytes: 0, head: Buffer.alloc(0), fields };
      file = current;
      stream.on('data', (chunk: Buffer) => {
        current.bytes += chunk.length;
        if (headBytes < FILE_HEAD_BYTES) {
          head.push(chunk);
          headBytes += chunk.length;
        }
      });
    });
    parser.on('close', () => {
      if (file !== null) file.head = Buffer.concat(head);
      resolve(file);
    });
    parser.on('error', reject);
  });
  // A broken multipart body must not become an unhandled rejection when the route ignores it.
  done.catch(() => undefined);
  return { sink: parser, done };
}

function readBody(
  req: IncomingMessage,
  cap: number,
  upload: MultipartParse | undefined,
): Promise<{ body: Buffer; bytes: number }> {
  return new Promise(function collectBody(resolve, reject) {
    const chunks: Buffer[] = [];
    let bytes = 0;
    let kept = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (kept < cap) {
        const slice = kept + chunk.length <= cap ? chunk : chunk.subarray(0, cap - kept);
        chunks.push(slice);
        kept += slice.length;
      }
      upload?.sink.write(chunk);
    });
    req.on('end', () => {
      upload?.sink.end();
      resolve({ body: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks), bytes });
    });
    req.on('error', reject);
    req.on('aborted', () => reject(new Error('client aborted')));
  });
}

function uploadedFile(uploaded: UploadedFile | null | undefined): UploadedFile | string {
  if (uploaded === undefined || uploaded === null) return 'No file was uploaded.';
  if (uploaded.bytes === 0) return 'The uploaded file is empty.';
  return uploaded;
}

function jsonField(value: string | undefined): Json {
  if (value === undefined) return {};
  try {
    const parsed: unknown = JSON.parse(value);
    return typeof parsed === 'object' && parsed !== null ? (parsed as Json) : {};
  } catch {
    return {};
  }
}

function tierOf(config: Json): string {
  return typeof config['tier'] === 'string' ? config['tier'] : 'cost_effective';
}

function expandOf(rawUrl: string): Set<string> {
  const queryAt = rawUrl.indexOf('?');
  const query = new URLSearchParams(queryAt === -1 ? '' : rawUrl.slice(queryAt + 1));
  const out = new Set<string>();
  for (const value of query.getAll('expand')) for (const part of value.split(',')) out.add(part.trim());
  return out;
}

interface PageSelection {
  /** 0-based page indexes. */
  targets?: number[];
  maxPages?: number;
}

async function countPdfPages(head: Buffer): Promise<number | undefined> {
  if (head.subarray(0, 5).toString('latin1') !== '%PDF-') return undefined;
  try {
    return (await PDFDocument.load(head, { ignoreEncryption: true, updateMetadata: false })).getPageCount();
  } catch {
    return undefined;
  }
}

function pageList(list: unknown, base: number): number[] | undefined {
  if (typeof list !== 'string' || list.trim() === '') return undefined;
  const out: number[] = [];
  for (const part of list.split(',')) {
    const [from, to = from] = part.split('-').map((n) => Number(n.trim()));
    for (let n = from as number; n <= (to as number); n++) out.push(n - base);
  }
  return out;
}

/** v1: `target_pages` counted from 0 and `max_pages`, as LlamaCloud bills them. */
function v1Selection(fields: Record<string, string>): PageSelection {
  const max = Number(fields['max_pages']);
  return { targets: pageList(fields['target_pages'], 0), maxPages: max > 0 ? max : undefined };
}

/** v2: `page_ranges.target_pages` counted from 1 and `page_ranges.max_pages`. */
function v2Selection(config: Json): PageSelection {
  const ranges = (config['page_ranges'] ?? {}) as Json;
  const max = Number(ranges['max_pages']);
  return { targets: pageList(ranges['target_pages'], 1), maxPages: max > 0 ? max : undefined };
}

function selectPages(pages: string[], { targets, maxPages }: PageSelection): string[] {
  const chosen = targets === undefined ? pages : pages.filter((_, i) => targets.includes(i));
  return maxPages === undefined ? chosen : chosen.slice(0, maxPages);
}

/** Page texts: form feeds or ~3000-char slices of a text file, a PDF's pages, else one page. */
function pagesOf(file: UploadedFile): string[] {
  const head = file.head;
  if (head.subarray(0, 5).toString('latin1') === '%PDF-') {
    const count = Math.max(1, file.pdfPages ?? 1);
    return Array.from({ length: count }, (_, i) => `# ${file.name}\n\nPage ${i + 1} of ${file.name}.`);
  }
  if (head.includes(0)) return [`# ${file.name}\n\nBinary file of ${file.bytes} bytes.`];
  const text = head.toString('utf8');
  const byFeed = text.split('\f').filter((page) => page.trim() !== '');
  if (byFeed.length > 1) return byFeed;
  const pages: string[] = [];
  for (let at = 0; at < text.length && pages.length < 1000; at += PAGE_CHARS)
    pages.push(text.slice(at, at + PAGE_CHARS));
  // Bytes past the kept head still count as pages, so big uploads cost like big uploads.
  const unseen = Math.ceil(Math.max(0, file.bytes - head.length) / PAGE_CHARS);
  for (let i = 0; i < unseen && pages.length < 1000; i++) pages.push('');
  return pages.length === 0 ? [''] : pages;
}

function jobMetadata(job: ParseJob, badUsage: boolean): Json {
  if (badUsage) return { credits_used: 'lots', job_credits_usage: null, job_pages: 'many', job_is_cache_hit: 'no' };
  const credits = job.pages.length * job.creditsPerPage;
  return {
    credits_used: credits,
    job_credits_usage: credits,
    job_pages: job.pages.length,
    job_auto_mode_triggered_pages: 0,
    job_is_cache_hit: false,
  };
}

function v1Result(job: ParseJob, kind: 'markdown' | 'text' | 'json', badUsage: boolean): Json {
  const job_metadata = jobMetadata(job, badUsage);
  if (kind === 'markdown') return { markdown: job.pages.join('\n\n---\n\n'), job_metadata };
  if (kind === 'text') return { text: job.pages.join('\n\n'), job_metadata };
  const pages = job.pages.map((text, i) => ({
    page: i + 1,
    text,
    md: text,
    images: [],
    items: [{ type: 'text', value: text, md: text }],
    status: 'OK',
    width: 612,
    height: 792,
  }));
  return { pages, job_metadata };
}

// --- OpenAI shapes --------------------------------------------------------------------------

const INVALID_JSON_MESSAGE =
  "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)";
const MISSING_KEY_MESSAGE =
  "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.";
const MALFORMED_JSON = '{"id":"chatcmpl-broken","object":"chat.completion","choices":[{"index":0,"message":{"role":';
const BAD_CHAT_USAGE =
  '{"prompt_tokens":"twelve","completion_tokens":null,"total_tokens":-1,"prompt_tokens_details":"none"}';
const STATUS_MESSAGES: Record<number, [string, string, string | null]> = {
  400: ['Bad request.', 'invalid_request_error', null],
  429: [
    'Rate limit reached for gpt-4o-mini in organization org-standin on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.',
    'requests',
    'rate_limit_exceeded',
  ],
  500: ['The server had an error while processing your request. Sorry about that!', 'server_error', null],
  502: ['Bad gateway.', 'server_error', null],
  503: ['The engine is currently overloaded, please try again later.', 'server_error', null],
  504: ['Gateway timeout.', 'server_error', null],
};

let requestSerial = 0;

function openaiHeaders(): Record<string, string> {
  requestSerial += 1;
  return {
    'content-type': 'application/json',
    'openai-version': '2020-10-01',
    'openai-processing-ms': '1',
    'x-request-id': `req_standin${requestSerial.toString(16)}`,
  };
}

function openaiError(status: number, message: string, type: string, code: string | null = null): JsonReply {
  return {
    kind: 'json',
    status,
    headers: openaiHeaders(),
    body: JSON.stringify({ error: { message, type, param: null, code } }),
  };
}

function llamaJson(status: number, body: unknown): JsonReply {
  return { kind: 'json', status, headers: { ...JSON_HEADERS }, body: JSON.stringify(body) };
}

function llamaError(status: number, detail: string): JsonReply {
  return llamaJson(status, { detail });
}

function authorize(
  headers: IncomingHttpHeaders,
  expected: string | undefined,
  provider: 'openai' | 'llama',
): JsonReply | null {
  if (expected === undefined) return null;
  const given = headers.authorization;
  if (given === `Bearer ${expected}`) return null;
  if (provider === 'llama') return llamaError(401, 'Invalid API Key');
  if (given === undefined || !given.startsWith('Bearer ') || given.length === 7) {
    return openaiError(401, MISSING_KEY_MESSAGE, 'invalid_request_error');
  }
  const key = given.slice(7);
  return openaiError(
    401,
    `Incorrect API key provided: ${maskKey(key)}. You can find your API key at https://platform.openai.com/account/api-keys.`,
    'invalid_request_error',
    'invalid_api_key',
  );
}

/** OpenAI shows the start of a wrong key and stars for the rest; never the whole key. */
function maskKey(key: string): string {
  return `${key.slice(0, Math.min(5, Math.floor(key.length / 2)))}***`;
}

function statusFault(fault: Extract<Fault, { kind: 'status' }>, provider: 'openai' | 'llama'): JsonReply {
  const headers = { ...(provider === 'openai' ? openaiHeaders() : JSON_HEADERS), ...fault.headers };
  if (fault.body !== undefined) {
    const body = typeof fault.body === 'string' ? fault.body : JSON.stringify(fault.body);
    return { kind: 'json', status: fault.status, headers, body };
  }
  const [message, type, code] = STATUS_MESSAGES[fault.status] ?? [
    `Stand-in status ${fault.status}.`,
    'server_error',
    null,
  ];
  const body =
    provider === 'openai'
      ? JSON.stringify({ error: { message, type, param: null, code } })
      : JSON.stringify({ detail: message });
  return { kind: 'json', status: fault.status, headers, body };
}

function malformedSse(): SseReply {
  const head =
    'data: {"id":"chatcmpl-broken","object":"chat.completion.chunk","created":0,"model":"gpt-4o-mini","choices":[';
  return {
    kind: 'sse',
    status: 200,
    headers: { ...SSE_HEADERS },
    frames: [
      { text: `${head}{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n`, delayMs: 0 },
      { text: `${head}{"index":0,"delta":{"content":"oops"\n\n`, delayMs: 0 },
      { text: 'data: [DONE]\n\n', delayMs: 0 },
    ],
  };
}

function modelList(): JsonReply {
  const data = MODELS.map((id) => ({ id, object: 'model', created: MODEL_CREATED, owned_by: 'system' }));
  return { kind: 'json', status: 200, headers: openaiHeaders(), body: JSON.stringify({ object: 'list', data }) };
}

function modelOne(id: string): JsonReply {
  if (!MODELS.includes(id)) {
    const body = {
      error: {
        message: `The model '${id}' does not exist`,
        type: 'invalid_request_error',
        param: 'model',
        code: 'model_not_found',
      },
    };
    return { kind: 'json', status: 404, headers: openaiHeaders(), body: JSON.stringify(body) };
  }
  const body = { id, object: 'model', created: MODEL_CREATED, owned_by: 'system' };
  return { kind: 'json', status: 200, headers: openaiHeaders(), body: JSON.stringify(body) };
}

function sendJson(res: ServerResponse, reply: JsonReply): void {
  res.writeHead(reply.status, { ...reply.headers, 'content-length': String(Buffer.byteLength(reply.body)) });
  res.end(reply.body);
}

function word(index: number): string {
  return `${REPLY_WORDS[index % REPLY_WORDS.length]} `;
}

function replyText(tokens: number): string {
  let text = '';
  for (let t = 0; t < tokens; t++) text += word(t);
  return text;
}

const replyMessageCache = new Map<number, string>();

/** The serialized assistant message for `tokens` words (a hot path for the benchmark). */
function replyMessageJson(tokens: number): string {
  let json = replyMessageCache.get(tokens);
  if (json === undefined) {
    json = JSON.stringify({ role: 'assistant', content: replyText(tokens), refusal: null, annotations: [] });
    if (replyMessageCache.size < 1024) replyMessageCache.set(tokens, json);
  }
  return json;
}

function chatUsage(prompt: number, completion: number): string {
  return `{"prompt_tokens":${prompt},"completion_tokens":${completion},"total_tokens":${prompt + completion},"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`;
}

function firstNumber(...values: unknown[]): number | undefined {
  for (const value of values) if (typeof value === 'number' && Number.isFinite(value)) return Math.floor(value);
  return undefined;
}

/** About four characters a token, plus OpenAI's per-message framing: cheap and deterministic. */
function estimateTextTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

function estimateChatPrompt(messages: unknown): number {
  if (!Array.isArray(messages)) return 3;
  let tokens = 3;
  for (const message of messages) {
    tokens += 4;
    const content = typeof message === 'object' && message !== null ? (message as Json)['content'] : undefined;
    if (typeof content === 'string') tokens += estimateTextTokens(content);
    else if (content !== undefined && content !== null) tokens += estimateTextTokens(JSON.stringify(content));
  }
  return tokens;
}

function estimateResponsesInput(input: unknown, instructions: unknown): number {
  let tokens = typeof instructions === 'string' ? estimateTextTokens(instructions) : 0;
  if (typeof input === 'string') tokens += estimateTextTokens(input);
  else if (Array.isArray(input)) tokens += estimateChatPrompt(input);
  return Math.max(1, tokens);
}

function embeddingInputs(input: unknown): Array<string | number[]> | null {
  if (typeof input === 'string') return [input];
  if (!Array.isArray(input) || input.length === 0) return null;
  if (input.every((item) => typeof item === 'number')) return [input as number[]];
  const out: Array<string | number[]> = [];
  for (const item of input) {
    if (typeof item === 'string') out.push(item);
    else if (Array.isArray(item) && item.every((token) => typeof token === 'number')) out.push(item as number[]);
    else return null;
  }
  return out;
}

/** A unit vector seeded by the input (FNV-1a into xorshift32), so equal inputs embed equally. */
function unitVector(seedText: string, dims: number): Float32Array {
  let seed = 0x811c9dc5;
  for (let i = 0; i < seedText.length; i++) {
    seed ^= seedText.charCodeAt(i);
    seed = Math.imul(seed, 0x01000193) >>> 0;
  }
  if (seed === 0) seed = 1;
  const vector = new Float32Array(dims);
  let norm = 0;
  for (let i = 0; i < dims; i++) {
    seed ^= seed << 13;
    seed >>>= 0;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    seed >>>= 0;
    const value = seed / 0x100000000 - 0.5;
    vector[i] = value;
    norm += value * value;
  }
  const scale = 1 / Math.sqrt(norm);
  for (let i = 0; i < dims; i++) vector[i] = (vector[i] as number) * scale;
  return vector;
}
