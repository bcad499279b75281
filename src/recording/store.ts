import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deserialize, type RecordedAnswer, type Recording, serialize } from './format.js';

/** A recording file as `tollgate cassettes list` shows it. */
export interface CassetteEntry {
  file: string;
  provider: string;
  method: string;
  path: string;
  status: number;
  recordedAt: string;
  /** When it was last replayed (the file's modification time: replaying touches it, its content stays). */
  lastUsedAt: string;
  bytes: number;
}

export interface PruneRule {
  /** Recorded before this instant (epoch ms). */
  recordedBefore?: number;
  /** Not replayed since this instant (epoch ms). */
  unusedSince?: number;
  provider?: string;
}

/** Per folder: which recording holds which job (filled as jobs are recorded, replayed or looked up). */
const JOBS = new Map<string, Map<string, string>>();
/** Per file: the write in progress, so follow-ups of one job are added one after another. */
const WRITING = new Map<string, Promise<void>>();

const isMissing = (e: unknown) => (e as NodeJS.ErrnoException).code === 'ENOENT';

/**
 * The recordings folder (CASSETTE_DIR): one JSON file per interaction, named from its request key.
 * Writes go to a temporary file renamed into place, so a reader never sees half a file and two
 * writers of the same recording leave one whole file, never a mix.
 */
export class CassetteStore {
  constructor(readonly dir: string) {}

  /** The recording in `file`, or undefined when there is none. Marks it used. */
  async read(file: string): Promise<Recording | undefined> {
    const path = join(this.dir, file);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      if (isMissing(e)) return undefined;
      throw e;
    }
    const now = new Date();
    utimes(path, now, now).catch(() => {});
    return deserialize(text);
  }

  /** Writes a recording atomically; `secrets` are blanked out of it whatever happens. */
  async write(file: string, recording: Recording, secrets: readonly string[]): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const tmp = join(this.dir, `.${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await writeFile(tmp, serialize(recording, secrets), { mode: 0o644 });
      await rename(tmp, join(this.dir, file));
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }

  #jobs(): Map<string, string> {
    let jobs = JOBS.get(this.dir);
    if (jobs === undefined) {
      jobs = new Map();
      JOBS.set(this.dir, jobs);
    }
    return jobs;
  }

  /** Remembers which recording holds `jobId` (its upload's answer named it). */
  noteJob(jobId: string, file: string): void {
    this.#jobs().set(jobId, file);
  }

  /** The recording that holds `jobId`: remembered, else found among the provider's recordings. */
  async findJob(provider: string, jobId: string): Promise<string | undefined> {
    const known = this.#jobs().get(jobId);
    if (known !== undefined) return known;
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter((n) => n.startsWith(`${provider}_`) && n.endsWith('.json'));
    } catch (e) {
      if (isMissing(e)) return undefined;
      throw e;
    }
    const needle = `"job_id": ${JSON.stringify(jobId)}`;
    for (const file of names) {
      const text = await readFile(join(this.dir, file), 'utf8').catch(() => '');
      if (!text.includes(needle)) continue;
      this.noteJob(jobId, file);
      return file;
    }
    return undefined;
  }

  /** Adds (or replaces) one follow-up answer of the job recorded in `file`; one writer per file at a time. */
  addFollowUp(file: string, request: string, answer: RecordedAnswer, secrets: readonly string[]): Promise<void> {
    const path = join(this.dir, file);
    const previous = WRITING.get(path) ?? Promise.resolve();
    const next = previous.then(async () => {
      const recording = await this.read(file);
      if (recording === undefined) return;
      recording.followUps = { ...recording.followUps, [request]: answer };
      await this.write(file, recording, secrets);
    });
    const settled = next.catch(() => {});
    WRITING.set(path, settled);
    void settled.then(() => {
      if (WRITING.get(path) === settled) WRITING.delete(path);
    });
    return next;
  }

  /** Every recording, sorted by file name. Files that are not recordings are skipped. */
  async list(): Promise<CassetteEntry[]> {
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter((n) => n.endsWith('.json') && !n.startsWith('.')).sort();
    } catch (e) {
      if (isMissing(e)) return [];
      throw e;
    }
    const out: CassetteEntry[] = [];
    for (const file of names) {
      const path = join(this.dir, file);
      try {
        const [text, st] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
        const r = deserialize(text);
        out.push({
          file,
          provider: r.request.provider,
          method: r.request.method,
          path: r.request.path,
          status: r.status,
          recordedAt: r.recordedAt,
          lastUsedAt: st.mtime.toISOString(),
          bytes: st.size,
        });
      } catch {
        // Not a recording: left alone.
      }
    }
    return out;
  }

  /** The text of one recording, by file name (with or without `.json`). */
  async show(name: string): Promise<string | undefined> {
    const file = name.endsWith('.json') ? name : `${name}.json`;
    if (file.includes('/') || file.includes('\\')) return undefined;
    try {
      return await readFile(join(this.dir, file), 'utf8');
    } catch (e) {
      if (isMissing(e)) return undefined;
      throw e;
    }
  }

  /** Removes the recordings every given rule matches (all rules must hold); returns what it removed. */
  async prune(rule: PruneRule, dryRun = false): Promise<CassetteEntry[]> {
    const gone = (await this.list()).filter(
      (e) =>
        (rule.provider === undefined || e.provider === rule.provider) &&
        (rule.recordedBefore === undefined || Date.parse(e.recordedAt) < rule.recordedBefore) &&
        (rule.unusedSince === undefined || Date.parse(e.lastUsedAt) < rule.unusedSince),
    );
    if (!dryRun) for (const e of gone) await rm(join(this.dir, e.file), { force: true });
    return gone;
  }
}
