/**
 * Every way the stand-in provider can misbehave, in REAL and in HYBRID mode, for a JSON chat
 * call, a streamed chat call and an embeddings call. For each: the worker gets the contract's
 * answer (section 3 "Modes", section 5), the CallRecord and the ledger say what happened, the
 * Prometheus counters move by exactly one, no call outlives its timeout, and no group of calls
 * leaves a file descriptor or a socket behind.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { countChatTokens, countTextTokens } from '../../src/providers/openai/tokens.js';
import type { CallRecord } from '../../src/proxy/call.js';
import type { LedgerRow } from '../../src/state/types.js';
import { type Fault, type Standin, startStandin } from '../support/standin.js';
import { startTestTollgate, type TestTollgate, until } from '../support/tollgate.js';
import { type Answer, resources, sample, scrape, send, streamedText } from './support.js';

const KEY = 'sk-test-faults-key-0123456789';
const TIMEOUT_MS = 500;
const STALL_MS = 1500;
/** What a call may take beyond the delay it is bound to (loopback, a 2-core machine under test). */
const SLACK_MS = 1000;
/** Allowed drift in the process's fd count over a group (keep-alive pool sockets come and go). */
const FD_TOLERANCE = 4;

type Mode = 'real' | 'hybrid';
type Kind = 'chat' | 'stream' | 'embeddings';

const MESSAGES = [{ role: 'user', content: 'Tell me how a circuit breaker behaves under partial failures.' }];
const BODIES: Record<Kind, Record<string, unknown>> = {
  chat: { model: 'gpt-4o-mini', messages: MESSAGES },
  stream: { model: 'gpt-4o-mini', messages: MESSAGES, stream: true },
  embeddings: { model: 'text-embedding-3-small', input: 'fault lines and fallbacks' },
};
const PATHS: Record<Kind, string> = {
  chat: '/chat/completions',
  stream: '/chat/completions',
  embeddings: '/embeddings',
};
const OPERATION: Record<Kind, string> = { chat: 'chat', stream: 'chat', embeddings: 'embeddings' };
const MALFORMED_JSON = '{"id":"chatcmpl-broken","object":"chat.completion","choices":[{"index":0,"message":{"role":';
const FALLBACK_REASONS = [
  'no_api_key',
  'circuit_open',
  'upstream_unreachable',
  'upstream_timeout',
  'upstream_5xx',
  'upstream_429',
  'budget_exceeded',
];

/** What the worker must see. */
type Expect =
  | { kind: 'error'; status: number; code: string; boundMs: number }
  | { kind: 'passthrough'; status: number; retryAfter: string | undefined }
  | { kind: 'fallback'; reason: string; minMs: number }
  | { kind: 'cut'; withContent: boolean; minMs: number }
  /** Upstream died after its headers, before any chunk: a 200 cut with no chunk, or `otherwise` (nothing went out yet). */
  | { kind: 'early-cut'; otherwise: Expect }
  | { kind: 'relayed'; body?: string };

interface Case {
  name: string;
  fault: Fault;
  kinds: readonly Kind[];
  expect(mode: Mode, kind: Kind): Expect;
  /** Set when the code contradicts the contract: the test is kept, as a node:test todo. */
  bug?(mode: Mode, kind: Kind): string | undefined;
}

const ALL: readonly Kind[] = ['chat', 'stream', 'embeddings'];
const isJson = (kind: Kind) => kind !== 'stream';

const statusCase = (status: number, retryAfter?: string): Case => ({
  name: `status ${status}${retryAfter ? ` with retry-after ${retryAfter}` : ''}`,
  fault: { kind: 'status', status, ...(retryAfter ? { headers: { 'retry-after': retryAfter } } : {}) },
  kinds: ALL,
  expect: (mode) =>
    mode === 'real'
      ? { kind: 'passthrough', status, retryAfter }
      : { kind: 'fallback', reason: status === 429 ? 'upstream_429' : 'upstream_5xx', minMs: 0 },
});

/** The connection is refused or reset: REAL answers 502, HYBRID falls back at once. */
const unreachableCase = (kind: 'refuse' | 'reset'): Case => ({
  name: kind,
  fault: { kind },
  kinds: ALL,
  expect: (mode) =>
    mode === 'real'
      ? { kind: 'error', status: 502, code: 'upstream_unreachable', boundMs: SLACK_MS }
      : { kind: 'fallback', reason: 'upstream_unreachable', minMs: 0 },
});

