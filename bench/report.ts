/** Medians over rounds, ratios against the pipe proxy, and the printed tables. */

/** `rss`: a long run of chats with the server's RSS sampled along the way (issue 6's memory target). */
export type Scenario = 'chat' | 'chat-stream' | 'embeddings' | 'rss';

export interface Measurement {
  contender: string;
  scenario: Scenario;
  /** Requests per second at the configured concurrency. */
  rps?: number;
  /** chat: one-connection latency; chat-stream: time to first chunk. */
  p50Ms?: number;
  p99Ms?: number;
  /** chat-stream only. */
  totalP50Ms?: number;
  meanGapMs?: number;
  rssMb?: number;
  /**
   * chat, embeddings: the server process's CPU time (user + system, /proc) over the throughput run,
   * per request answered: the figure the machine's noise moves least.
   */
  cpuUsPerCall?: number;
  /** rss: the server's RSS after each third of the requests, and how many had been sent by then. */
  rssSamplesMb?: number[];
  rssSampleRequests?: number[];
  /** rss: last sample − the one before it (taken per round, then the median). */
  rssGrowthMb?: number;
  /**
   * chat on Redis: commands the server ran per proxied call during the chat scenario (INFO commandstats,
   * so the commands inside Lua scripts count too), the script invocations among them (EVAL/EVALSHA/FCALL,
   * each one round trip), and the per-command breakdown.
   */
  redisCommandsPerCall?: number;
  redisScriptsPerCall?: number;
  /**
   * chat on Redis: the server's socket reads per proxied call (INFO stats total_reads_processed), a
   * count of round trips: one read takes every command a client pipelined into one write.
   */
  redisReadsPerCall?: number;
  redisCommands?: Record<string, number>;
  /** chat, embeddings (tollgate): the first call after /readyz turned 200, and the p50 of 50 calls after it. */
  firstMs?: number;
  steadyP50Ms?: number;
  requests: number;
  errors: number;
}

export interface Ratios {
  /** rps / pipe's rps. */
  throughputVsPipe?: number;
  /** (contender − direct) / (pipe − direct): how many "pipe proxies" of latency it adds. */
  addedP50VsPipe?: number;
  addedP99VsPipe?: number;
}

export interface Row extends Measurement {
  ratios: Ratios;
}

const NUMERIC = [
  'rps',
  'p50Ms',
  'p99Ms',
  'totalP50Ms',
  'meanGapMs',
  'rssMb',
  'cpuUsPerCall',
  'rssGrowthMb',
  'redisCommandsPerCall',
  'redisScriptsPerCall',
  'redisReadsPerCall',
  'firstMs',
  'steadyP50Ms',
  'requests',
  'errors',
] as const;
const ARRAYS = ['rssSamplesMb', 'rssSampleRequests'] as const;

export function median(values: number[]): number | undefined {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (finite.length === 0) return undefined;
  const mid = Math.floor(finite.length / 2);
  return finite.length % 2 === 1 ? finite[mid] : ((finite[mid - 1] as number) + (finite[mid] as number)) / 2;
}

/** One measurement per contender × scenario: the median of each field over the rounds. */
export function medians(rounds: Measurement[][]): Measurement[] {
  const groups = new Map<string, Measurement[]>();
  for (const round of rounds) {
    for (const m of round) {
      const key = `${m.contender}\u0000${m.scenario}`;
      groups.set(key, [...(groups.get(key) ?? []), m]);
    }
  }
  const out: Measurement[] = [];
  for (const group of groups.values()) {
    const first = group[0] as Measurement;
    const merged: Measurement = { contender: first.contender, scenario: first.scenario, requests: 0, errors: 0 };
    for (const field of NUMERIC) {
      const value = median(group.map((m) => m[field]).filter((v): v is number => v !== undefined));
      if (value !== undefined) merged[field] = value;
    }
    for (const field of ARRAYS) {
      const arrays = group.map((m) => m[field]).filter((v): v is number[] => v !== undefined);
      const length = Math.max(0, ...arrays.map((a) => a.length));
      if (length > 0) {
        merged[field] = Array.from({ length }, (_, i) => median(arrays.map((a) => a[i] as number)) ?? Number.NaN);
      }
    }
    const breakdowns = group.map((m) => m.redisCommands).filter((v): v is Record<string, number> => v !== undefined);
    if (breakdowns.length > 0) {
      const names = [...new Set(breakdowns.flatMap((b) => Object.keys(b)))].sort();
      // A command missing from a round ran 0 times in it.
      merged.redisCommands = Object.fromEntries(names.map((n) => [n, median(breakdowns.map((b) => b[n] ?? 0)) ?? 0]));
    }
    out.push(merged);
  }
  return out;
}

