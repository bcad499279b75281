/**
 * The spool folder's files. Several sidecars (or several stores of one process) may share a folder,
 * so each writer appends only to a file of its own, named after the store it spools for and itself:
 *
 *   spool.<store tag>.<pid>.<nonce>.<host>.jsonl                 a writer's file (only it appends)
 *   <that name>.replaying.<pid>.<nonce>.<host>                   claimed by a replayer (atomic rename)
 *   redis-<prefix>.jsonl                                         the old single file (rows carry no store)
 *
 * `<host>` is the machine's name in base64url, `<nonce>` tells apart stores of one process and a
 * process that reuses a dead one's pid (a restarted container is pid 1 again). Every line is
 * `{"store":{host,port,db,prefix},"row":…,"spend":[…]}`; old files' lines lack `store`.
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { type LedgerRow, type SpendIncrement, type SpooledRows, spentNanoUsd } from '../types.js';
import { isIdentity, type StoreIdentity, storeAddress } from './spool-identity.js';

export interface SpoolEntry {
  row: LedgerRow;
  spend: SpendIncrement[];
}

/** A line as read back: old files' lines have no `store`. */
export interface SpoolLine extends SpoolEntry {
  store?: StoreIdentity;
}

/** Who writes a file, or holds its claim. */
export interface Owner {
  host: string;
  pid: number;
  nonce: string;
}

export interface SpoolFile {
  name: string;
  path: string;
  /** The name without its claim: what a recovered claim is renamed from. */
  base: string;
  /** The store tag in a writer's file name; undefined for the old single file. */
  tag?: string;
  /** The old single file's prefix slug (`redis-<slug>.jsonl`). */
  legacySlug?: string;
  writer?: Owner;
  claimer?: Owner;
}

const HOST = Buffer.from(hostname()).toString('base64url');
const OWNER = String.raw`(\d+)\.([0-9a-f]{8})\.([A-Za-z0-9_-]*)`;
const NAME = new RegExp(
  String.raw`^(?:spool\.([0-9a-f]{12})\.${OWNER}\.jsonl|redis-([A-Za-z0-9_-]*)\.jsonl)(?:\.replaying\.${OWNER})?$`,
);

/** Nonces of this process's open spools: a file of this pid with another nonce is a dead run's. */
const openHere = new Set<string>();

/** A new writer identity for one spool of this process, live until `release`. */
export function newOwner(): Owner {
  const owner = { host: HOST, pid: process.pid, nonce: randomBytes(4).toString('hex') };
  openHere.add(owner.nonce);
  return owner;
}

export function releaseOwner(owner: Owner): void {
  openHere.delete(owner.nonce);
}

const ownerText = (o: Owner) => `${o.pid}.${o.nonce}.${o.host}`;

export function writerFileName(tag: string, owner: Owner): string {
  return `spool.${tag}.${ownerText(owner)}.jsonl`;
}

export function claimName(file: SpoolFile, claimer: Owner): string {
  return `${file.base}.replaying.${ownerText(claimer)}`;
}

/** The old single file's slug of a prefix (its name was `redis-<slug>.jsonl`). */
export function legacySlug(prefix: string): string {
  return prefix.replace(/[^A-Za-z0-9_-]/g, '_');
}

export function parseSpoolName(dir: string, name: string): SpoolFile | undefined {
  const m = NAME.exec(name);
  if (m === null) return undefined;
  const owner = (i: number): Owner | undefined =>
    m[i] === undefined ? undefined : { pid: Number(m[i]), nonce: m[i + 1]!, host: m[i + 2]! };
  const cut = name.indexOf('.replaying.');
  return {
    name,
    path: join(dir, name),
    base: cut < 0 ? name : name.slice(0, cut),
    ...(m[1] !== undefined ? { tag: m[1], writer: owner(2) } : { legacySlug: m[5]! }),
    ...(m[6] !== undefined ? { claimer: owner(6) } : {}),
  };
}

/**
 * Whether `o`'s process is gone. On this host: its pid is not running (or is this process, under
 * a nonce no open spool has). On another host nobody here can tell: it counts as gone only when
 * `foreign` says so (an operator's `--force`).
 */
