import type { LedgerGroup, LedgerRow, ServedBy } from './types.js';

/** A group with nothing counted yet. */
export const emptyGroup = (provider: string, model: string, servedBy: ServedBy, operation: string): LedgerGroup => ({
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

type GroupId = Pick<LedgerGroup, 'provider' | 'model' | 'servedBy' | 'operation'>;
type Counts = Pick<LedgerGroup, 'costNanoUsd' | 'inputTokens' | 'cachedInputTokens' | 'outputTokens' | 'pages'>;

/** Adds `requests` calls with `counts` to the group of `id` (made empty when missing). */
export function addToGroup(groups: Map<string, LedgerGroup>, id: GroupId, requests: number, counts: Counts): void {
  const key = `${id.provider}\u0000${id.model}\u0000${id.servedBy}\u0000${id.operation}`;
  let g = groups.get(key);
  if (g === undefined) {
    g = emptyGroup(id.provider, id.model, id.servedBy, id.operation);
    groups.set(key, g);
  }
  g.requests += requests;
  g.costNanoUsd += counts.costNanoUsd;
  g.inputTokens += counts.inputTokens;
  g.cachedInputTokens += counts.cachedInputTokens;
  g.outputTokens += counts.outputTokens;
  g.pages += counts.pages;
}

/** Folds rows into per (provider, model, servedBy, operation) totals; shared by the stores that keep rows. */
export function groupRows(rows: Iterable<LedgerRow>): LedgerGroup[] {
  const groups = new Map<string, LedgerGroup>();
  for (const r of rows) addToGroup(groups, r, 1, r);
  return [...groups.values()];
}

/** Sums groups of the same (provider, model, servedBy, operation); the inputs are left as they are. */
export function mergeGroups(...lists: LedgerGroup[][]): LedgerGroup[] {
  const out = new Map<string, LedgerGroup>();
  for (const list of lists) for (const g of list) addToGroup(out, g, g.requests, g);
  return [...out.values()];
}