export function withRatios(measurements: Measurement[]): Row[] {
  function find(contender: string, scenario: Scenario): Measurement | undefined {
    return measurements.find((m) => m.contender === contender && m.scenario === scenario);
  }
  return measurements.map(function addRatios(m) {
    const pipe = find('pipe', m.scenario);
    const direct = find('direct', m.scenario);
    const ratios: Ratios = {};
    if (m.rps !== undefined && pipe?.rps) ratios.throughputVsPipe = m.rps / pipe.rps;
    const p50 = added(m.p50Ms, direct?.p50Ms, pipe?.p50Ms);
    const p99 = added(m.p99Ms, direct?.p99Ms, pipe?.p99Ms);
    if (p50 !== undefined) ratios.addedP50VsPipe = p50;
    if (p99 !== undefined) ratios.addedP99VsPipe = p99;
    return { ...m, ratios };
  });
}

function added(value?: number, direct?: number, pipe?: number): number | undefined {
  if (value === undefined || direct === undefined || pipe === undefined) return undefined;
  const floor = pipe - direct;
  // A pipe that adds (almost) nothing makes the ratio meaningless noise.
  if (!(floor > 0.001)) return undefined;
  return (value - direct) / floor;
}

type Column<T> = [title: string, cell: (row: T) => string];

const COLUMNS: Array<Column<Row>> = [
  ['contender', (r) => r.contender],
  ['scenario', (r) => r.scenario],
  ['req/s', (r) => fixed(r.rps, 0)],
  ['p50 ms', (r) => fixed(r.p50Ms, 3)],
  ['p99 ms', (r) => fixed(r.p99Ms, 3)],
  ['total ms', (r) => fixed(r.totalP50Ms, 2)],
  ['gap ms', (r) => fixed(r.meanGapMs, 2)],
  ['RSS MB', (r) => fixed(r.rssMb, 1)],
  ['CPU µs/call', (r) => fixed(r.cpuUsPerCall, 0)],
  ['errors', (r) => String(r.errors)],
  ['req/s ÷ pipe', (r) => fixed(r.ratios.throughputVsPipe, 2)],
  ['+p50 ÷ pipe', (r) => fixed(r.ratios.addedP50VsPipe, 2)],
  ['+p99 ÷ pipe', (r) => fixed(r.ratios.addedP99VsPipe, 2)],
];

function fixed(value: number | undefined, digits: number): string {
  return value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(digits);
}

/** Text columns (the first `leftAligned`) padded right, numbers padded left. */
function formatColumns<T>(columns: Array<Column<T>>, rows: T[], leftAligned: number): string {
  const cells = rows.map((row) => columns.map(([, get]) => get(row)));
  const widths = columns.map(([title], i) => Math.max(title.length, ...cells.map((c) => (c[i] as string).length)));
  function line(values: string[]): string {
    return values
      .map((v, i) => (i < leftAligned ? v.padEnd(widths[i] as number) : v.padStart(widths[i] as number)))
      .join('  ');
  }
  const header = line(columns.map(([title]) => title));
  return [header, '-'.repeat(header.length), ...cells.map(line)].join('\n');
}

