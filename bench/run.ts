/**
 * `npm run bench`: named contenders against one stand-in upstream, side by side.
 *
 * Contenders (BENCH_CONTENDERS, comma-separated): direct, pipe, tollgate-real (telemetry on, as npm start),
 * tollgate-real-notel (OTEL_SDK_DISABLED), tollgate-mock,
 * tollgate-real-sqlite, and tollgate-real-redis (a private redis-server; BENCH_REDIS=0 leaves it out). Every server is its own child process on
 * 127.0.0.1; the load generator runs here. `--json` prints the results as JSON instead of the
 * table and writes them to bench/results/<timestamp>.json.
 *
 * Scenarios per contender: chat throughput and one-connection latency, streamed chats, embeddings
 * throughput; then, for pipe and every tollgate contender, the RSS run: BENCH_RSS_REQUESTS chats at
 * BENCH_CONNECTIONS with the server's RSS read after each third (issue 6: under 150 MB after 100k and
 * flat; printed as a second table). For tollgate-real-redis the private redis-server's INFO commandstats
 * is read around the chat scenario (commands per proxied call); the "store cost" table gives the
 * sqlite and Redis contenders' one-connection p50 over tollgate-real's (memory store). Before all that,
 * each tollgate contender's first chat and first embeddings call after /readyz turned 200 are timed
 * against the p50 of the 50 calls after them (the "first call after ready" table). With
 * BENCH_ROUNDS > 1 every number, the new ones included, is the median over the rounds.
 *
 * Settings: BENCH_CONNECTIONS (32), BENCH_DURATION seconds (5), BENCH_WARMUP seconds (1),
 * BENCH_STREAM_REQUESTS (200), BENCH_STREAM_CHUNKS (8), BENCH_CHUNK_GAP_MS (2),
 * BENCH_LATENCY_MAX_REQUESTS (20000), BENCH_RSS_REQUESTS (150000; 0 skips the RSS run, else at least
 * 3 × BENCH_CONNECTIONS; at ~1000 req/s that is ~2.5 minutes per contender), BENCH_ROUNDS (1),
 * BENCH_REDIS (0 leaves the Redis contender out), BENCH_LOG_LEVEL (info: the sidecars log a line per call), BENCH_REDIS_URL (default: a private redis-server
 * on a free port; another server must be on 127.0.0.1, and its other clients' commands then count
 * in commands per call), BENCH_TOLLGATE_CLI (dist/cli.js; telemetry/register.js is taken next to it),
 * BENCH_INSTRUMENTATIONS (the tollgate contenders' OTEL_NODE_ENABLED_INSTRUMENTATIONS: `none`,
 * `runtime-node`, `ioredis`, `pino`, comma-separated; unset: the sidecar's default). Two runs that
 * differ only in it give an instrumentation's cost as the ratio of their tollgate rows.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { startRedis, stopRedis } from '../test/support/redis.js';
import {
  type Child,
  compileForNode,
  cpuMicros,
  freePort,
  installExitHandlers,
  killAll,
  rssMb,
  spawnChild,
  waitForHttp200,
} from './children.js';
import {
  FIRST_CALL_LEGEND,
  formatFirstCallTable,
  formatRssTable,
  formatStoreCostTable,
  formatTable,
  LEGEND,
  type Measurement,
  medians,
  RSS_LEGEND,
  rssSummary,
  STORE_LEGEND,
  storeCosts,
  withRatios,
} from './report.js';
import {
  CHAT_BODY,
  chatPath,
  EMBEDDINGS_BODY,
  embeddingsPath,
  firstCall,
  fixedAmount,
  latencyOneConnection,
  streaming,
  type Target,
  throughput,
} from './scenarios.js';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
// BENCH_TOLLGATE_CLI lets a run compare another build (e.g. a branch's dist) against the same upstream.
const CLI = process.env['BENCH_TOLLGATE_CLI'] ?? join(ROOT, 'dist', 'cli.js');
const BUILD_DIR = join(ROOT, 'node_modules', '.cache', 'tollgate-bench');
const KNOWN = [
  'direct',
  'pipe',
  'tollgate-real',
  'tollgate-real-notel',
  'tollgate-real-sqlite',
  'tollgate-mock',
  'tollgate-real-redis',
] as const;
const READY_TIMEOUT_MS = 20_000;
/** Time for the last call's settlement to reach the store before its commands are counted. */
const SETTLE_MS = 200;
const LISTEN_TIMEOUT_MS = 10_000;

