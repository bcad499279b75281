/**
 * A real Prometheus (the Debian binary) for tests: scrapes the given targets every second from a
 * private temp dir on a free loopback port, and is stopped by the test that started it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { until } from './tollgate.js';

export interface ScrapeTarget {
  /** host:port */
  target: string;
  labels?: Record<string, string>;
}

export interface RunningPrometheus {
  url: string;
  /** Instant query; resolves the result vector. */
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  stop(): Promise<void>;
}

/** The first executable called `name` on PATH (Debian's packages put them in /usr/bin). */
export function which(name: string): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/local/bin']) {
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** The prometheus binary, or undefined where it is not installed. */
export const prometheusBinary = (): string | undefined => process.env.PROMETHEUS_BIN ?? which('prometheus');

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });

export async function startPrometheus(targets: ScrapeTarget[], bin = prometheusBinary()): Promise<RunningPrometheus> {
  if (bin === undefined) throw new Error('prometheus binary not found (apt-get install prometheus)');
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-prom-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const lines = [
    'global:',
    '  scrape_interval: 1s',
    '  scrape_timeout: 1s',
    '  evaluation_interval: 1s',
    'scrape_configs:',
  ];
  lines.push('  - job_name: tollgate', '    metrics_path: /metrics', '    static_configs:');
  for (const t of targets) {
    lines.push(`      - targets: ['${t.target}']`);
    if (t.labels) {
      lines.push('        labels:');
      for (const [k, v] of Object.entries(t.labels)) lines.push(`          ${k}: ${v}`);
    }
  }
  await writeFile(join(dir, 'prometheus.yml'), `${lines.join('\n')}\n`);
  let log = '';
  const child: ChildProcess = spawn(
    bin,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      '--storage.tsdb.retention.time=1h',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const keep = (chunk: Buffer) => {
    log = (log + chunk.toString('utf8')).slice(-8000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<never>((_resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`prometheus exited with ${code}:\n${log}`)));
  });
  exited.catch(() => undefined);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise<void>((done) => child.once('exit', () => done()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await Promise.race([
      until(async () => (await fetch(`${url}/-/ready`).catch(() => undefined))?.status === 200, 20_000, 100),
      exited,
    ]);
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    url,
    async query(expr) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await res.json()) as {
        status: string;
        error?: string;
        data: { result: { metric: Record<string, string>; value: [number, string] }[] };
      };
      if (res.status !== 200 || body.status !== 'success')
        throw new Error(`query ${expr}: ${res.status} ${body.error ?? ''}`);
      return body.data.result;
    },
    stop,
  };
}