/** The main table: every scenario but the long RSS run, which has its own. */
export function formatTable(rows: Row[]): string {
  return formatColumns(
    COLUMNS,
    rows.filter((r) => r.scenario !== 'rss'),
    2,
  );
}

/** Issue 6: "RSS after 100,000 requests under 150 MB and flat (no growth between the second and third 50,000)". */
export const RSS_TARGET_MB = 150;

export interface RssSummary {
  contender: string;
  requests: number;
  errors: number;
  samples: Array<{ afterRequests: number; rssMb: number }>;
  /** Last sample − the one before it (median over rounds of each round's growth). */
  growthMb?: number;
  /** The same, relative to the sample before it. */
  growthPct?: number;
}

export function rssSummary(rows: Measurement[]): RssSummary[] {
  return rows
    .filter((r) => r.scenario === 'rss' && r.rssSamplesMb !== undefined)
    .map(function summarize(r) {
      const mb = r.rssSamplesMb ?? [];
      const at = r.rssSampleRequests ?? [];
      const summary: RssSummary = {
        contender: r.contender,
        requests: r.requests,
        errors: r.errors,
        samples: mb.map((rssMb, i) => ({ afterRequests: at[i] ?? Number.NaN, rssMb })),
      };
      if (r.rssGrowthMb !== undefined) {
        summary.growthMb = r.rssGrowthMb;
        const before = mb[mb.length - 2];
        if (before !== undefined && before > 0) summary.growthPct = (100 * r.rssGrowthMb) / before;
      }
      return summary;
    });
}

/** 50000 → "50k", 33334 → "33.3k", 500 → "500". */
function count(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '?';
  if (n < 1000) return String(n);
  const k = n / 1000;
  return `${Number.isInteger(k) ? k : k.toFixed(1)}k`;
}

export function formatRssTable(summaries: RssSummary[]): string {
  const points = summaries[0]?.samples.map((s) => s.afterRequests) ?? [];
  const columns: Array<Column<RssSummary>> = [
    ['contender', (s) => s.contender],
    ['requests', (s) => String(s.requests)],
    ...points.map((at, i): Column<RssSummary> => [`RSS MB @${count(at)}`, (s) => fixed(s.samples[i]?.rssMb, 1)]),
    [
      `growth MB (${count(points[points.length - 2])}→${count(points[points.length - 1])})`,
      (s) => fixed(s.growthMb, 1),
    ],
    ['growth %', (s) => fixed(s.growthPct, 1)],
    ['errors', (s) => String(s.errors)],
  ];
  return formatColumns(columns, summaries, 1);
}

/** The contenders that differ from tollgate-real only in their store. */
export const STORE_CONTENDERS = ['tollgate-real-sqlite', 'tollgate-real-redis'] as const;

export interface StoreCost {
  contender: string;
  /** One-connection chat p50 on this store and on the memory store (tollgate-real), same run. */
  p50Ms?: number;
  memoryP50Ms?: number;
  /** What admission + settlement on this store adds per call: p50 − memory p50. */
  costPerCallMs?: number;
  redisCommandsPerCall?: number;
  redisScriptsPerCall?: number;
  redisReadsPerCall?: number;
  redisCommands?: Record<string, number>;
}

/** Per-call store cost from the (median) chat rows; needs tollgate-real in the run for the difference. */
export function storeCosts(rows: Measurement[]): StoreCost[] {
  const memory = rows.find((r) => r.contender === 'tollgate-real' && r.scenario === 'chat');
  const out: StoreCost[] = [];
  for (const name of STORE_CONTENDERS) {
    const chat = rows.find((r) => r.contender === name && r.scenario === 'chat');
    if (chat === undefined) continue;
    const cost: StoreCost = { contender: name };
    if (chat.p50Ms !== undefined) cost.p50Ms = chat.p50Ms;
    if (memory?.p50Ms !== undefined) cost.memoryP50Ms = memory.p50Ms;
    if (cost.p50Ms !== undefined && cost.memoryP50Ms !== undefined) cost.costPerCallMs = cost.p50Ms - cost.memoryP50Ms;
    if (chat.redisCommandsPerCall !== undefined) cost.redisCommandsPerCall = chat.redisCommandsPerCall;
    if (chat.redisScriptsPerCall !== undefined) cost.redisScriptsPerCall = chat.redisScriptsPerCall;
    if (chat.redisReadsPerCall !== undefined) cost.redisReadsPerCall = chat.redisReadsPerCall;
    if (chat.redisCommands !== undefined) cost.redisCommands = chat.redisCommands;
    out.push(cost);
  }
  return out;
}

