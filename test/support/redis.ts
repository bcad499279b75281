/**
 * Private redis-server children for tests (never the shared one on 6379): a free port each,
 * killed by the test that started them.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

/** True once the server answers (with a password required, NOAUTH is an answer too). */
function pingOnce(port: number, auth = false): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.setTimeout(200);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (d) => {
      socket.destroy();
      resolve(d.toString().startsWith(auth ? '-NOAUTH' : '+PONG'));
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/**
 * A private redis-server; `dir` turns on an fsync-always AOF so a SIGKILL loses nothing acknowledged;
 * `extra` are more server arguments (`--enable-debug-command yes`, `--requirepass …`).
 */
export async function startRedis(port: number, dir?: string, extra: readonly string[] = []): Promise<ChildProcess> {
  const persistence = dir ? ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir] : ['--appendonly', 'no'];
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence, ...extra];
  const child = spawn('redis-server', args, { stdio: 'ignore' });
  const auth = extra.includes('--requirepass');
  for (let i = 0; i < 100; i++) {
    if (await pingOnce(port, auth)) return child;
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server on ${port} did not start`);
}

export async function stopRedis(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}
