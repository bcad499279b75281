/**
 * Child processes of the benchmark: spawned on 127.0.0.1, watched, and always killed,
 * on success, on error and on SIGINT/SIGTERM.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import ts from 'typescript';

export interface Child {
  name: string;
  pid: number;
  /** The last few kilobytes the child wrote, for error messages. */
  tail(): string;
  exited(): boolean;
  /** Resolves with the first stdout line matching `pattern`; rejects on exit or after `timeoutMs`. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** Writes `line` to the child's stdin and resolves with its first stdout line matching `pattern`. */
  ask(line: string, pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  stop(): Promise<void>;
}

const TAIL_BYTES = 8192;
const STOP_GRACE_MS = 5000;
const live = new Set<ChildProcess>();

export function spawnChild(name: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Child {
  const proc = spawn(process.execPath, args, { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
  if (proc.pid === undefined) throw new Error(`${name}: could not start ${args.join(' ')}`);
  live.add(proc);
  let tail = '';
  let exitCode: number | null = null;
  let exitedFlag = false;
  // Output must be drained even when nobody reads it, or a chatty child blocks on a full pipe.
  function keepTail(chunk: Buffer): void {
    tail = (tail + chunk.toString('utf8')).slice(-TAIL_BYTES);
  }
  proc.stdout?.on('data', keepTail);
  proc.stderr?.on('data', keepTail);
  proc.stdin?.on('error', () => undefined);
  const exit = new Promise<void>(function watchExit(resolve) {
    proc.on('exit', (code) => {
      exitCode = code;
      exitedFlag = true;
      live.delete(proc);
      resolve();
    });
  });
  const pid = proc.pid;

  function waitForLine(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    return new Promise(function matchLine(resolve, reject) {
      if (proc.stdout === null) return reject(new Error(`${name}: no stdout`));
      const lines = createInterface({ input: proc.stdout });
      const timer = setTimeout(
        () => finish(new Error(`${name}: no "${pattern}" within ${timeoutMs} ms\n${tail}`)),
        timeoutMs,
      );
      function finish(result: Error | RegExpMatchArray): void {
        clearTimeout(timer);
        lines.close();
        proc.off('exit', onExit);
        if (result instanceof Error) reject(result);
        else resolve(result);
      }
      function onExit(): void {
        finish(new Error(`${name} exited (code ${exitCode}) before it was ready:\n${tail}`));
      }
      lines.on('line', (line) => {
        const match = pattern.exec(line);
        if (match !== null) finish(match);
      });
      proc.on('exit', onExit);
    });
  }

  function ask(line: string, pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    // Listening first, so an answer cannot come before anyone waits for it.
    const answer = waitForLine(pattern, timeoutMs);
    proc.stdin?.write(`${line}\n`);
    return answer;
  }

  async function stop(): Promise<void> {
    if (exitedFlag) return;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_GRACE_MS);
    await exit;
    clearTimeout(timer);
  }

  return { name, pid, tail: () => tail, exited: () => exitedFlag, waitForLine, ask, stop };
}

/** Kills whatever is still running; safe to call from an 'exit' handler (synchronous). */
export function killAll(): void {
  for (const proc of live) proc.kill('SIGKILL');
  live.clear();
}

let handlersInstalled = false;

export function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping children\n`);
      killAll();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
}

/** Polls `url` until it answers 200, the child exits, or `timeoutMs` passes. */
export async function waitForHttp200(child: Child, url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (child.exited()) throw new Error(`${child.name} exited before ${url} answered:\n${child.tail()}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
      last = `status ${res.status}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await sleep(100);
  }
  throw new Error(`${child.name}: ${url} not 200 within ${timeoutMs} ms (${last})\n${child.tail()}`);
}

/** Resident memory of a process in MB, from /proc (Linux). */
export async function rssMb(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const match = /VmRSS:\s+(\d+)\s+kB/.exec(status);
    return match === null ? undefined : Number(match[1]) / 1024;
  } catch {
    return undefined;
  }
}

/** Clock ticks per second of /proc's utime and stime (USER_HZ: 100 on every Linux the bench runs on). */
const USER_HZ = 100;

/** CPU time a process has used so far (user + system), in microseconds, from /proc (Linux). */
export async function cpuMicros(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces, so split after its closing parenthesis):
    // utime and stime are the 14th and 15th fields of the line, the 12th and 13th after the name.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? (ticks * 1e6) / USER_HZ : undefined;
  } catch {
    return undefined;
  }
}

export function freePort(): Promise<number> {
  return new Promise(function findPort(resolve, reject) {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Type-strips the benchmark's own helpers into plain JS under `outDir`, keeping their
 * relative layout. Running them under tsx would add its loader (~30 MB RSS, slower start)
 * to the very processes whose memory and speed the table compares.
 */
export async function compileForNode(root: string, files: string[], outDir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, 'package.json'), '{"type":"module"}\n');
  for (const file of files) {
    const source = await readFile(join(root, file), 'utf8');
    const { outputText } = ts.transpileModule(source, {
      fileName: file,
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        esModuleInterop: true,
        verbatimModuleSyntax: true,
      },
    });
    const target = join(outDir, relative(root, join(root, file)).replace(/\.ts$/, '.js'));
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, outputText);
    out.set(file, target);
  }
  return out;
}