export function formatStoreCostTable(costs: StoreCost[]): string {
  return formatColumns(
    [
      ['contender', (c) => c.contender],
      ['p50 ms', (c) => fixed(c.p50Ms, 3)],
      ['memory p50 ms', (c) => fixed(c.memoryP50Ms, 3)],
      ['store cost per call (ms)', (c) => fixed(c.costPerCallMs, 3)],
      ['Redis cmds/call', (c) => fixed(c.redisCommandsPerCall, 2)],
      ['of which scripts', (c) => fixed(c.redisScriptsPerCall, 2)],
      ['Redis reads/call', (c) => fixed(c.redisReadsPerCall, 2)],
    ],
    costs,
    1,
  );
}

/** Contract section 7: once /readyz says ready, the first call costs what the thousandth does. */
export function formatFirstCallTable(rows: Measurement[]): string {
  return formatColumns(
    [
      ['contender', (r) => r.contender],
      ['scenario', (r) => r.scenario],
      ['first ms', (r) => fixed(r.firstMs, 1)],
      ['steady p50 ms', (r) => fixed(r.steadyP50Ms, 3)],
      [
        'first ÷ p50',
        (r) => fixed(r.firstMs !== undefined && r.steadyP50Ms ? r.firstMs / r.steadyP50Ms : undefined, 1),
      ],
    ],
    rows.filter((r) => r.firstMs !== undefined),
    2,
  );
}

export const FIRST_CALL_LEGEND = [
  'first call: a sidecar started cold, the first chat (then embeddings) the moment /readyz answered 200,',
  'against the p50 of the 50 sequential calls after it, over one connection.',
].join('\n');

export const LEGEND = [
  'chat: req/s at BENCH_CONNECTIONS; p50/p99 over one connection, sequential.',
  'chat-stream: p50/p99 are time to first SSE chunk; total = whole stream (p50); gap = mean gap between content chunks.',
  'embeddings: req/s at BENCH_CONNECTIONS.',
  'RSS: the server process (the stand-in for direct) after the scenario.',
  'req/s ÷ pipe: throughput relative to the bare pipe proxy.',
  '+p50/+p99 ÷ pipe: (contender − direct) / (pipe − direct), latency added relative to what a bare pipe adds.',
].join('\n');

export const RSS_LEGEND = [
  'RSS: BENCH_RSS_REQUESTS non-streaming chats at BENCH_CONNECTIONS after the other scenarios, the server',
  "process's RSS read after each third; growth = last sample − the one before (per round, then the median).",
  `Target (issue 6): under ${RSS_TARGET_MB} MB after 100k requests and flat between the 2nd and 3rd 50k.`,
].join('\n');

export const STORE_LEGEND = [
  'store cost per call: one-connection chat p50 on the store − tollgate-real (memory store) p50, same run:',
  'what admission + settlement on that store adds to a call.',
  'Redis cmds/call: INFO commandstats of the private redis-server across the chat scenario ÷ the chats the',
  'upstream received meanwhile; commands run inside Lua scripts count too.',
  '"of which scripts": the EVAL/EVALSHA/FCALL calls among them (a batch of ops counts once).',
  "Redis reads/call: the server's socket reads (INFO stats total_reads_processed) per chat, the round trips:",
  'one read takes all that a sidecar pipelined into one write, so it is at most the commands sent.',
].join('\n');
