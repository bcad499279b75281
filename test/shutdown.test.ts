import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { until } from './support/tollgate.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const GRACE_MS = 2000;

/** A loopback port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

describe('shutdown fits in SHUTDOWN_GRACE_MS whatever the collector does (built child)', () => {
  let child: ChildProcess | undefined;
  after(async () => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  });

  it('exits within the grace period with the OTLP endpoint unreachable, `stopped` its last line', async () => {
    const collector = await closedPort();
    let out = '';
    child = spawn(process.execPath, ['dist/cli.js', 'serve'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        HOST: '127.0.0.1',
        PORT: '0',
        ENV_FILE: '',
        STATE_URL: 'memory:',
        SERVICE_MODE: 'mock',
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collector}`,
        SHUTDOWN_GRACE_MS: String(GRACE_MS),
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr!.resume();
    const lines = () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { msg: string; url?: string; dropped_spans?: number });
    await until(() => lines().some((l) => l.msg === 'tollgate listening'), 20_000, 20);
    const url = lines().find((l) => l.msg === 'tollgate listening')!.url!;
    // One call: its spans wait in the batch processor for the shutdown flush.
    const res = await fetch(`${url}/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(res.status, 200);
    await res.arrayBuffer();

    const exited = once(child, 'exit');
    const t0 = performance.now();
    child.kill('SIGTERM');
    const [code] = await exited;
    const tookMs = performance.now() - t0;
    assert.equal(code, 0);
    assert.ok(tookMs < GRACE_MS + 1500, `exited ${tookMs.toFixed(0)} ms after SIGTERM (grace ${GRACE_MS} ms)`);
    const all = lines();
    assert.equal(all.at(-1)?.msg, 'stopped', out);
    const dropped = all.find((l) => /spans dropped/.test(l.msg));
    assert.ok(dropped, `the unsent spans are logged:\n${out}`);
    assert.ok((dropped.dropped_spans ?? 0) >= 1, JSON.stringify(dropped));
  });
});
