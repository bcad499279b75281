import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/*
 * The pid file: where `tollgate reload` finds the process that takes SIGHUP, so nobody has to
 * signal npm (whose pid is not the server's). PID_FILE, else `tollgate.pid` beside the state
 * (`./data/tollgate.pid` with the default STATE_SPOOL_DIR).
 */

/** Writes this process's pid; a stale file from a process that died is replaced. */
export function writePidFile(path: string, pid: number): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${pid}\n`);
}

/** Removes the pid file, only while it still names `pid` (a newer process may own it). */
export function removePidFile(path: string, pid: number): void {
  if (readPidFile(path) === pid) rmSync(path, { force: true });
}

/** The pid the file names, or undefined when there is no readable pid file. */
export function readPidFile(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The pid file's absolute path from the configured one. */
export const pidFilePath = (configured: string, cwd: string): string => resolve(cwd, configured);
