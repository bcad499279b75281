/**
 * A sidecar in a child process of its own (`tollgate serve` from the source through tsx, or the built
 * dist/cli.js), for tests that need a cold process (nothing loaded yet, as a pod starts) or one they can
 * signal (SIGSTOP). Killed by the test that started it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from './redis.js';
import { until } from './tollgate.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ChildTollgate {
  url: string;
  /** Every JSON log line written so far. */
  logs(): Record<string, unknown>[];
  /** stdout and stderr as written, for failure messages. */
  output(): string;
  /** Sends a signal to the process (SIGSTOP, SIGCONT, …). */
  signal(name: NodeJS.Signals): void;
  stop(): Promise<void>;
}

export interface ChildOptions {
  /**
   * 'source' runs src/cli.ts through tsx; 'built' runs dist/cli.js (npm run build first); 'preloaded'
   * runs it as `npm start` does, with OpenTelemetry preloaded (set OTEL_SDK_DISABLED=false to trace).
   */
  entry?: 'source' | 'built' | 'preloaded';
}

const ENTRIES = {
  source: ['--import', 'tsx', 'src/cli.ts', 'serve'],
  built: ['dist/cli.js', 'serve'],
  preloaded: ['--import', './dist/telemetry/register.js', 'dist/cli.js', 'serve'],
};

/** Starts `tollgate serve` on a free loopback port with exactly `vars` (plus PATH); does not wait for readiness. */
export async function startChildTollgate(
  vars: Record<string, string>,
  { entry = 'source' }: ChildOptions = {},
): Promise<ChildTollgate> {
  const port = await freePort();
  const env = {
    PATH: process.env.PATH ?? '',
    HOST: '127.0.0.1',
    PORT: String(port),
    ENV_FILE: '',
    STATE_URL: 'memory:',
    LOG_LEVEL: 'info',
    OTEL_SDK_DISABLED: 'true',
    ...vars,
  };
  const proc: ChildProcess = spawn(process.execPath, ENTRIES[entry], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  proc.stdout?.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
  });
  proc.stderr?.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return {
    url: `http://127.0.0.1:${port}`,
    logs: () =>
      text
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    output: () => text,
    signal: (name) => void proc.kill(name),
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      // A stopped process takes SIGKILL too; SIGCONT first so its exit is reported at once.
      proc.kill('SIGCONT');
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** Polls `/readyz` (every 5 ms: a caller should hit it the moment it turns 200) until it answers 200. */
export async function waitReady(child: ChildTollgate, timeoutMs = 30_000): Promise<void> {
  try {
    await until(
      async () => {
        const res = await fetch(`${child.url}/readyz`).catch(() => undefined);
        await res?.arrayBuffer();
        return res?.status === 200;
      },
      timeoutMs,
      5,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}: ${child.output().slice(-2000)}`);
  }
}