const CASES: Case[] = [
  unreachableCase('refuse'),
  unreachableCase('reset'),
  {
    name: 'hang',
    fault: { kind: 'hang' },
    kinds: ALL,
    expect: (mode) =>
      mode === 'real'
        ? { kind: 'error', status: 504, code: 'upstream_timeout', boundMs: TIMEOUT_MS + SLACK_MS }
        : { kind: 'fallback', reason: 'upstream_timeout', minMs: TIMEOUT_MS - 50 },
  },
  statusCase(500),
  statusCase(502),
  statusCase(503),
  statusCase(503, '7'),
  statusCase(429),
  statusCase(429, '3'),
  {
    name: 'close-after-headers',
    fault: { kind: 'close-after-headers' },
    kinds: ALL,
    expect: (mode, kind) => {
      const answer: Expect =
        mode === 'real'
          ? { kind: 'error', status: 502, code: 'upstream_unreachable', boundMs: SLACK_MS }
          : { kind: 'fallback', reason: 'upstream_unreachable', minMs: 0 };
      // Stream headers may already be with the worker (then no fallback), else it gets the JSON call's answer.
      return isJson(kind) ? answer : { kind: 'early-cut', otherwise: answer };
    },
  },
  {
    name: 'reset-mid-body',
    fault: { kind: 'reset-mid-body' },
    kinds: ALL,
    expect: (mode, kind) =>
      !isJson(kind)
        ? { kind: 'cut', withContent: true, minMs: 0 }
        : mode === 'real'
          ? { kind: 'error', status: 502, code: 'upstream_unreachable', boundMs: SLACK_MS }
          : { kind: 'fallback', reason: 'upstream_unreachable', minMs: 0 },
  },
  {
    name: `stall-mid-stream past UPSTREAM_TIMEOUT_MS`,
    fault: { kind: 'stall-mid-stream', ms: STALL_MS },
    kinds: ALL,
    expect: (mode, kind) =>
      !isJson(kind)
        ? { kind: 'cut', withContent: true, minMs: TIMEOUT_MS - 50 }
        : mode === 'real'
          ? { kind: 'error', status: 504, code: 'upstream_timeout', boundMs: TIMEOUT_MS + SLACK_MS }
          : { kind: 'fallback', reason: 'upstream_timeout', minMs: TIMEOUT_MS - 50 },
  },
  {
    name: 'malformed-json',
    fault: { kind: 'malformed-json' },
    kinds: ['chat', 'embeddings'],
    // A 200 is the provider's answer, broken or not: relayed byte for byte, never replaced by the mock.
    expect: () => ({ kind: 'relayed', body: MALFORMED_JSON }),
  },
  {
    name: 'malformed-sse',
    fault: { kind: 'malformed-sse' },
    kinds: ['stream'],
    expect: () => ({ kind: 'relayed' }),
  },
  {
    name: 'bad-usage',
    fault: { kind: 'bad-usage' },
    kinds: ['chat', 'stream'],
    expect: () => ({ kind: 'relayed' }),
  },
];

let serial = 0;

