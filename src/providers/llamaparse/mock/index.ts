/**
 * The built-in LlamaParse (LlamaCloud) mock: the same routes and shapes as the real parse API,
 * v1 and v2, with results drawn from the uploaded document itself (see ../extract/).
 *
 * Jobs are PENDING for `parseDelayMs` (on the injected clock), then SUCCESS (v2: COMPLETED) or
 * ERROR for documents LlamaCloud cannot parse, or when `errorRate` injects a fault. Empty and
 * unsupported files are refused at upload, as LlamaCloud refuses them. Each route has its own
 * handler (handlers.ts); this file assembles them around one shared context.
 *
 * @example
 *   const mock = createLlamaParseMock(() => settings.mock, Date.now, { maxUploadBytes: 100 << 20 });
 *   const reply = await mock.handle(call);               // call.operation from llamaparseRoutes
 *   mock.describeJob(jobId);                             // { pages, tier, credits, bookedAt? }
 *   mock.close();
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { TollgateError } from '../../../errors.js';
import type { MockCall, MockSettings, ProviderMock, ProviderReply } from '../../types.js';
import { DocumentError } from '../extract/index.js';
import { createContext, type LlamaParseMockOptions, type MockContext } from './context.js';
import { dispatch } from './handlers.js';
import { jobCredits, type V1Status, v1Status } from './jobs.js';
import { documentErrorReply, errorReply } from './replies.js';
import type { ParseTier } from './tiers.js';

export type { LlamaParseMockOptions } from './context.js';
export type { V1Status, V2Status } from './jobs.js';
export { parsePageList } from './selection.js';
export { PARSE_TIERS, type ParseTier, TIER_CREDITS_PER_PAGE, tierFromV1Fields } from './tiers.js';

/** What metering needs to book a job once: its parsed pages, tier and credits. */
export interface JobDescription {
  id: string;
  api: 'v1' | 'v2';
  status: V1Status;
  fileName: string;
  pages: number;
  tier: ParseTier;
  /** pages × the tier's credits per page; 0 for a failed job (LlamaCloud does not bill those). */
  credits: number;
  /** Set by markBooked: when the sidecar booked this job's cost. */
  bookedAt?: number;
}

export interface LlamaParseMock extends ProviderMock {
  /** Pages, tier and credits of a job; undefined for an unknown or evicted id. */
  describeJob(id: string): JobDescription | undefined;
  /**
   * Marks a job as booked so it is charged once however often its results are fetched.
   * Returns true the first time (book it now), false when it was booked already or is unknown.
   */
  markBooked(id: string, at?: number): boolean;
  /** Drops every job and stops the eviction timer. */
  close(): void;
}

async function waitLatency(ctx: MockContext, call: MockCall): Promise<void> {
  const [min, max] = ctx.settings().latencyMs;
  if (max <= 0) return;
  const ms = Math.round(min + (max - min) * ctx.latencyRandom());
  // The signal is read only for a wait (the proxy makes it on first read).
  if (ms > 0) await sleep(ms, undefined, { signal: call.signal });
}

/** Answers one call after the configured latency; refusals thrown by a handler become replies. */
async function handle(ctx: MockContext, call: MockCall): Promise<ProviderReply> {
  await waitLatency(ctx, call);
  try {
    return await dispatch(ctx, call);
  } catch (error) {
    if (error instanceof TollgateError) return errorReply(error);
    if (error instanceof DocumentError) return documentErrorReply(error);
    throw error;
  }
}

function describeJob(ctx: MockContext, id: string): JobDescription | undefined {
  const job = ctx.jobs.get(id);
  if (!job) return undefined;
  return {
    id: job.id,
    api: job.api,
    status: v1Status(job, ctx.now()),
    fileName: job.fileName,
    pages: job.failure ? 0 : job.pages.length,
    tier: job.tier,
    credits: jobCredits(job),
    ...(job.bookedAt === undefined ? {} : { bookedAt: job.bookedAt }),
  };
}

function markBooked(ctx: MockContext, id: string, at: number): boolean {
  const job = ctx.jobs.get(id);
  if (!job || job.bookedAt !== undefined) return false;
  job.bookedAt = at;
  return true;
}

/** Evicts expired jobs and files in the background, so an idle mock does not hold them. */
function startSweeper(ctx: MockContext): NodeJS.Timeout {
  const sweeper = setInterval(
    function sweepExpired() {
      ctx.jobs.sweep();
      ctx.files.sweep();
    },
    Math.min(ctx.ttlMs, 60_000),
  );
  sweeper.unref();
  return sweeper;
}

/**
 * Creates the mock. `settings` is read on every call, so a hot reload applies to the next call;
 * `now` drives job timing (inject a fake clock in tests). Takes `(settings, now, options)` or
 * `(settings, options)` with `options.now`, as the provider adapter calls it.
 */
export function createLlamaParseMock(
  settings: () => MockSettings,
  nowOrOptions: (() => number) | LlamaParseMockOptions = {},
  moreOptions: LlamaParseMockOptions = {},
): LlamaParseMock {
  const options = typeof nowOrOptions === 'function' ? { ...moreOptions, now: nowOrOptions } : nowOrOptions;
  const ctx = createContext(settings, options);
  const sweeper = startSweeper(ctx);
  return {
    handle: (call) => handle(ctx, call),
    describeJob: (id) => describeJob(ctx, id),
    markBooked: (id, at = ctx.now()) => markBooked(ctx, id, at),
    close() {
      clearInterval(sweeper);
      ctx.jobs.clear();
      ctx.files.clear();
    },
  };
}