export function ownerGone(o: Owner, foreign = false): boolean {
  if (o.host !== HOST) return foreign;
  if (o.pid === process.pid) return !openHere.has(o.nonce);
  try {
    process.kill(o.pid, 0);
    return false;
  } catch (err) {
    // EPERM: alive, under another user.
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** The process that holds a file now: its claimer, else its writer (none for an unclaimed old file). */
export function holderOf(file: SpoolFile): Owner | undefined {
  return file.claimer ?? file.writer;
}

/** The spool files in `dir` (none when it does not exist), oldest name first. */
export async function listSpoolFiles(dir: string): Promise<SpoolFile[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names
    .sort()
    .map((n) => parseSpoolName(dir, n))
    .filter((f): f is SpoolFile => f !== undefined);
}

export type SpoolWarn = (o: object, m: string) => void;

/**
 * A file's lines in order, or undefined when it is gone (another replayer took it). A last line
 * without its newline is a write cut short by a crash, never acknowledged to a caller: skipped.
 */
export async function readSpoolFile(path: string, warn: SpoolWarn): Promise<SpoolLine[] | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const end = text.lastIndexOf('\n') + 1;
  if (end < text.length) {
    warn({ file: path, bytes: text.length - end }, 'dropped a torn last line from the ledger spool');
  }
  const lines: SpoolLine[] = [];
  for (const line of text.slice(0, end).split('\n')) {
    if (line === '') continue;
    try {
      const parsed = JSON.parse(line) as SpoolLine;
      if (parsed.store !== undefined && !isIdentity(parsed.store)) throw new Error('bad store');
      lines.push(parsed);
    } catch {
      // Cannot be replayed; say so loudly rather than refuse to start.
      warn({ file: path, line: line.slice(0, 200) }, 'skipped an unreadable ledger spool line');
    }
  }
  return lines;
}

/** One spool line as written. */
export function spoolLine(store: StoreIdentity, entry: SpoolEntry): string {
  return `${JSON.stringify({ store, row: entry.row, spend: entry.spend })}\n`;
}

/** Every spool file of `dir` (or `files`) with its lines; files another replayer took meanwhile are left out. */
export async function readSpoolFolder(
  dir: string,
  warn: SpoolWarn,
  files?: readonly SpoolFile[],
): Promise<{ file: SpoolFile; lines: SpoolLine[] }[]> {
  const out: { file: SpoolFile; lines: SpoolLine[] }[] = [];
  for (const file of files ?? (await listSpoolFiles(dir))) {
    const lines = await readSpoolFile(file.path, warn);
    if (lines !== undefined) out.push({ file, lines });
  }
  return out;
}

/** The unreplayed rows of a folder (or of `files` in it) per store (old files' rows under `store: null`). */
export async function spooledRows(
  dir: string,
  warn: SpoolWarn = () => {},
  files?: readonly SpoolFile[],
): Promise<SpooledRows[]> {
  const groups = new Map<string, SpooledRows>();
  for (const { file, lines } of await readSpoolFolder(dir, warn, files)) {
    for (const line of lines) {
      const store = line.store === undefined ? null : storeAddress(line.store);
      // An old file's rows: its name says only the prefix (as a slug).
      const prefix = line.store?.prefix ?? file.legacySlug ?? '';
      const oldFile = line.store === undefined ? file.base : undefined;
      const key = JSON.stringify([store, prefix, oldFile]);
      let g = groups.get(key);
      if (g === undefined) {
        g = {
          store,
          prefix,
          ...(oldFile === undefined ? {} : { oldFile }),
          rows: 0,
          costNanoUsd: 0,
          firstTs: line.row.ts,
          lastTs: line.row.ts,
        };
        groups.set(key, g);
      }
      g.rows += 1;
      g.costNanoUsd += spentNanoUsd(line.row);
      g.firstTs = Math.min(g.firstTs, line.row.ts);
      g.lastTs = Math.max(g.lastTs, line.row.ts);
    }
  }
  return [...groups.values()];
}