describe('upstream faults', () => {
  let standin: Standin;
  const tg: Partial<Record<Mode, TestTollgate>> = {};

  before(async () => {
    standin = await startStandin({ expectOpenAIKey: KEY, quiet: true });
    for (const mode of ['real', 'hybrid'] as const) {
      tg[mode] = await startTestTollgate({
        OPENAI_MODE: mode,
        LLAMAPARSE_MODE: 'mock',
        OPENAI_API_KEY: KEY,
        OPENAI_UPSTREAM_URL: standin.openaiBase,
        UPSTREAM_TIMEOUT_MS: String(TIMEOUT_MS),
        UPSTREAM_CONNECT_TIMEOUT_MS: String(TIMEOUT_MS),
        CIRCUIT_FAILURE_THRESHOLD: '100000',
        LOG_LEVEL: 'fatal',
      });
    }
  });
  after(async () => {
    await tg.real?.close();
    await tg.hybrid?.close();
    await standin.close();
  });

  const servers = () => [tg.real!.server, tg.hybrid!.server];

  const rowsOf = async (t: TestTollgate, correlationId: string): Promise<LedgerRow[]> =>
    (await t.store.rows({ from: 0, to: Date.now() + 60_000 })).filter((r) => r.correlationId === correlationId);

  const callOf = async (t: TestTollgate, correlationId: string): Promise<CallRecord> => {
    await until(() => t.calls.some((c) => c.correlationId === correlationId), 3000);
    return t.calls.find((c) => c.correlationId === correlationId)!;
  };

  async function runCase(mode: Mode, kind: Kind, c: Case) {
    const t = tg[mode]!;
    let exp = c.expect(mode, kind);
    await standin.setFault(null);
    standin.reset();
    t.circuits.openai.reset();
    const before = await scrape(t.url);
    const hitsBefore = standin.hits();
    await standin.setFault(c.fault, { times: 1, paths: `/v1${PATHS[kind]}` });
    const id = `fault-${mode}-${kind}-${++serial}`;
    const a: Answer = await send(`${t.url}/openai/v1${PATHS[kind]}`, {
      body: JSON.stringify(BODIES[kind]),
      headers: { 'x-correlation-id': id },
      boundMs: TIMEOUT_MS + STALL_MS + 3000,
    });
    await standin.setFault(null);
    assert.equal(a.hung, false, `the call hung (${a.ms.toFixed(0)} ms)`);
    const call = await callOf(t, id);
    const rows = await rowsOf(t, id);
    const text = a.body.toString('utf8');
    if (c.fault.kind !== 'refuse') assert.equal(standin.hits() - hitsBefore, 1, 'one upstream attempt, no retry');

    if (exp.kind === 'early-cut') {
      assert.notEqual(a.status, 0, 'the worker got an HTTP answer, not a bare connection close');
      // Headers are held until the first chunk, so a death before it gets the JSON call's answer (or fallback).
      exp =
        a.status === 200 && a.headers['x-tollgate-fallback'] === undefined
          ? { kind: 'cut', withContent: false, minMs: 0 }
          : exp.otherwise;
    }
    let servedBy: 'real' | 'mock' = 'real';
    let reason: string | undefined;
    switch (exp.kind) {
      case 'error': {
        assert.equal(a.status, exp.status, `status; body ${text.slice(0, 300)}`);
        assert.equal(a.complete, true);
        const err = (JSON.parse(text) as { error: { code: string; type: string; message: string } }).error;
        assert.equal(err.code, exp.code);
        assert.equal(typeof err.message, 'string');
        assert.ok(a.ms < exp.boundMs, `answered in ${a.ms.toFixed(0)} ms, bound ${exp.boundMs}`);
        assert.equal(a.headers['x-tollgate-served-by'], 'real');
        assert.equal(a.headers['x-tollgate-fallback'], undefined);
        assert.equal(call.status, exp.status);
        assert.equal(call.errorType, exp.code);
        assert.equal(rows.length, 0, 'a call that got no answer is not a ledger row');
        break;
      }
      case 'passthrough': {
        assert.equal(a.status, exp.status);
        assert.equal(a.complete, true);
        const err = (JSON.parse(text) as { error: { type: string; message: string } }).error;
        assert.equal(typeof err.message, 'string', 'the provider error body comes through');
        assert.ok(
          !('code' in err) || !['upstream_unreachable', 'upstream_error'].includes(String(err.code)),
          'not replaced by a sidecar error',
        );
        assert.equal(a.headers['retry-after'], exp.retryAfter, 'retry-after passes through unchanged');
        assert.equal(a.headers['x-tollgate-served-by'], 'real');
        assert.match(String(a.headers['x-request-id']), /^req_standin/, 'provider headers pass through');
        assert.ok(a.ms < SLACK_MS);
        assert.equal(call.status, exp.status);
        assert.equal(call.errorType, String(exp.status));
        assert.equal(rows.length, 0, 'a provider error is not booked');
        break;
      }
      case 'fallback': {
        servedBy = 'mock';
        reason = exp.reason;
        assert.equal(a.status, 200, `status; body ${text.slice(0, 300)}`);
        assert.equal(a.complete, true);
        assert.equal(a.headers['x-tollgate-served-by'], 'mock');
        assert.equal(a.headers['x-tollgate-fallback'], exp.reason);
        assert.equal(a.headers['x-tollgate-mode'], 'hybrid');
        assert.ok(a.ms >= exp.minMs, `fell back after ${a.ms.toFixed(0)} ms`);
        assert.ok(a.ms < exp.minMs + SLACK_MS, `fell back after ${a.ms.toFixed(0)} ms`);
        if (kind === 'stream') assert.ok(streamedText(text).length > 0, 'the mock streamed a whole answer');
        else if (kind === 'chat') assert.equal((JSON.parse(text) as { object: string }).object, 'chat.completion');
        else assert.equal((JSON.parse(text) as { object: string }).object, 'list');
        assert.equal(call.servedBy, 'mock');
        assert.equal(call.fallbackReason, exp.reason);
        assert.equal(call.status, 200);
        assert.equal(rows.length, 1, 'the mock answer is booked');
        assert.equal(rows[0]!.servedBy, 'mock');
        assert.equal(rows[0]!.billable, false, 'mock shadow cost does not count against budgets');
        break;
      }
      case 'cut': {
        assert.equal(a.status, 200);
        assert.equal(a.cut, true, 'the worker sees the stream break, not a clean end');
        assert.equal(a.headers['x-tollgate-served-by'], 'real');
        assert.equal(a.headers['x-tollgate-fallback'], undefined, 'never a fallback after the first byte');
        assert.ok(!text.includes('[DONE]'));
        const delivered = streamedText(text);
        if (exp.withContent) assert.ok(delivered.length > 0, 'the first chunks reached the worker');
        else assert.equal(delivered, '');
        assert.ok(a.ms >= exp.minMs && a.ms < exp.minMs + SLACK_MS, `cut after ${a.ms.toFixed(0)} ms`);
        assert.equal(call.servedBy, 'real');
        assert.equal(call.status, 200);
        assert.equal(call.errorType, 'stream_interrupted');
        // What was delivered is metered: the prompt by the tokenizer, the output from the delivered text.
        assert.equal(rows.length, 1, 'a cut stream is still booked');
        assert.equal(rows[0]!.servedBy, 'real');
        assert.equal(rows[0]!.inputTokens, countChatTokens('gpt-4o-mini', MESSAGES));
        assert.equal(rows[0]!.outputTokens, countTextTokens('gpt-4o-mini', delivered));
        break;
      }
      case 'relayed': {
        assert.equal(a.status, 200);
        assert.equal(a.complete, true);
        assert.equal(a.headers['x-tollgate-served-by'], 'real');
        assert.equal(a.headers['x-tollgate-fallback'], undefined, 'a 200 is never replaced by the mock');
        if (exp.body !== undefined) assert.equal(text, exp.body, 'relayed byte for byte');
        assert.equal(call.status, 200);
        assert.equal(call.errorType, undefined);
        assert.equal(rows.length, 1, 'an answered call is booked');
        const row = rows[0]!;
        const prompt =
          kind === 'embeddings'
            ? countTextTokens('text-embedding-3-small', String(BODIES.embeddings['input']))
            : countChatTokens('gpt-4o-mini', MESSAGES);
        // No usable usage: the prompt is counted by the tokenizer, never booked as zero.
        assert.equal(row.inputTokens, prompt);
        if (kind === 'stream') {
          assert.ok(!text.includes('"usage":{'), 'the usage chunk the sidecar asked for is stripped');
          assert.equal(row.outputTokens, countTextTokens('gpt-4o-mini', streamedText(text)));
        } else if (c.fault.kind === 'malformed-json') {
          assert.equal(row.outputTokens, 0, 'nothing parseable was delivered');
          assert.ok(a.headers['x-tollgate-cost-usd'] !== undefined, 'the estimate is priced');
        } else {
          const message = (JSON.parse(text) as { choices: { message: { content: string } }[] }).choices[0]!.message;
          assert.equal(row.outputTokens, countTextTokens('gpt-4o-mini', message.content));
        }
        break;
      }
    }

    // The ledger row was written before the worker saw the end of the answer.
    for (const r of rows) assert.ok(r.ts <= Date.now());
    const after = await scrape(t.url);
    const reqLabels = {
      provider: 'openai',
      operation: OPERATION[kind],
      served_by: servedBy,
      status_code: String(call.status),
    };
    assert.equal(
      sample(after, 'tollgate_requests_total', reqLabels) - sample(before, 'tollgate_requests_total', reqLabels),
      1,
      `tollgate_requests_total ${JSON.stringify(reqLabels)} moved by one`,
    );
    for (const r of FALLBACK_REASONS) {
      const labels = { provider: 'openai', reason: r };
      const delta =
        sample(after, 'tollgate_fallbacks_total', labels) - sample(before, 'tollgate_fallbacks_total', labels);
      assert.equal(delta, r === reason ? 1 : 0, `tollgate_fallbacks_total{reason="${r}"}`);
    }
  }

  for (const mode of ['real', 'hybrid'] as const) {
    for (const kind of ALL) {
      describe(`${mode.toUpperCase()} mode, ${kind === 'stream' ? 'streamed chat' : kind === 'chat' ? 'JSON chat' : 'embeddings'}`, () => {
        let start: { fds: number; sockets: number };
        before(async () => {
          // Warm the keep-alive pool so the first fault does not count as a leak.
          await standin.setFault(null);
          await send(`${tg[mode]!.url}/openai/v1${PATHS[kind]}`, { body: JSON.stringify(BODIES[kind]) });
          start = await resources(servers());
        });
        for (const c of CASES.filter((x) => x.kinds.includes(kind))) {
          const e = c.expect(mode, kind);
          const title =
            e.kind === 'error'
              ? `answers ${e.status} ${e.code} on ${c.name}`
              : e.kind === 'passthrough'
                ? `passes the provider's ${c.name} through unchanged`
                : e.kind === 'fallback'
                  ? `falls back to the mock with ${e.reason} on ${c.name}`
                  : e.kind === 'early-cut'
                    ? `answers (or cuts with no chunk) a stream whose upstream dies after its headers, never a silent close`
                    : e.kind === 'cut'
                      ? `cuts the stream ${e.withContent ? 'after its first chunks' : 'before any chunk'} on ${c.name}, and books what was delivered`
                      : `relays the ${c.name} answer and books it from the prompt`;
          const bug = c.bug?.(mode, kind);
          it(title, bug ? { todo: bug } : {}, () => runCase(mode, kind, c));
        }
        it('leaves no file descriptor or socket behind', async (t) => {
          await standin.setFault(null);
          const end = await resources(servers());
          t.diagnostic(`fds ${start.fds} -> ${end.fds}; sidecar sockets ${start.sockets} -> ${end.sockets}`);
          assert.equal(end.sockets, start.sockets, 'sidecar sockets');
          assert.ok(Math.abs(end.fds - start.fds) <= FD_TOLERANCE, `fds ${start.fds} -> ${end.fds}`);
        });
      });
    }
  }
});

