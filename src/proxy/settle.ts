import { randomUUID } from 'node:crypto';
import { type Admission, type JobHold, toNano } from '../limits/index.js';
import { emptyUsage, type Usage, type WorstCase } from '../providers/index.js';
import type { LedgerRow, ServedBy } from '../state/index.js';
import type { WorstCaseOf } from './admit.js';
import type { Exchange } from './exchange.js';

/** Real spend counts against budgets; mock and replay shadow cost only with BUDGET_INCLUDE_MOCK; a cache hit never. */
const billable = (servedBy: ServedBy, includeMock: boolean) =>
  servedBy === 'real' || (includeMock && (servedBy === 'mock' || servedBy === 'replay'));

/** The usage to book: what the provider reported, else what was delivered (never zero for a cut stream). */
function bookedUsage(x: Exchange, worst: WorstCaseOf): Usage {
  const u = x.call.usage ?? emptyUsage();
  if (u.reported || worst.reserved === undefined) return u;
  // No usage from the provider (a stream cut short): count what was delivered, never book zero.
  const exact = worst.exact() as WorstCase;
  // A stream that reported its prompt in its first event keeps that count.
  if (u.inputTokens === 0) u.inputTokens = exact.inputTokens;
  u.outputTokens = x.adapter.countTokens?.(u.model ?? x.call.model, u.deliveredText ?? '') ?? 0;
  return u;
}

/** The ledger row of a call that consumed something, with its cost on the call record; else undefined. */
function ledgerRow(x: Exchange, worst: WorstCaseOf): LedgerRow | undefined {
  const { call, route, adapter } = x;
  const ok = call.status >= 200 && call.status < 300;
  if (!route.metered || !ok || (call.usage === undefined && worst.reserved === undefined)) return undefined;
  const u = bookedUsage(x, worst);
  call.usage = u;
  const w = worst.reserved;
  if (!u.reported && !(w !== undefined && w.inputTokens + w.outputTokens > 0)) return undefined;
  const cost = x.deps.meter.cost(adapter.name, u, call.model);
  call.unpriced = !cost.priced;
  // A cache hit costs nothing; its row keeps what it saved (the report counts that as saved, not spent).
  call.costUsd = call.servedBy === 'cache' ? 0 : cost.usd;
  if (call.servedBy === 'cache') call.savedUsd = cost.usd;
  return {
    id: adapter.bookingId?.(route.operation, x.params) ?? randomUUID(),
    ts: Date.now(),
    correlationId: call.correlationId,
    traceId: call.traceId,
    provider: adapter.name,
    operation: route.operation,
    model: u.model ?? cost.model ?? call.model ?? u.tier ?? 'unknown',
    servedBy: call.servedBy,
    inputTokens: u.inputTokens,
    cachedInputTokens: u.cachedInputTokens,
    outputTokens: u.outputTokens,
    pages: u.pages,
    costNanoUsd: toNano(cost.usd),
    billable: billable(call.servedBy, x.cfg.budgets.includeMock),
  };
}

/**
 * Stage 6: books the call and settles its admission, once. Runs before the last byte goes out (the
 * worker never holds a whole answer the ledger lacks), or at the end of an abandoned call.
 */
export class Booking {
  #done = false;
  constructor(
    readonly x: Exchange,
    readonly worst: WorstCaseOf,
    readonly admission: Admission | undefined,
  ) {}

  /** The job an upload started, as its hold is kept in the store. */
  #job(jobId: string): JobHold {
    const { x } = this;
    const { call, adapter } = x;
    return {
      bookingId: adapter.bookingId?.('parse.job', { id: jobId }) ?? `${adapter.name}:job:${jobId}`,
      jobId,
      provider: adapter.name,
      operation: x.route.operation,
      model: this.worst.reserved?.model ?? call.model ?? 'unknown',
      servedBy: call.servedBy,
      billable: billable(call.servedBy, x.cfg.budgets.includeMock),
      correlationId: call.correlationId,
      traceId: call.traceId,
    };
  }

  readonly settle = async (): Promise<void> => {
    if (this.#done) return;
    this.#done = true;
    const { x, worst, admission } = this;
    const jobId = x.call.usage?.jobId;
    if (admission !== undefined && jobId !== undefined && x.call.status >= 200 && x.call.status < 300) {
      // The upload started a job: what it holds now belongs to the job, settled when the job is.
      await admission.keep(this.#job(jobId));
      return;
    }
    const row = ledgerRow(x, worst);
    const tokens = row ? row.inputTokens + row.outputTokens : (worst.exact()?.inputTokens ?? 0);
    const pages = row?.pages ?? 0;
    if (admission !== undefined) {
      await admission.settle({ row, tokens, pages });
    } else if (row !== undefined) {
      const fresh = await x.deps.limiter.book(row, { provider: x.adapter.name, model: x.call.model, pages });
      // A job read a second time was booked already: this call adds nothing.
      if (!fresh) x.call.costUsd = 0;
    }
  };
}