type ContenderName = (typeof KNOWN)[number];

interface Settings {
  connections: number;
  durationS: number;
  warmupS: number;
  streamRequests: number;
  streamChunks: number;
  chunkGapMs: number;
  latencyMaxRequests: number;
  /** Chats in the RSS run (0: no RSS run), sampled after each third. */
  rssRequests: number;
  rounds: number;
  contenders: ContenderName[];
  redisUrl: string;
  /** The sidecars' LOG_LEVEL: `info` (a line per call, as issue 19's "everything on" asks) unless set. */
  logLevel: string;
  /** Where tollgate contenders export spans (a sink in this process): tracing on, as in production. */
  otlpSink: string;
  /** OTEL_NODE_ENABLED_INSTRUMENTATIONS for the tollgate contenders ('' = the sidecar's default). */
  instrumentations: string;
}

interface Running {
  target: Target;
  /** The upstream stand-in, which counts the calls it receives. */
  upstream: Child;
  /** The process whose memory is reported. */
  pid: number;
  stop(): Promise<void>;
}

function readSettings(env: NodeJS.ProcessEnv): Settings {
  const problems: string[] = [];
  function int(name: string, fallback: number, min: number): number {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min) {
      problems.push(`${name}=${raw}: expected an integer ≥ ${min}`);
      return fallback;
    }
    return value;
  }
  // A private redis-server is started for the fleet contender unless BENCH_REDIS=0.
  const redis = env['BENCH_REDIS'] !== '0';
  const defaults: ContenderName[] = [
    'direct',
    'pipe',
    'tollgate-real',
    'tollgate-real-notel',
    'tollgate-real-sqlite',
    'tollgate-mock',
  ];
  if (redis) defaults.push('tollgate-real-redis');
  const requested = (env['BENCH_CONTENDERS'] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const name of requested) {
    if (!(KNOWN as readonly string[]).includes(name)) {
      problems.push(`BENCH_CONTENDERS: unknown contender "${name}" (known: ${KNOWN.join(', ')})`);
    }
  }
  const contenders =
    requested.length === 0
      ? defaults
      : (requested.filter((n) => KNOWN.includes(n as ContenderName)) as ContenderName[]);
  if (contenders.includes('tollgate-real-redis') && !redis) {
    problems.push('BENCH_CONTENDERS: tollgate-real-redis needs Redis (BENCH_REDIS is 0)');
  }
  const settings: Settings = {
    connections: int('BENCH_CONNECTIONS', 32, 1),
    durationS: int('BENCH_DURATION', 5, 1),
    warmupS: int('BENCH_WARMUP', 1, 0),
    streamRequests: int('BENCH_STREAM_REQUESTS', 200, 1),
    streamChunks: int('BENCH_STREAM_CHUNKS', 8, 1),
    chunkGapMs: int('BENCH_CHUNK_GAP_MS', 2, 0),
    latencyMaxRequests: int('BENCH_LATENCY_MAX_REQUESTS', 20_000, 1),
    rssRequests: int('BENCH_RSS_REQUESTS', 150_000, 0),
    rounds: int('BENCH_ROUNDS', 1, 1),
    contenders,
    redisUrl: env['BENCH_REDIS_URL'] ?? '',
    logLevel: env['BENCH_LOG_LEVEL'] ?? 'info',
    instrumentations: env['BENCH_INSTRUMENTATIONS'] ?? '',
    otlpSink: '',
  };
  if (
    settings.redisUrl !== '' &&
    !settings.redisUrl.startsWith('redis://127.0.0.1') &&
    !settings.redisUrl.startsWith('redis://localhost')
  ) {
    problems.push('BENCH_REDIS_URL: the benchmark only talks to 127.0.0.1');
  }
  // autocannon refuses an amount smaller than its connections, and each third is one autocannon run.
  if (settings.rssRequests > 0 && Math.min(...rssSteps(settings.rssRequests)) < settings.connections) {
    problems.push(
      `BENCH_RSS_REQUESTS=${settings.rssRequests}: expected 0 (skip) or at least 3 × BENCH_CONNECTIONS ` +
        `(${3 * settings.connections})`,
    );
  }
  if (problems.length > 0) throw new Error(`invalid benchmark settings:\n  ${problems.join('\n  ')}`);
  return settings;
}

/** The RSS run's three parts: `total` split into thirds (the last takes the remainder). */
function rssSteps(total: number): [number, number, number] {
  const first = Math.round(total / 3);
  const second = Math.round((2 * total) / 3) - first;
  return [first, second, total - first - second];
}

