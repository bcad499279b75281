import type { LedgerGroup, LedgerRow } from './types.js';

/** A group with nothing counted yet. */
export const emptyGroup = (
  provider: string,
  model: string,
  servedBy: 'real' | 'mock',
  operation: string,
): LedgerGroup => ({
  provider,
  model,
  servedBy,
  operation,
  requests: 0,
  costNanoUsd: 0,
  inputTokens: 0,
  cachedInputTokens: 0,
  outputTokens: 0,
  pages: 0,
});

/** Folds rows into per (provider, model, servedBy, operation) totals; shared by the stores that keep rows. */
export function groupRows(rows: Iterable<LedgerRow>): LedgerGroup[] {
  const groups = new Map<string, LedgerGroup>();
  for (const r of rows) {
    const key = `${r.provider}\u0000${r.model}\u0000${r.servedBy}\u0000${r.operation}`;
    let g = groups.get(key);
    if (g === undefined) {
      g = emptyGroup(r.provider, r.model, r.servedBy, r.operation);
      groups.set(key, g);
    }
    g.requests += 1;
    g.costNanoUsd += r.costNanoUsd;
    g.inputTokens += r.inputTokens;
    g.cachedInputTokens += r.cachedInputTokens;
    g.outputTokens += r.outputTokens;
    g.pages += r.pages;
  }
  return [...groups.values()];
}
