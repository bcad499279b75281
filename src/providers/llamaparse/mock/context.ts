/**
 * What every route handler of the mock shares: the live settings, the clock, the job and file
 * stores, the upload cap and the fault stream. Built once per mock by createContext.
 */
import type { MockSettings } from '../../types.js';
import type { DocumentError, ExtractedPage } from '../extract/index.js';
import type { MockJob } from './jobs.js';
import { type Random, reseedingRandom } from './random.js';
import { BoundedStore } from './store.js';

export interface LlamaParseMockOptions {
  /** The clock for job timing and eviction (also accepted as the second argument). */
  now?: () => number;
  /** Request size cap for uploads (LLAMAPARSE_MAX_UPLOAD_BYTES); over it → 413 `request_too_large`. */
  maxUploadBytes?: number;
  /** Jobs (and v2 files) kept in memory; the oldest are evicted first. */
  maxJobs?: number;
  /** How long a job (or file) can be read after it was created. */
  jobTtlMs?: number;
}

/** A v2 file uploaded on its own, to be parsed later by id. */
export interface StoredFile {
  id: string;
  createdAt: number;
  name: string;
  /** The extraction, or why it failed (a broken PDF fails the parse job, not the file upload). */
  pages: ExtractedPage[] | DocumentError;
}

export interface MockContext {
  /** Read on every call, so a hot reload applies to the next call. */
  settings: () => MockSettings;
  now: () => number;
  maxUploadBytes: number;
  /** How long jobs and files live; v2 files report it as `expires_at`. */
  ttlMs: number;
  jobs: BoundedStore<MockJob>;
  files: BoundedStore<StoredFile>;
  /** Decides injected faults (MOCK_ERROR_RATE). */
  faultRandom: Random;
  /** Draws latencies; a separate stream, so a latency draw never shifts which job a fault hits. */
  latencyRandom: Random;
}

const DEFAULT_MAX_UPLOAD_BYTES = 104_857_600;
const DEFAULT_MAX_JOBS = 10_000;
const DEFAULT_JOB_TTL_MS = 60 * 60 * 1000;

export function createContext(settings: () => MockSettings, options: LlamaParseMockOptions): MockContext {
  const now = options.now ?? Date.now;
  const storeOptions = {
    maxEntries: options.maxJobs ?? DEFAULT_MAX_JOBS,
    ttlMs: options.jobTtlMs ?? DEFAULT_JOB_TTL_MS,
    now,
  };
  return {
    settings,
    now,
    maxUploadBytes: options.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES,
    ttlMs: storeOptions.ttlMs,
    jobs: new BoundedStore<MockJob>(storeOptions),
    files: new BoundedStore<StoredFile>(storeOptions),
    faultRandom: reseedingRandom(() => settings().seed, 0x6a0b),
    latencyRandom: reseedingRandom(() => settings().seed, 0x1a7e),
  };
}
