/**
 * Soak run (`npm run soak`, not part of `npm test`): a bounded run of mixed traffic against a BUILT
 * sidecar child process (telemetry on, metering, limits and budgets on; OpenAI in HYBRID against a
 * stand-in child process, LlamaParse in MOCK) while stand-in faults are switched on and off.
 *
 * It reports calls, errors that no injected fault explains (target < 0.1 %), latency, the sidecar's
 * RSS and open fds over time, ledger rows against the answers the worker saw, and stand-in hits of
 * metered routes against real ledger rows. A table goes to stdout, JSON to bench/results/soak-<ts>.json.
 *
 * Env:
 *   SOAK_SECONDS (600)            how long traffic runs
 *   SOAK_CONCURRENCY (16)         concurrent simulated workers
 *   SOAK_STATE_URL (memory:)      the sidecar's STATE_URL (memory: or sqlite:PATH; redis:// works too)
 *   SOAK_FAULT_SECONDS (10)       a fault is on for this long, then off for as long (a ~20 s cycle)
 *   SOAK_SAMPLE_SECONDS (10)      RSS / fd sampling interval
 *   SOAK_SKIP_BUILD (0)           1: use the dist/ already built
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  type Child,
  freePort,
  installExitHandlers,
  killAll,
  rssMb,
  spawnChild,
  waitForHttp200,
} from '../bench/children.js';
import type { Fault } from '../test/support/standin.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ADMIN_TOKEN = 'soak-admin-token-0123456789abcdef';
const num = (name: string, fallback: number): number => {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number`);
  return v;
};
const SECONDS = num('SOAK_SECONDS', 600);
const CONCURRENCY = Math.floor(num('SOAK_CONCURRENCY', 16));
const FAULT_SECONDS = num('SOAK_FAULT_SECONDS', 10);
const SAMPLE_SECONDS = num('SOAK_SAMPLE_SECONDS', 10);
const STATE_URL = process.env['SOAK_STATE_URL'] ?? 'memory:';
/** Whole-response limit of the sidecar: a hung upstream turns into an upstream_timeout fallback this fast. */
const UPSTREAM_TIMEOUT_MS = 3000;
/** Per-call limit on the worker side, so no loop can wait forever. */
const CALL_TIMEOUT_MS = 30_000;
const STALL_MS = 1000;

/** The faults the stand-in cycles through, each on for SOAK_FAULT_SECONDS, then off as long. */
const FAULTS: Fault[] = [
  { kind: 'status', status: 503 },
  { kind: 'reset' },
  { kind: 'hang' },
  { kind: 'stall-mid-stream', ms: STALL_MS },
  { kind: 'refuse' },
];

type Op =
  | 'chat'
  | 'chat-stream'
  | 'chat-stream-usage'
  | 'embeddings'
  | 'responses'
  | 'responses-stream'
  | 'llamaparse'
  | 'abort';
const MIX: [Op, number][] = [
  ['chat', 28],
  ['chat-stream', 14],
  ['chat-stream-usage', 14],
  ['embeddings', 16],
  ['responses', 8],
  ['responses-stream', 6],
  ['llamaparse', 6],
  ['abort', 8],
];
const MIX_TOTAL = MIX.reduce((s, [, w]) => s + w, 0);

interface CallResult {
  op: string;
  provider: 'openai' | 'llamaparse';
  status: number;
  ms: number;
  servedBy: string | null;
  fallback: string | null;
  /** The worker read the whole answer and it was well-formed. */
  whole: boolean;
  /** The worker aborted on purpose. */
  aborted: boolean;
  error?: string;
  /** Faults on at any time during the call. */
  faults: string[];
}

interface Sample {
  t: number;
  rssMb: number | undefined;
  fds: number | undefined;
  activeHandles: number | undefined;
}

// --------------------------------------------------------------------------------------------
// Fault schedule: the set of faults active during a call is every fault whose window overlaps it.

let activeFault: Fault | null = null;
let faultEpoch = 0;
const faultLog: { kind: string | null; at: number }[] = [];
let control = '';

async function switchFault(fault: Fault | null): Promise<void> {
  const res = await fetch(`${control}/fault`, {
    method: 'POST',
    body: JSON.stringify({ fault }),
    signal: AbortSignal.timeout(5000),
  });
  await res.arrayBuffer();
  if (res.status !== 204) throw new Error(`stand-in control answered ${res.status}`);
  activeFault = fault;
  faultEpoch += 1;
  faultLog.push({ kind: fault?.kind ?? null, at: Date.now() });
}