interface RedisCounts {
  /** Calls per command name from `INFO commandstats` (`cmdstat_evalsha:calls=12,usec=…`). */
  calls: Map<string, number>;
  /** `INFO stats` total_reads_processed: socket reads, one per round trip a client makes. */
  reads: number;
}

async function redisCounts(url: string): Promise<RedisCounts> {
  const client = new Redis(url, { enableReadyCheck: false, maxRetriesPerRequest: 1, lazyConnect: true });
  try {
    await client.connect();
    const info = await client.info('commandstats');
    const calls = new Map<string, number>();
    for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
      calls.set(match[1] as string, Number(match[2]));
    }
    const reads = /^total_reads_processed:(\d+)/m.exec(await client.info('stats'));
    return { calls, reads: Number(reads?.[1] ?? Number.NaN) };
  } finally {
    client.disconnect();
  }
}

const SCRIPT_COMMANDS = new Set(['eval', 'evalsha', 'eval_ro', 'evalsha_ro', 'fcall', 'fcall_ro']);

// What the probe itself sends (SELECT only for a URL with a database other than 0).
const PROBE_COMMANDS = new Set(['info', 'select']);
// The probe's own socket reads between two snapshots, at most: the INFO stats after the first
// snapshot's, and the connect and INFO commandstats of the second.
const PROBE_READS = 3;

/** Commands run and socket reads between two snapshots, per request; the probe's own are left out. */
function commandsPerCall(
  before: RedisCounts,
  after: RedisCounts,
  requests: number,
): Pick<Measurement, 'redisCommandsPerCall' | 'redisScriptsPerCall' | 'redisReadsPerCall' | 'redisCommands'> {
  const perCommand: Record<string, number> = {};
  let total = 0;
  let scripts = 0;
  for (const [name, calls] of [...after.calls].sort(([a], [b]) => a.localeCompare(b))) {
    if (PROBE_COMMANDS.has(name)) continue;
    const ran = calls - (before.calls.get(name) ?? 0);
    if (ran <= 0) continue;
    total += ran;
    if (SCRIPT_COMMANDS.has(name)) scripts += ran;
    perCommand[name] = ran / requests;
  }
  if (requests === 0) return {};
  const out = { redisCommandsPerCall: total / requests, redisScriptsPerCall: scripts / requests };
  const reads = after.reads - before.reads - PROBE_READS;
  return {
    ...out,
    ...(Number.isFinite(reads) ? { redisReadsPerCall: reads / requests } : {}),
    redisCommands: perCommand,
  };
}

