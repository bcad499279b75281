/**
 * A loopback stand-in for Anthropic's Messages API, for REAL and HYBRID tests of the sidecar.
 *
 * It checks what arrives as the real API would (the key as `x-api-key`, an `anthropic-version`),
 * records every request, answers messages (JSON and the SSE event sequence) with the usage it was
 * told to report (cache reads and writes included), count_tokens and models, and can be told to
 * misbehave: a status (429, 529 overloaded, 500) or a stream cut after its first events.
 *
 * @example
 * const standin = await startAnthropicStandin({ expectKey: 'sk-ant-test' });
 * // ANTHROPIC_UPSTREAM_URL=standin.url
 * standin.usage = { input_tokens: 10, cache_read_input_tokens: 200, cache_creation_input_tokens: 50, output_tokens: 8 };
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type AnthropicFault =
  | { kind: 'status'; status: number; type: string; headers?: Record<string, string> }
  /** Sends `events` stream events (message_start, …), then closes the connection mid-body. */
  | { kind: 'cut-stream'; events: number };

export interface ArrivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  json: Record<string, unknown> | undefined;
}

export interface StandinUsage {
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens?: number;
  cache_creation_input_tokens?: number;
  /** Of the cache writes, those to the 1-hour cache (reported in `cache_creation`). */
  ephemeral_1h_input_tokens?: number;
}

export interface AnthropicStandin {
  url: string;
  requests: ArrivedRequest[];
  /** The usage every messages answer reports. */
  usage: StandinUsage;
  /** The text of every answer (also what a stream delivers, one word per delta). */
  text: string;
  /** The next `times` requests misbehave. */
  fault(f: AnthropicFault, times?: number): void;
  reset(): void;
  close(): Promise<void>;
}

const TEXT = 'This is a stand-in answer from the loopback Anthropic provider.';
const MODELS = ['claude-sonnet-5-5', 'claude-haiku-4-5-20251001'];

function usageBody(u: StandinUsage) {
  const writes = u.cache_creation_input_tokens ?? 0;
  const writes1h = u.ephemeral_1h_input_tokens ?? 0;
  return {
    input_tokens: u.input_tokens,
    output_tokens: u.output_tokens,
    cache_creation_input_tokens: writes,
    cache_read_input_tokens: u.cache_read_input_tokens ?? 0,
    cache_creation: { ephemeral_5m_input_tokens: writes - writes1h, ephemeral_1h_input_tokens: writes1h },
    server_tool_use: null,
    service_tier: 'standard',
    inference_geo: null,
    output_tokens_details: null,
    speed: null,
  };
}

function message(model: string, text: string, usage: StandinUsage, tool: Record<string, unknown> | undefined) {
  const content = tool
    ? [
        {
          type: 'tool_use',
          id: 'toolu_01standin',
          name: tool.name,
          input: { city: 'Paris' },
          caller: { type: 'direct' },
        },
      ]
    : [{ type: 'text', text, citations: null }];
  return {
    id: 'msg_01standin',
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: tool ? 'tool_use' : 'end_turn',
    stop_sequence: null,
    stop_details: null,
    container: null,
    diagnostics: null,
    usage: usageBody(usage),
  };
}

const frame = (payload: Record<string, unknown>) => `event: ${payload.type}\ndata: ${JSON.stringify(payload)}\n\n`;