/** Tracks which faults were on during a call: the one at its start and any switched on before it ended. */
function faultWatch(): () => string[] {
  const startEpoch = faultEpoch;
  const startKind = activeFault?.kind;
  const startLen = faultLog.length;
  return () => {
    const kinds = new Set<string>();
    if (startKind !== undefined) kinds.add(startKind);
    if (faultEpoch !== startEpoch) for (const e of faultLog.slice(startLen)) if (e.kind !== null) kinds.add(e.kind);
    return [...kinds];
  };
}

// --------------------------------------------------------------------------------------------
// Traffic.

let origin = '';
const results: CallResult[] = [];
let sequence = 0;

const CHAT_PROMPTS = ['Summarise the soak run.', 'Say something short.', 'List three colours.', 'Hello there.'];

function pick(): Op {
  let r = Math.random() * MIX_TOTAL;
  for (const [op, w] of MIX) {
    r -= w;
    if (r < 0) return op;
  }
  return 'chat';
}

/** Whether a call's failure is one the contract allows while these faults were on (HYBRID OpenAI). */
function explained(r: CallResult): boolean {
  if (r.aborted) return true;
  if (r.provider === 'llamaparse') return false; // MOCK: faults of the stand-in never apply
  if (r.faults.length === 0) return false;
  // Before the first byte every fault must turn into a mock fallback (a 200). After it, a stream may
  // fail: only a stall can do that here (the upstream is cut by the whole-response timeout).
  if (r.status === 200 && r.faults.includes('stall-mid-stream')) return true;
  if (r.status === 200 && r.faults.includes('hang')) return true; // a stream cut at UPSTREAM_TIMEOUT_MS
  return false;
}

async function timed(
  op: string,
  provider: 'openai' | 'llamaparse',
  path: string,
  init: RequestInit,
  read: (res: Response) => Promise<boolean>,
  abortAfterFirstChunk = false,
): Promise<CallResult> {
  const watch = faultWatch();
  const t0 = performance.now();
  const abort = new AbortController();
  const timeout = setTimeout(() => abort.abort(new Error('worker timeout')), CALL_TIMEOUT_MS);
  const result: CallResult = {
    op,
    provider,
    status: 0,
    ms: 0,
    servedBy: null,
    fallback: null,
    whole: false,
    aborted: false,
    faults: [],
  };
  try {
    const res = await fetch(`${origin}${path}`, {
      ...init,
      headers: { 'x-correlation-id': `soak-${++sequence}`, ...(init.headers as Record<string, string>) },
      signal: abort.signal,
    });
    result.status = res.status;
    result.servedBy = res.headers.get('x-tollgate-served-by');
    result.fallback = res.headers.get('x-tollgate-fallback');
    if (abortAfterFirstChunk && res.body !== null) {
      const reader = res.body.getReader();
      await reader.read();
      result.aborted = true;
      abort.abort(new Error('client abort'));
      await reader.read().catch(() => undefined);
    } else {
      result.whole = await read(res);
      if (!result.whole) result.error = 'malformed or incomplete body';
    }
  } catch (err) {
    if (!result.aborted) result.error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  } finally {
    clearTimeout(timeout);
  }
  result.ms = performance.now() - t0;
  result.faults = watch();
  if (result.status !== 200 && result.error === undefined && !result.aborted) result.error = `status ${result.status}`;
  results.push(result);
  return result;
}

const json = (body: unknown): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization: 'Bearer sk-worker-placeholder' },
  body: JSON.stringify(body),
});
const readJson = async (res: Response) => {
  const text = await res.text();
  if (res.status !== 200) return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
};
const readSse = (end: RegExp) => async (res: Response) => {
  const text = await res.text();
  return res.status === 200 && end.test(text);
};