function progress(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

interface Standin {
  child: Child;
  origin: string;
}

/** Chat completions the stand-in has received so far (through whichever contender). */
async function upstreamChats(upstream: Child): Promise<number> {
  const match = await upstream.ask('HITS /v1/chat/completions', /^HITS (\d+)$/, LISTEN_TIMEOUT_MS);
  return Number(match[1]);
}

async function startStandinProcess(script: string, settings: Settings): Promise<Standin> {
  const child = spawnChild(
    'stand-in',
    [script],
    {
      PATH: process.env['PATH'],
      BENCH_STREAM_CHUNKS: String(settings.streamChunks),
      BENCH_CHUNK_GAP_MS: String(settings.chunkGapMs),
    },
    ROOT,
  );
  const match = await child.waitForLine(/^LISTENING (\d+)$/, LISTEN_TIMEOUT_MS);
  return { child, origin: `http://127.0.0.1:${match[1]}` };
}

async function startPipe(script: string, standin: Standin): Promise<Running> {
  const child = spawnChild(
    'pipe',
    [script],
    { PATH: process.env['PATH'], UPSTREAM_URL: standin.origin, PORT: '0' },
    ROOT,
  );
  try {
    const match = await child.waitForLine(/^LISTENING (\d+)$/, LISTEN_TIMEOUT_MS);
    return {
      target: { origin: `http://127.0.0.1:${match[1]}`, openaiPrefix: '/openai' },
      upstream: standin.child,
      pid: child.pid,
      stop: child.stop,
    };
  } catch (err) {
    await child.stop();
    throw err;
  }
}

async function startTollgate(name: ContenderName, standin: Standin, settings: Settings): Promise<Running> {
  const upstream = standin.origin;
  const port = await freePort();
  // A minimal environment, so a developer's shell (OTEL_*, CONFIG_FILE, real keys) cannot skew the run.
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'],
    HOME: process.env['HOME'],
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: String(port),
    SERVICE_MODE: name === 'tollgate-mock' ? 'mock' : 'real',
    // The stand-in speaks OpenAI and LlamaParse; Anthropic (no key here) stays on its mock.
    ANTHROPIC_MODE: 'mock',
    OPENAI_API_KEY: 'sk-bench-0000000000000000',
    LLAMA_CLOUD_API_KEY: 'llx-bench-0000000000000000',
    OPENAI_UPSTREAM_URL: `${upstream}/v1`,
    LLAMAPARSE_UPSTREAM_URL: upstream,
    STATE_URL:
      name === 'tollgate-real-redis'
        ? settings.redisUrl
        : name === 'tollgate-real-sqlite'
          ? `sqlite:${join(mkdtempSync(join(tmpdir(), 'tollgate-bench-')), 'bench.db')}`
          : 'memory:',
    STATE_SPOOL_DIR: join(tmpdir(), `tollgate-bench-spool-${port}`),
    // Metering and limits on: a budget no run reaches, so every call is reserved and settled.
    BUDGET_DAILY_USD: '1000000',
    LOG_LEVEL: settings.logLevel,
    ENV_FILE: '/dev/null',
    OPENAI_REQUESTS_PER_HOUR: '1000000000',
    OPENAI_TOKENS_PER_HOUR: '100000000000',
    // The mock streams with the same pacing as the stand-in, so gaps compare like for like.
    MOCK_STREAM_CHUNK_DELAY_MS: String(settings.chunkGapMs),
    SHUTDOWN_GRACE_MS: '1000',
    // Telemetry on as `npm start` runs it (SDK preloaded, spans made); -notel measures it off.
    ...(name === 'tollgate-real-notel'
      ? { OTEL_SDK_DISABLED: 'true' }
      : { OTEL_EXPORTER_OTLP_ENDPOINT: settings.otlpSink, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' }),
    ...(settings.instrumentations === '' ? {} : { OTEL_NODE_ENABLED_INSTRUMENTATIONS: settings.instrumentations }),
  };
  const register = join(dirname(CLI), 'telemetry', 'register.js');
  const child = spawnChild(name, ['--enable-source-maps', '--import', register, CLI, 'serve'], env, ROOT);
  const origin = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp200(child, `${origin}/readyz`, READY_TIMEOUT_MS);
  } catch (err) {
    await child.stop();
    throw err;
  }
  return { target: { origin, openaiPrefix: '/openai' }, upstream: standin.child, pid: child.pid, stop: child.stop };
}

/**
 * One request before measuring: a contender that answers errors, or a tollgate that serves
 * from the wrong side, would otherwise produce a fast and meaningless row.
 */
async function preflight(name: ContenderName, target: Target): Promise<void> {
  const res = await fetch(`${target.origin}${chatPath(target)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench-worker' },
    body: CHAT_BODY,
    signal: AbortSignal.timeout(5000),
  });
  const text = await res.text();
  if (res.status !== 200 || !text.includes('"chat.completion"')) {
    throw new Error(`${name}: preflight chat answered ${res.status}: ${text.slice(0, 300)}`);
  }
  const expected = name === 'tollgate-mock' ? 'mock' : name.startsWith('tollgate') ? 'real' : undefined;
  const servedBy = res.headers.get('x-tollgate-served-by');
  if (expected !== undefined && servedBy !== expected) {
    throw new Error(
      `${name}: preflight was served by ${servedBy ?? '(no x-tollgate-served-by)'}, expected ${expected}`,
    );
  }
}

async function measure(name: ContenderName, running: Running, settings: Settings): Promise<Measurement[]> {
  const { target } = running;
  const out: Measurement[] = [];
  // Before anything else reaches the sidecar: its first calls after /readyz, against the calls after them.
  const first = name.startsWith('tollgate')
    ? {
        chat: await firstCall(target, chatPath(target), CHAT_BODY),
        embeddings: await firstCall(target, embeddingsPath(target), EMBEDDINGS_BODY),
      }
    : undefined;
  await preflight(name, target);
  if (settings.warmupS > 0) {
    progress(`${name}: warm-up`);
    await throughput(target, chatPath(target), CHAT_BODY, Math.min(8, settings.connections), settings.warmupS);
    await throughput(
      target,
      embeddingsPath(target),
      EMBEDDINGS_BODY,
      Math.min(8, settings.connections),
      settings.warmupS,
    );
    await streaming(target, Math.min(20, settings.streamRequests));
  }

  // Redis commands are counted across the chat scenario only (throughput and one-connection latency),
  // per chat the upstream received: autocannon leaves out the requests in flight when its time is up,
  // though the server still proxies and settles them.
  const countCommands = name === 'tollgate-real-redis' && settings.redisUrl !== '';
  const commandsBefore = countCommands ? await redisCounts(settings.redisUrl) : undefined;
  const chatsBefore = countCommands ? await upstreamChats(running.upstream) : 0;
  progress(`${name}: chat at ${settings.connections} connections for ${settings.durationS}s`);
  const chatCpu = await cpuMicros(running.pid);
  const chat = await throughput(target, chatPath(target), CHAT_BODY, settings.connections, settings.durationS);
  const chatCpuUs = perCall(chatCpu, await cpuMicros(running.pid), chat.requests);
  progress(`${name}: chat latency over one connection`);
  const latency = await latencyOneConnection(
    target,
    chatPath(target),
    CHAT_BODY,
    settings.durationS,
    settings.latencyMaxRequests,
  );
  let commands = {};
  if (commandsBefore !== undefined) {
    await sleep(SETTLE_MS);
    const commandsAfter = await redisCounts(settings.redisUrl);
    commands = commandsPerCall(commandsBefore, commandsAfter, (await upstreamChats(running.upstream)) - chatsBefore);
  }
  out.push({
    contender: name,
    scenario: 'chat',
    rps: chat.rps,
    p50Ms: latency.p50Ms,
    p99Ms: latency.p99Ms,
    rssMb: await rssMb(running.pid),
    ...(chatCpuUs === undefined ? {} : { cpuUsPerCall: chatCpuUs }),
    requests: chat.requests + latency.requests,
    errors: chat.errors + latency.errors,
    ...commands,
    ...first?.chat,
  });

  progress(`${name}: ${settings.streamRequests} streamed chats`);
  const stream = await streaming(target, settings.streamRequests);
  out.push({
    contender: name,
    scenario: 'chat-stream',
    p50Ms: stream.ttfbP50Ms,
    p99Ms: stream.ttfbP99Ms,
    totalP50Ms: stream.totalP50Ms,
    meanGapMs: stream.meanGapMs,
    rssMb: await rssMb(running.pid),
    requests: stream.requests,
    errors: stream.errors,
  });

  progress(`${name}: embeddings at ${settings.connections} connections for ${settings.durationS}s`);
  const embeddingsCpu = await cpuMicros(running.pid);
  const embeddings = await throughput(
    target,
    embeddingsPath(target),
    EMBEDDINGS_BODY,
    settings.connections,
    settings.durationS,
  );
  const embeddingsCpuUs = perCall(embeddingsCpu, await cpuMicros(running.pid), embeddings.requests);
  out.push({
    contender: name,
    scenario: 'embeddings',
    rps: embeddings.rps,
    rssMb: await rssMb(running.pid),
    ...(embeddingsCpuUs === undefined ? {} : { cpuUsPerCall: embeddingsCpuUs }),
    requests: embeddings.requests,
    errors: embeddings.errors,
    ...first?.embeddings,
  });

  if (settings.rssRequests > 0 && name !== 'direct') out.push(await rssRun(name, running, settings));
  return out;
}

/** CPU microseconds per request between two readings of a process's CPU time. */
function perCall(before: number | undefined, after: number | undefined, requests: number): number | undefined {
  if (before === undefined || after === undefined || requests <= 0) return undefined;
  return (after - before) / requests;
}

/** Issue 6's memory target: RSS along BENCH_RSS_REQUESTS chats, read after each third. */
async function rssRun(name: ContenderName, running: Running, settings: Settings): Promise<Measurement> {
  const { target } = running;
  const samples: number[] = [];
  const at: number[] = [];
  let requests = 0;
  let errors = 0;
  let sent = 0;
  for (const step of rssSteps(settings.rssRequests)) {
    progress(`${name}: RSS run, chats ${sent + 1}–${sent + step} of ${settings.rssRequests}`);
    const part = await fixedAmount(target, chatPath(target), CHAT_BODY, settings.connections, step);
    sent += step;
    requests += part.requests;
    errors += part.errors;
    samples.push((await rssMb(running.pid)) ?? Number.NaN);
    at.push(sent);
  }
  const [second, third] = samples.slice(-2) as [number, number];
  progress(`${name}: RSS ${samples.map((mb) => mb.toFixed(1)).join(' → ')} MB`);
  return {
    contender: name,
    scenario: 'rss',
    rssMb: third,
    rssSamplesMb: samples,
    rssSampleRequests: at,
    rssGrowthMb: third - second,
    requests,
    errors,
  };
}

async function main(): Promise<void> {
  const asJson = process.argv.includes('--json');
  const settings = readSettings(process.env);
  if (settings.contenders.some((c) => c.startsWith('tollgate')) && !existsSync(CLI)) {
    throw new Error(`${CLI} not found: run npm run build first (or BENCH_CONTENDERS=direct,pipe)`);
  }
  installExitHandlers();
  const startedAt = new Date();
  const scripts = await compileForNode(
    ROOT,
    ['test/support/standin.ts', 'bench/standin-server.ts', 'bench/pipe-proxy.ts'],
    BUILD_DIR,
  );
  // A sink for the spans tollgate exports: accepts and drops them, so tracing runs end to end.
  const sink = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
  });
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  settings.otlpSink = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`;
  let redis: Awaited<ReturnType<typeof startRedis>> | undefined;
  if (settings.contenders.includes('tollgate-real-redis') && settings.redisUrl === '') {
    const port = await freePort();
    redis = await startRedis(port);
    settings.redisUrl = `redis://127.0.0.1:${port}/0`;
    progress(`private redis-server on 127.0.0.1:${port}`);
  }
  const standin = await startStandinProcess(scripts.get('bench/standin-server.ts') as string, settings);
  progress(`stand-in on ${standin.origin}; contenders: ${settings.contenders.join(', ')}`);
  const rounds: Measurement[][] = [];
  try {
    for (let round = 1; round <= settings.rounds; round++) {
      const measurements: Measurement[] = [];
      for (const name of settings.contenders) {
        progress(`round ${round}/${settings.rounds}: ${name}`);
        let running: Running;
        if (name === 'direct') {
          running = {
            target: { origin: standin.origin, openaiPrefix: '' },
            upstream: standin.child,
            pid: standin.child.pid,
            stop: async () => {},
          };
        } else if (name === 'pipe') {
          running = await startPipe(scripts.get('bench/pipe-proxy.ts') as string, standin);
        } else {
          running = await startTollgate(name, standin, settings);
        }
        try {
          measurements.push(...(await measure(name, running, settings)));
        } finally {
          await running.stop();
        }
      }
      rounds.push(measurements);
    }
  } finally {
    await standin.child.stop();
    await stopRedis(redis);
    sink.close();
  }

  const rows = withRatios(medians(rounds));
  if (asJson) {
    const report = {
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      settings,
      machine: {
        node: process.version,
        platform: `${process.platform} ${process.arch}`,
        cpus: availableParallelism(),
        cpuModel: cpus()[0]?.model ?? 'unknown',
      },
      rows,
      rss: rssSummary(rows),
      storeCost: storeCosts(rows),
      rounds,
    };
    const text = `${JSON.stringify(report, null, 2)}\n`;
    const dir = join(ROOT, 'bench', 'results');
    await mkdir(dir, { recursive: true });
    const file = join(dir, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
    await writeFile(file, text);
    process.stdout.write(text);
    progress(`results written to ${file}`);
  } else {
    const rounds = settings.rounds > 1 ? ` (medians of ${settings.rounds} rounds)` : '';
    const sections = [formatTable(rows), LEGEND];
    const rss = rssSummary(rows);
    if (rss.length > 0) {
      sections.push(`RSS over ${settings.rssRequests} chats at ${settings.connections} connections`);
      sections.push(formatRssTable(rss), RSS_LEGEND);
    }
    const costs = storeCosts(rows);
    if (costs.length > 0) sections.push('store cost', formatStoreCostTable(costs), STORE_LEGEND);
    if (rows.some((r) => r.firstMs !== undefined)) {
      sections.push('first call after ready', formatFirstCallTable(rows), FIRST_CALL_LEGEND);
    }
    process.stdout.write(
      `\ntollgate benchmark${rounds}: ${settings.connections} connections, ${settings.durationS}s, ` +
        `${settings.streamRequests} streams of ${settings.streamChunks} chunks ${settings.chunkGapMs} ms apart, ` +
        `node ${process.version}, ${availableParallelism()} CPUs\n\n${sections.join('\n\n')}\n`,
    );
  }
}

main().catch(function failed(err: unknown) {
  killAll();
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
