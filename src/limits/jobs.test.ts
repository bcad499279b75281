import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HoldState } from './decide.js';
import { decideAdmit } from './decide.js';
import {
  decideClaim,
  decideForget,
  decideGone,
  decideKeep,
  decideSettleJob,
  JOB_HOLD_TTL_MS,
  type JobRecord,
  jobKey,
  PENDING_JOBS_KEY,
} from './jobs.js';

const HOLD = 'budget:llamaparse:day:holds';
const SPENT = 'budget:llamaparse:day:spent';
const PAGES = { key: 'bucket:llamaparse:pages', limit: 3600, burst: 100 };
const NOW = 1_800_000_000_000;

/** A store of plain values: each decision's writes applied, as every store does in one step. */
function world() {
  const values = new Map<string, unknown>();
  const apply = <T>(d: { writes: Map<string, unknown>; result: T }) => {
    for (const [k, v] of d.writes) {
      if (v === undefined) values.delete(k);
      else values.set(k, structuredClone(v));
    }
    return d.result;
  };
  return { values, apply };
}

const job = {
  bookingId: 'llamaparse:job:j1',
  jobId: 'j1',
  provider: 'llamaparse',
  operation: 'parse.upload',
  model: 'cost_effective',
  servedBy: 'real' as const,
  billable: true,
  correlationId: 'c',
  traceId: '',
  holdNano: 7_500_000,
  holdKeys: [HOLD],
  keyExpiry: { [HOLD]: NOW + 86_400_000 },
  pages: 2,
};

function admitted() {
  const w = world();
  w.apply(
    decideAdmit(
      {
        holdId: 'call-1',
        buckets: [PAGES],
        amounts: [2],
        budgets: [{ holdKey: HOLD, spentKey: SPENT, limitNano: 20_000_000, expiresAt: NOW + 86_400_000 }],
        holdNano: 7_500_000,
        holdTtlMs: 180_000,
        degrade: false,
      },
      w.values,
      NOW,
    ),
  );
  return w;
}

describe('LlamaParse job holds', () => {
  it('moves the call hold to the job, for 48 hours, and indexes the job', () => {
    const w = admitted();
    const record = w.apply(decideKeep('call-1', job, 600_000, w.values, NOW + 10));
    const holds = w.values.get(HOLD) as HoldState;
    assert.deepEqual(Object.keys(holds.holds), [job.bookingId]);
    assert.deepEqual(holds.holds[job.bookingId], [7_500_000, NOW + 10 + JOB_HOLD_TTL_MS]);
    assert.equal(holds.held, 7_500_000);
    assert.equal(record.dueAt, NOW + 10 + 600_000);
    assert.deepEqual(w.values.get(PENDING_JOBS_KEY), { [job.bookingId]: record.dueAt });
  });

  it('settles once: releases the hold, refunds held pages beyond the job, forgets the job', () => {
    const w = admitted();
    w.apply(decideKeep('call-1', job, 600_000, w.values, NOW));
    const before = (w.values.get(PAGES.key) as { tokens: number }).tokens;
    const settled = w.apply(decideSettleJob(job.bookingId, 1, [PAGES], w.values, NOW));
    assert.equal(settled?.jobId, 'j1');
    assert.equal((w.values.get(HOLD) as HoldState).held, 0);
    assert.equal((w.values.get(PAGES.key) as { tokens: number }).tokens, before + 1);
    assert.equal(w.values.get(jobKey(job.bookingId)), undefined);
    assert.deepEqual(w.values.get(PENDING_JOBS_KEY), {});
    assert.equal(w.apply(decideSettleJob(job.bookingId, 1, [PAGES], w.values, NOW)), undefined);
  });

  it('claims due jobs for a lease, marks gone jobs due at expiry, forgets ids without a record', () => {
    const w = admitted();
    const record = w.apply(decideKeep('call-1', job, 1000, w.values, NOW));
    assert.deepEqual(w.apply(decideClaim(10, 60_000, w.values, NOW + 999)), []);
    assert.deepEqual(w.apply(decideClaim(10, 60_000, w.values, NOW + 1000)), [job.bookingId]);
    assert.deepEqual(w.apply(decideClaim(10, 60_000, w.values, NOW + 1001)), [], 'leased');
    w.apply(decideGone(job.bookingId, w.values));
    assert.equal((w.values.get(jobKey(job.bookingId)) as JobRecord).gone, true);
    assert.deepEqual(w.values.get(PENDING_JOBS_KEY), { [job.bookingId]: record.expiresAt });
    w.values.delete(jobKey(job.bookingId));
    w.apply(decideForget([job.bookingId], w.values));
    assert.deepEqual(w.values.get(PENDING_JOBS_KEY), {});
  });
});