async function llamaparse(n: number): Promise<void> {
  const form = new FormData();
  form.append('file', new Blob([`# Soak document ${n}\n\nSome text for page one.\n`]), `soak-${n}.md`);
  let jobId: string | undefined;
  const up = await timed(
    'llamaparse-upload',
    'llamaparse',
    '/llamaparse/api/v1/parsing/upload',
    { method: 'POST', body: form },
    async (res) => {
      const body = (await res.json().catch(() => ({}))) as { id?: string };
      jobId = body.id;
      return res.status === 200 && typeof body.id === 'string';
    },
  );
  if (up.status !== 200 || jobId === undefined) return;
  const id = jobId;
  // Bounded polling: the mock finishes after MOCK_PARSE_DELAY_MS.
  for (let i = 0; i < 50; i++) {
    let status = '';
    const r = await timed('llamaparse-job', 'llamaparse', `/llamaparse/api/v1/parsing/job/${id}`, {}, async (res) => {
      const body = (await res.json().catch(() => ({}))) as { status?: string };
      status = body.status ?? '';
      return res.status === 200 && status !== '';
    });
    if (r.status !== 200 || status === 'SUCCESS' || status === 'ERROR') break;
    await sleep(100);
  }
  await timed('llamaparse-result', 'llamaparse', `/llamaparse/api/v1/parsing/job/${id}/result/markdown`, {}, readJson);
}

async function one(op: Op, n: number): Promise<void> {
  const messages = [{ role: 'user', content: CHAT_PROMPTS[n % CHAT_PROMPTS.length] }];
  switch (op) {
    case 'chat':
      await timed(
        op,
        'openai',
        '/openai/v1/chat/completions',
        json({ model: 'gpt-4o-mini', messages, max_tokens: 16 }),
        readJson,
      );
      return;
    case 'chat-stream':
      await timed(
        op,
        'openai',
        '/openai/v1/chat/completions',
        json({ model: 'gpt-4o-mini', messages, stream: true }),
        readSse(/data: \[DONE\]\s*$/),
      );
      return;
    case 'chat-stream-usage':
      await timed(
        op,
        'openai',
        '/openai/v1/chat/completions',
        json({ model: 'gpt-4o-mini', messages, stream: true, stream_options: { include_usage: true } }),
        readSse(/"usage":\{[^}]*"prompt_tokens"[\s\S]*data: \[DONE\]\s*$/),
      );
      return;
    case 'embeddings':
      await timed(
        op,
        'openai',
        '/openai/v1/embeddings',
        json({ model: 'text-embedding-3-small', input: [`soak ${n % 64}`, 'second input'] }),
        readJson,
      );
      return;
    case 'responses':
      await timed(
        op,
        'openai',
        '/openai/v1/responses',
        json({ model: 'gpt-4o-mini', input: 'Hi', max_output_tokens: 16 }),
        readJson,
      );
      return;
    case 'responses-stream':
      await timed(
        op,
        'openai',
        '/openai/v1/responses',
        json({ model: 'gpt-4o-mini', input: 'Hi', stream: true }),
        readSse(/event: response\.(completed|incomplete)/),
      );
      return;
    case 'llamaparse':
      await llamaparse(n);
      return;
    case 'abort':
      await timed(
        op,
        'openai',
        '/openai/v1/chat/completions',
        json({ model: 'gpt-4o-mini', messages, stream: true }),
        async () => true,
        true,
      );
      return;
  }
}

async function worker(deadline: number): Promise<void> {
  let n = 0;
  while (Date.now() < deadline) {
    n += 1;
    await one(pick(), n);
  }
}

// --------------------------------------------------------------------------------------------
// Sampling.

async function fdCount(pid: number): Promise<number | undefined> {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}

