import type { LedgerRow, SpendIncrement } from '../types.js';

function assertInteger(name: string, n: number): void {
  // HINCRBY/INCRBY reject non-integers mid-script, after the guard is set, which would book a row
  // half: refuse before sending instead.
  if (!Number.isSafeInteger(n)) throw new RangeError(`ledger ${name} must be a safe integer, got ${n}`);
}

/** Throws a RangeError for a row or spend the scripts could only book half of. */
export function validate(row: LedgerRow, spend: readonly SpendIncrement[]): void {
  if (!Number.isFinite(row.ts)) throw new RangeError(`ledger ts must be finite, got ${row.ts}`);
  assertInteger('costNanoUsd', row.costNanoUsd);
  assertInteger('inputTokens', row.inputTokens);
  assertInteger('cachedInputTokens', row.cachedInputTokens);
  assertInteger('outputTokens', row.outputTokens);
  assertInteger('pages', row.pages);
  for (const s of spend) {
    assertInteger(`spend ${s.key}`, s.nanoUsd);
    if (!Number.isFinite(s.expiresAt)) throw new RangeError(`spend ${s.key} expiresAt must be finite`);
  }
}