function streamEvents(msg: ReturnType<typeof message>): string[] {
  const block = msg.content[0] as Record<string, unknown>;
  const events = [
    frame({
      type: 'message_start',
      message: { ...msg, content: [], stop_reason: null, usage: { ...msg.usage, output_tokens: 1 } },
    }),
  ];
  if (block.type === 'text') {
    events.push(
      frame({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '', citations: null } }),
    );
    events.push(frame({ type: 'ping' }));
    for (const piece of String(block.text).match(/\s*\S+/g) ?? [])
      events.push(frame({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: piece } }));
  } else {
    events.push(frame({ type: 'content_block_start', index: 0, content_block: { ...block, input: {} } }));
    events.push(
      frame({
        type: 'content_block_delta',
        index: 0,
        delta: { type: 'input_json_delta', partial_json: JSON.stringify(block.input) },
      }),
    );
  }
  events.push(frame({ type: 'content_block_stop', index: 0 }));
  events.push(
    frame({
      type: 'message_delta',
      delta: { stop_reason: msg.stop_reason, stop_sequence: null, stop_details: null, container: null },
      usage: { ...msg.usage, output_tokens: msg.usage.output_tokens },
    }),
  );
  events.push(frame({ type: 'message_stop' }));
  return events;
}

const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', 'request-id': 'req_01standin', ...headers });
  res.end(JSON.stringify(body));
};
const error = (res: ServerResponse, status: number, type: string, msg: string, headers?: Record<string, string>) =>
  send(res, status, { type: 'error', error: { type, message: msg }, request_id: 'req_01standin' }, headers);

async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  if (chunks.length === 0) return undefined;
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
}

export async function startAnthropicStandin({ expectKey }: { expectKey: string }): Promise<AnthropicStandin> {
  const requests: ArrivedRequest[] = [];
  let active: { fault: AnthropicFault; remaining: number } | undefined;
  const sockets = new Set<Socket>();
  const state = { usage: { input_tokens: 12, output_tokens: 11 } as StandinUsage, text: TEXT };

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const json = await readJson(req);
    requests.push({ method: req.method ?? 'GET', path, headers: req.headers, json });
    // The API takes the key as x-api-key, or (as the 2026 SDK sends it) as a bearer token.
    const key = req.headers['x-api-key'] ?? req.headers.authorization?.replace(/^Bearer /, '');
    if (key !== expectKey) return error(res, 401, 'authentication_error', 'invalid x-api-key');
    if (typeof req.headers['anthropic-version'] !== 'string')
      return error(res, 400, 'invalid_request_error', 'anthropic-version: header is required');
    const fault = active && active.remaining > 0 ? active.fault : undefined;
    if (fault && active) active.remaining--;
    if (fault?.kind === 'status') return error(res, fault.status, fault.type, 'stand-in fault', fault.headers);
    if (req.method === 'GET' && path === '/v1/models') {
      const data = MODELS.map((id) => ({ type: 'model', id, display_name: id, created_at: '2026-01-01T00:00:00Z' }));
      return send(res, 200, { data, has_more: false, first_id: MODELS[0], last_id: MODELS.at(-1) });
    }
    if (req.method === 'POST' && path === '/v1/messages/count_tokens') return send(res, 200, { input_tokens: 12 });
    if (req.method !== 'POST' || path !== '/v1/messages' || json === undefined)
      return error(res, 404, 'not_found_error', `Not found: ${path}`);
    if (json.max_tokens === undefined) return error(res, 400, 'invalid_request_error', 'max_tokens: Field required');
    const choice = json.tool_choice as Record<string, unknown> | undefined;
    const tool = choice?.type === 'tool' ? (json.tools as Record<string, unknown>[])[0] : undefined;
    const msg = message(String(json.model), state.text, state.usage, tool);
    if (json.stream !== true) return send(res, 200, msg);
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'request-id': 'req_01standin' });
    const events = streamEvents(msg);
    const cut = fault?.kind === 'cut-stream' ? fault.events : undefined;
    for (const [i, e] of events.entries()) {
      if (cut !== undefined && i === cut) {
        // A FIN after the data, not a reset: the events sent arrive, then the body ends unfinished.
        res.socket?.end();
        return;
      }
      res.write(e);
    }
    res.end();
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    get usage() {
      return state.usage;
    },
    set usage(u) {
      state.usage = u;
    },
    get text() {
      return state.text;
    },
    set text(t) {
      state.text = t;
    },
    fault(f, times = 1) {
      active = { fault: f, remaining: times };
    },
    reset() {
      requests.length = 0;
      active = undefined;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
