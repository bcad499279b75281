/**
 * Spool folders as a gone sidecar leaves them: files written (or claimed) by a process that no
 * longer runs, for a given store identity.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { type Owner, spoolLine, writerFileName } from '../../src/state/redis/spool-files.js';
import { identityTag, storeIdentity } from '../../src/state/redis/spool-identity.js';
import type { LedgerRow, SpendIncrement } from '../../src/state/types.js';

/** The pid of a process that ran and exited (so `kill(pid, 0)` says ESRCH). */
export function deadPid(): number {
  const run = spawnSync(process.execPath, ['-e', '']);
  if (run.pid === undefined) throw new Error('could not run node');
  return run.pid;
}

/** An owner on this host whose process is `pid` (by default one that is gone). */
export function ownerOf(pid = deadPid(), nonce = 'deadbeef'): Owner {
  return { host: Buffer.from(hostname()).toString('base64url'), pid, nonce };
}

export const spendOf = (r: LedgerRow, key = 'spent'): SpendIncrement[] => [
  { key, nanoUsd: r.costNanoUsd, expiresAt: Date.now() + 3_600_000 },
];

/**
 * Writes `rows` as the spool file of `writer` for the store at `url` with `prefix`, claimed by
 * `claimer` when given. Returns the file's path.
 */
export function leaveSpoolFile(
  dir: string,
  url: string,
  prefix: string,
  rows: readonly LedgerRow[],
  { writer = ownerOf(), claimer }: { writer?: Owner; claimer?: Owner } = {},
): string {
  const id = storeIdentity(url, prefix);
  let name = writerFileName(identityTag(id), writer);
  if (claimer !== undefined) name += `.replaying.${claimer.pid}.${claimer.nonce}.${claimer.host}`;
  const path = join(dir, name);
  writeFileSync(path, rows.map((row) => spoolLine(id, { row, spend: spendOf(row) })).join(''));
  return path;
}

/** The old single spool file of `prefix`: lines without the store they were for. */
export function leaveOldSpoolFile(dir: string, prefix: string, rows: readonly LedgerRow[]): string {
  const path = join(dir, `redis-${prefix.replace(/[^A-Za-z0-9_-]/g, '_')}.jsonl`);
  writeFileSync(path, rows.map((row) => `${JSON.stringify({ row, spend: spendOf(row) })}\n`).join(''));
  return path;
}

/** The spool files left in `dir`. */
export const spoolFiles = (dir: string): string[] => readdirSync(dir);