describe('upstream faults the matrix does not reach', () => {
  let standin: Standin;
  let slow: Server;
  let tg: TestTollgate;
  let slowTg: TestTollgate;

  before(async () => {
    standin = await startStandin({ expectOpenAIKey: KEY, quiet: true });
    tg = await startTestTollgate({
      OPENAI_MODE: 'real',
      OPENAI_API_KEY: KEY,
      OPENAI_UPSTREAM_URL: standin.openaiBase,
      UPSTREAM_TIMEOUT_MS: String(TIMEOUT_MS),
      CIRCUIT_FAILURE_THRESHOLD: '2',
      CIRCUIT_RESET_MS: '60000',
      LOG_LEVEL: 'fatal',
    });
    // An upstream that sends a stream's headers at once and its first event only 300 ms later.
    slow = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.flushHeaders();
        setTimeout(() => {
          if (!res.destroyed) res.end('data: {"choices":[{"index":0,"delta":{"content":"late"}}]}\n\ndata: [DONE]\n\n');
        }, 300);
      });
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', () => resolve()));
    slowTg = await startTestTollgate({
      OPENAI_MODE: 'real',
      OPENAI_API_KEY: KEY,
      OPENAI_UPSTREAM_URL: `http://127.0.0.1:${(slow.address() as AddressInfo).port}/v1`,
      LOG_LEVEL: 'fatal',
    });
  });
  after(async () => {
    await tg.close();
    await slowTg.close();
    await standin.close();
    slow.closeAllConnections();
    await new Promise((resolve) => slow.close(resolve));
  });

  it('opens the circuit on repeated failures in the middle of JSON answers', async () => {
    tg.circuits.openai.reset();
    await standin.setFault({ kind: 'reset-mid-body' }, { times: 2, paths: '/v1/chat' });
    for (let i = 0; i < 2; i++) {
      const a = await send(`${tg.url}/openai/v1/chat/completions`, { body: JSON.stringify(BODIES.chat) });
      assert.equal(a.status, 502);
    }
    const hits = standin.hits();
    const third = await send(`${tg.url}/openai/v1/chat/completions`, { body: JSON.stringify(BODIES.chat) });
    assert.equal(third.status, 503);
    assert.equal((JSON.parse(third.body.toString()) as { error: { code: string } }).error.code, 'provider_unavailable');
    assert.equal(standin.hits(), hits, 'no upstream call while the circuit is open');
  });
});
