/** Medians over rounds, ratios against the pipe proxy, and the printed table. */

export type Scenario = 'chat' | 'chat-stream' | 'embeddings';

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

const NUMERIC = ['rps', 'p50Ms', 'p99Ms', 'totalP50Ms', 'meanGapMs', 'rssMb', 'requests', 'errors'] as const;

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

const COLUMNS: Array<[string, (r: Row) => string]> = [
  ['contender', (r) => r.contender],
  ['scenario', (r) => r.scenario],
  ['req/s', (r) => fixed(r.rps, 0)],
  ['p50 ms', (r) => fixed(r.p50Ms, 3)],
  ['p99 ms', (r) => fixed(r.p99Ms, 3)],
  ['total ms', (r) => fixed(r.totalP50Ms, 2)],
  ['gap ms', (r) => fixed(r.meanGapMs, 2)],
  ['RSS MB', (r) => fixed(r.rssMb, 1)],
  ['errors', (r) => String(r.errors)],
  ['req/s ÷ pipe', (r) => fixed(r.ratios.throughputVsPipe, 2)],
  ['+p50 ÷ pipe', (r) => fixed(r.ratios.addedP50VsPipe, 2)],
  ['+p99 ÷ pipe', (r) => fixed(r.ratios.addedP99VsPipe, 2)],
];

function fixed(value: number | undefined, digits: number): string {
  return value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(digits);
}

export function formatTable(rows: Row[]): string {
  const cells = rows.map((row) => COLUMNS.map(([, get]) => get(row)));
  const widths = COLUMNS.map(([title], i) => Math.max(title.length, ...cells.map((c) => (c[i] as string).length)));
  function line(values: string[]): string {
    return values.map((v, i) => (i < 2 ? v.padEnd(widths[i] as number) : v.padStart(widths[i] as number))).join('  ');
  }
  const header = line(COLUMNS.map(([title]) => title));
  return [header, '-'.repeat(header.length), ...cells.map(line)].join('\n');
}

export const LEGEND = [
  'chat: req/s at BENCH_CONNECTIONS; p50/p99 over one connection, sequential.',
  'chat-stream: p50/p99 are time to first SSE chunk; total = whole stream (p50); gap = mean gap between content chunks.',
  'embeddings: req/s at BENCH_CONNECTIONS.',
  'RSS: the server process (the stand-in for direct) after the scenario.',
  'req/s ÷ pipe: throughput relative to the bare pipe proxy.',
  '+p50/+p99 ÷ pipe: (contender − direct) / (pipe − direct), latency added relative to what a bare pipe adds.',
].join('\n');