async function activeHandles(): Promise<number | undefined> {
  try {
    const text = await (await fetch(`${origin}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    const m = /^nodejs_active_handles(?:_total)?(?:\{[^}]*\})?\s+([0-9.e+]+)/m.exec(text);
    return m === null ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

async function sample(pid: number, t0: number): Promise<Sample> {
  return {
    t: Math.round((Date.now() - t0) / 1000),
    rssMb: await rssMb(pid),
    fds: await fdCount(pid),
    activeHandles: await activeHandles(),
  };
}

// --------------------------------------------------------------------------------------------
// Reporting.

const percentile = (sorted: number[], p: number): number =>
  sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number);
const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;

function series(values: (number | undefined)[]) {
  const v = values.filter((x): x is number => x !== undefined);
  if (v.length === 0) return null;
  return { start: round(v[0]!), min: round(Math.min(...v)), max: round(Math.max(...v)), end: round(v.at(-1)!) };
}

interface Costs {
  total: { requests: number };
  by_served_by: Record<string, { requests: number }>;
  groups: { provider: string; served_by?: string; requests: number }[];
}

async function costs(): Promise<Costs> {
  const res = await fetch(`${origin}/admin/costs?window=day&group_by=provider,served_by`, {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    signal: AbortSignal.timeout(10_000),
  });
  if (res.status !== 200) throw new Error(`/admin/costs answered ${res.status}`);
  return (await res.json()) as Costs;
}

const rows = (c: Costs, provider: string, servedBy?: string) =>
  c.groups
    .filter((g) => g.provider === provider && (servedBy === undefined || g.served_by === servedBy))
    .reduce((s, g) => s + g.requests, 0);

// --------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  installExitHandlers();
  if (process.env['SOAK_SKIP_BUILD'] !== '1') {
    process.stderr.write('soak: building\n');
    const build = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    if (build.status !== 0) throw new Error(`build failed:\n${build.stdout}${build.stderr}`);
  }

  // A loopback OTLP/HTTP receiver, so the exporter really runs; it counts, it keeps nothing.
  let otlpBytes = 0;
  let otlpPosts = 0;
  const receiver: Server = createServer((req, res) => {
    req.on('data', (c: Buffer) => {
      otlpBytes += c.length;
    });
    req.on('end', () => {
      otlpPosts += 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));

  const children: Child[] = [];
  const spool = mkdtempSync(join(tmpdir(), 'tollgate-soak-'));
  try {
    const standin = spawnChild(
      'stand-in',
      ['--import', 'tsx', join(ROOT, 'scripts/soak-standin.ts')],
      { PATH: process.env['PATH'], SOAK_CHUNK_GAP_MS: process.env['SOAK_CHUNK_GAP_MS'] ?? '5' },
      ROOT,
    );
    children.push(standin);
    const m = await standin.waitForLine(/^LISTENING (\d+) (\d+)$/, 30_000);
    const upstream = `http://127.0.0.1:${m[1]}`;
    control = `http://127.0.0.1:${m[2]}`;

    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    const sidecar = spawnChild(
      'tollgate',
      ['--enable-source-maps', 'dist/cli.js', 'serve'],
      {
        PATH: process.env['PATH'],
        HOME: process.env['HOME'],
        NODE_ENV: 'production',
        HOST: '127.0.0.1',
        PORT: String(port),
        ENV_FILE: '',
        STATE_URL: STATE_URL,
        STATE_SPOOL_DIR: spool,
        OPENAI_MODE: 'hybrid',
        LLAMAPARSE_MODE: 'mock',
        OPENAI_API_KEY: 'sk-soak-0000000000000000',
        OPENAI_UPSTREAM_URL: `${upstream}/v1`,
        ADMIN_TOKEN,
        // Limits and budgets on, high enough that the soak never reaches them: every call reserves and settles.
        OPENAI_REQUESTS_PER_HOUR: '1000000000',
        OPENAI_TOKENS_PER_HOUR: '100000000000',
        LLAMAPARSE_REQUESTS_PER_HOUR: '1000000000',
        LLAMAPARSE_PAGES_PER_HOUR: '1000000000',
        BUDGET_DAILY_USD: '1000000',
        UPSTREAM_TIMEOUT_MS: String(UPSTREAM_TIMEOUT_MS),
        UPSTREAM_CONNECT_TIMEOUT_MS: '1000',
        CIRCUIT_FAILURE_THRESHOLD: '5',
        CIRCUIT_RESET_MS: '3000',
        HEALTH_CHECK_INTERVAL_MS: '5000',
        HEALTH_CHECK_TIMEOUT_MS: '1000',
        MOCK_PARSE_DELAY_MS: '200',
        LOG_LEVEL: 'info',
        SHUTDOWN_GRACE_MS: '5000',
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_SERVICE_NAME: 'tollgate-soak',
      },
      ROOT,
    );
    children.push(sidecar);
    await waitForHttp200(sidecar, `${origin}/readyz`, 30_000);
    const before = await costs();
    const statsBefore = (await (await fetch(`${control}/stats`)).json()) as StandinStats;

    process.stderr.write(
      `soak: ${SECONDS} s, concurrency ${CONCURRENCY}, state ${STATE_URL}, faults ${FAULT_SECONDS} s on / ${FAULT_SECONDS} s off\n`,
    );
    const t0 = Date.now();
    const deadline = t0 + SECONDS * 1000;
    const samples: Sample[] = [await sample(sidecar.pid, t0)];
    let stop = false;
    const sampler = (async () => {
      while (!stop && !sidecar.exited() && Date.now() < deadline) {
        await sleep(Math.min(SAMPLE_SECONDS * 1000, Math.max(0, deadline - Date.now())));
        if (stop) break;
        const s = await sample(sidecar.pid, t0);
        samples.push(s);
        process.stderr.write(
          `soak: t=${s.t}s calls=${results.length} rss=${s.rssMb?.toFixed(1)}MB fds=${s.fds} fault=${activeFault?.kind ?? '-'}\n`,
        );
      }
    })();
    const faults = (async () => {
      let i = 0;
      while (!stop) {
        await sleep(Math.min(FAULT_SECONDS * 1000, Math.max(0, deadline - Date.now())));
        if (stop || Date.now() >= deadline) break;
        await switchFault(FAULTS[i % FAULTS.length]!);
        i += 1;
        await sleep(Math.min(FAULT_SECONDS * 1000, Math.max(0, deadline - Date.now())));
        await switchFault(null);
      }
    })();
    await Promise.all(Array.from({ length: CONCURRENCY }, () => worker(deadline)));
    stop = true;
    await faults;
    if (activeFault !== null) await switchFault(null);
    await sampler;
    // Let the last settles land (the ledger is written before the last byte, so this is belt and braces).
    await sleep(500);
    samples.push(await sample(sidecar.pid, t0));
    const after = await costs();
    const statsAfter = (await (await fetch(`${control}/stats`)).json()) as StandinStats;
    const crashed = sidecar.exited();

    // ----- figures
    const unexplained = results.filter((r) => (r.error !== undefined || !r.whole) && !r.aborted && !explained(r));
    const explainedFailures = results.filter((r) => (r.error !== undefined || !r.whole) && !r.aborted && explained(r));
    const latencies = results.filter((r) => !r.aborted).map((r) => r.ms);
    latencies.sort((a, b) => a - b);
    const byOp = new Map<string, number[]>();
    for (const r of results) {
      if (r.aborted) continue;
      const list = byOp.get(r.op) ?? [];
      list.push(r.ms);
      byOp.set(r.op, list);
    }
    const wholeOk = (p: string) => results.filter((r) => r.provider === p && r.status === 200 && r.whole).length;
    const abortedN = (p: string) => results.filter((r) => r.provider === p && r.aborted).length;
    const diff = (p: string, s?: string) => rows(after, p, s) - rows(before, p, s);
    const meteredHits = (s: StandinStats) => Object.values(s.hits).reduce((a, b) => a + b, 0);
    const faultedHits = (s: StandinStats) =>
      Object.values(s.faulted).reduce((a, byPath) => a + Object.values(byPath).reduce((x, y) => x + y, 0), 0);
    const stallHits = (s: StandinStats) =>
      Object.values(s.faulted['stall-mid-stream'] ?? {}).reduce((x, y) => x + y, 0);
    const hits = meteredHits(statsAfter) - meteredHits(statsBefore);
    const hitsFaulted = faultedHits(statsAfter) - faultedHits(statsBefore);
    const hitsStalled = stallHits(statsAfter) - stallHits(statsBefore);
    const fallbacks: Record<string, number> = {};
    for (const r of results) if (r.fallback !== null) fallbacks[r.fallback] = (fallbacks[r.fallback] ?? 0) + 1;

    const summary = {
      started: new Date(t0).toISOString(),
      seconds: SECONDS,
      concurrency: CONCURRENCY,
      state_url: STATE_URL,
      sidecar_crashed: crashed,
      calls: results.length,
      aborted_on_purpose: results.filter((r) => r.aborted).length,
      failures_explained_by_fault: explainedFailures.length,
      unexplained_errors: unexplained.length,
      unexplained_error_rate: results.length === 0 ? 0 : unexplained.length / results.length,
      unexplained_examples: unexplained.slice(0, 20),
      fallbacks,
      faults_switched: faultLog,
      latency_ms: {
        p50: round(percentile(latencies, 50)),
        p99: round(percentile(latencies, 99)),
        by_op: Object.fromEntries(
          [...byOp].map(([op, v]) => {
            v.sort((a, b) => a - b);
            return [op, { n: v.length, p50: round(percentile(v, 50)), p99: round(percentile(v, 99)) }];
          }),
        ),
      },
      rss_mb: series(samples.map((s) => s.rssMb)),
      fds: series(samples.map((s) => s.fds)),
      active_handles: series(samples.map((s) => s.activeHandles)),
      samples,
      ledger: {
        rows: after.total.requests - before.total.requests,
        openai_rows: diff('openai'),
        openai_real_rows: diff('openai', 'real'),
        openai_mock_rows: diff('openai', 'mock'),
        llamaparse_rows: diff('llamaparse'),
        worker_whole_metered_200: wholeOk('openai') + wholeOk('llamaparse'),
        worker_whole_200_openai: wholeOk('openai'),
        worker_whole_200_llamaparse: wholeOk('llamaparse'),
        worker_aborted_openai: abortedN('openai'),
        // LlamaParse books once per job: one row per upload the worker saw accepted.
        llamaparse_jobs: results.filter((r) => r.op === 'llamaparse-upload' && r.status === 200 && r.whole).length,
      },
      upstream: {
        metered_hits: hits,
        hits_while_fault_on: hitsFaulted,
        hits_while_stall_on: hitsStalled,
        hits_clean_plus_stalled: hits - hitsFaulted + hitsStalled,
        ledger_real_rows: diff('openai', 'real'),
      },
      otlp: { posts: otlpPosts, bytes: otlpBytes },
    };

    const l = summary.ledger;
    const u = summary.upstream;
    const table: [string, string][] = [
      ['calls (worker HTTP calls)', String(summary.calls)],
      ['aborted on purpose', String(summary.aborted_on_purpose)],
      ['failures explained by an active fault', String(summary.failures_explained_by_fault)],
      [
        'unexplained errors',
        `${summary.unexplained_errors} (${(summary.unexplained_error_rate * 100).toFixed(3)} %, target < 0.1 %)`,
      ],
      [
        'fallbacks seen',
        Object.entries(fallbacks)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ') || '-',
      ],
      ['latency p50 / p99 (ms)', `${summary.latency_ms.p50} / ${summary.latency_ms.p99}`],
      ['RSS MB start/min/max/end', fmtSeries(summary.rss_mb)],
      ['open fds start/min/max/end', fmtSeries(summary.fds)],
      ['active handles', fmtSeries(summary.active_handles)],
      ['ledger rows (Δ /admin/costs total)', String(l.rows)],
      [
        '  worker whole metered 200s',
        `${l.worker_whole_metered_200} (openai ${l.worker_whole_200_openai}, llamaparse ${l.worker_whole_200_llamaparse})`,
      ],
      [
        '  openai rows / + aborted streams',
        `${l.openai_rows} vs whole ${l.worker_whole_200_openai} + aborted ${l.worker_aborted_openai}`,
      ],
      ['  llamaparse rows', `${l.llamaparse_rows} vs jobs ${l.llamaparse_jobs} (one row per job)`],
      [
        'stand-in metered hits',
        `${u.metered_hits} (fault on: ${u.hits_while_fault_on}, of which stall: ${u.hits_while_stall_on})`,
      ],
      ['  clean + stalled hits vs real rows', `${u.hits_clean_plus_stalled} vs ${u.ledger_real_rows}`],
      ['OTLP exports', `${otlpPosts} posts, ${(otlpBytes / 1024).toFixed(0)} KiB`],
      ['sidecar crashed', String(crashed)],
    ];
    const w = Math.max(...table.map(([k]) => k.length));
    process.stdout.write(`\ntollgate soak (${SECONDS} s, concurrency ${CONCURRENCY}, ${STATE_URL})\n`);
    for (const [k, v] of table) process.stdout.write(`${k.padEnd(w)}  ${v}\n`);
    if (unexplained.length > 0) {
      process.stdout.write('\nunexplained (first 5):\n');
      for (const r of unexplained.slice(0, 5)) process.stdout.write(`  ${JSON.stringify(r)}\n`);
    }
    const dir = join(ROOT, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `soak-${new Date(t0).toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, `${JSON.stringify(summary, null, 2)}\n`);
    process.stdout.write(`\nwritten ${file}\n`);
    process.exitCode = crashed || summary.unexplained_error_rate >= 0.001 ? 1 : 0;
  } finally {
    for (const c of children.reverse()) await c.stop();
    receiver.close();
    rmSync(spool, { recursive: true, force: true });
  }
}

interface StandinStats {
  hits: Record<string, number>;
  faulted: Record<string, Record<string, number>>;
}

function fmtSeries(s: { start: number; min: number; max: number; end: number } | null): string {
  return s === null ? 'not exposed' : `${s.start} / ${s.min} / ${s.max} / ${s.end}`;
}

main().catch((err: unknown) => {
  process.stderr.write(`soak: ${err instanceof Error ? err.stack : String(err)}\n`);
  killAll();
  process.exitCode = 1;
});
