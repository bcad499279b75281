/**
 * The built sidecar as an operator runs it (issue 21): `npm start` serves dist/ without a rebuild
 * when it is current, the server writes a pid file, and `tollgate reload` signals that pid.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort } from './support/redis.js';
import { until } from './support/tollgate.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'tollgate.js');
// The same script `npm start` runs first; importing it gives the test its staleness rule.
const { staleInputs } = (await import(new URL('../scripts/build-if-stale.mjs', import.meta.url).href)) as {
  staleInputs(root: string): string[];
};

let dir: string;
const children: ChildProcess[] = [];
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-process-'));
  // A built checkout, as `npm ci` leaves it (the prepare script builds dist/).
  const build = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build-if-stale.mjs')], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  assert.equal(build.status, 0, build.stderr);
});
after(() => {
  // Each child was started in its own process group; end that group, by its id.
  for (const c of children) if (c.exitCode === null && c.signalCode === null && c.pid) process.kill(-c.pid, 'SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function start(command: string, args: string[], env: Record<string, string>) {
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? dir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  children.push(child);
  let out = '';
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, out: () => out, exited };
}

const ready = async (port: number) => {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`);
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
};

/** Starts a server on a free port, waits until /readyz answers 200, stops it: how long it took, and what it printed. */
async function timeToReady(command: string, args: string[], pidFile: string): Promise<{ ms: number; out: string }> {
  const port = await freePort();
  const began = performance.now();
  const server = start(command, args, {
    ENV_FILE: '',
    PORT: String(port),
    STATE_URL: 'memory:',
    PID_FILE: join(dir, pidFile),
  });
  await until(() => ready(port), 30000, 25);
  const ms = performance.now() - began;
  process.kill(-(server.child.pid ?? 0), 'SIGTERM');
  await server.exited;
  return { ms, out: server.out() };
}

describe('npm start', () => {
  it('does not rebuild a current dist/, and is ready within 4 s', async (t) => {
    assert.deepEqual(staleInputs(ROOT), [], 'dist/ is current after the build');
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.equal(pkg.scripts['prestart'], 'node scripts/build-if-stale.mjs');
    const npm = await timeToReady('npm', ['start', '--silent'], 'npm-start.pid');
    // The same server started without npm, on this machine now: a loaded machine slows both alike.
    const plain = await timeToReady(process.execPath, ['dist/cli.js', 'serve'], 'plain-start.pid');
    const [ms, plainMs] = [npm.ms, plain.ms];
    t.diagnostic(`npm start ready in ${ms.toFixed(0)} ms; node dist/cli.js serve in ${plainMs.toFixed(0)} ms`);
    assert.doesNotMatch(npm.out, /rebuilding dist/);
    // Under 4 s on a quiet machine (a rebuild took 5-11 s); on a loaded one, what npm adds stays small.
    const bound = Math.max(4000, 2 * plainMs + 1000);
    assert.ok(ms < bound, `npm start took ${ms.toFixed(0)} ms to be ready (bound ${bound.toFixed(0)} ms)`);
  });

  it('finds the sources newer than what was built from them', () => {
    const root = join(dir, 'checkout');
    mkdirSync(join(root, 'src', 'a'), { recursive: true });
    mkdirSync(join(root, 'dist', 'a'), { recursive: true });
    for (const f of ['src/a/x.ts', 'src/a/y.ts', 'src/a/x.test.ts', 'dist/a/x.js', 'dist/a/y.js', 'dist/cli.js']) {
      writeFileSync(join(root, f), '');
    }
    writeFileSync(join(root, 'tsconfig.json'), '{}');
    const at = (f: string, s: number) => utimesSync(join(root, f), s, s);
    for (const f of ['src/a/x.ts', 'src/a/y.ts', 'src/a/x.test.ts', 'tsconfig.json']) at(f, 1000);
    for (const f of ['dist/a/x.js', 'dist/a/y.js', 'dist/cli.js']) at(f, 2000);
    assert.deepEqual(staleInputs(root), []);
    at('src/a/y.ts', 3000);
    at('src/a/x.test.ts', 3000);
    assert.deepEqual(staleInputs(root), [join('src', 'a', 'y.ts')], 'tests are not built');
    rmSync(join(root, 'dist', 'a', 'y.js'));
    at('src/a/y.ts', 1000);
    assert.deepEqual(staleInputs(root), [join('src', 'a', 'y.ts')], 'a missing output is stale');
  });
});

describe('tollgate reload', () => {
  it('sends SIGHUP to the pid the running sidecar wrote; the pid file goes at exit', async () => {
    const port = await freePort();
    const pidFile = join(dir, 'run', 'tollgate.pid');
    const envFile = join(dir, 'reload.env');
    writeFileSync(envFile, 'SERVICE_MODE=mock\nMOCK_SEED=1\n');
    const env = { ENV_FILE: envFile, PORT: String(port), STATE_URL: 'memory:', PID_FILE: pidFile };
    const server = start(process.execPath, ['--import', './dist/telemetry/register.js', 'dist/cli.js', 'serve'], env);
    await until(() => ready(port), 30000, 25);
    await until(() => existsSync(pidFile), 5000);
    assert.equal(Number(readFileSync(pidFile, 'utf8')), server.child.pid);
    assert.match(server.out(), new RegExp(`"pid":${server.child.pid}[^\\n]*"pid_file":"${pidFile}"`));

    writeFileSync(envFile, 'SERVICE_MODE=mock\nMOCK_SEED=2\n');
    const reload = spawnSync(process.execPath, [BIN, 'reload'], {
      cwd: ROOT,
      env: { PATH: '', ...env },
      encoding: 'utf8',
    });
    assert.equal(reload.status, 0, reload.stderr);
    assert.match(reload.stdout, new RegExp(`sent SIGHUP to pid ${server.child.pid}`));
    // The watcher may see the edit too; the SIGHUP line is the one this asks for.
    await until(
      () => /"trigger":"SIGHUP"[^\n]*"msg":"config (reloaded|reloaded; nothing changed)"/.test(server.out()),
      5000,
    );
    assert.equal(server.child.exitCode, null, 'SIGHUP reloads, it does not stop the process');

    process.kill(server.child.pid ?? 0, 'SIGTERM');
    assert.equal(await server.exited, 0);
    assert.equal(existsSync(pidFile), false, 'the pid file is removed at exit');
  });

  it('exits 1 naming the pid file when no sidecar runs and there is no admin token', () => {
    const pidFile = join(dir, 'nobody.pid');
    const run = spawnSync(process.execPath, [BIN, 'reload'], {
      cwd: ROOT,
      env: { PATH: '', ENV_FILE: '', STATE_URL: 'memory:', PID_FILE: pidFile },
      encoding: 'utf8',
    });
    assert.equal(run.status, 1);
    assert.match(run.stderr, new RegExp(`no pid file at ${pidFile}.*ADMIN_TOKEN`));
  });
});
