import type { AdmitOp, AdmitVerdict, Store } from './types.js';

const NOTHING: AdmitOp = {
  holdId: 'tollgate:warm-up',
  buckets: [],
  amounts: [],
  budgets: [],
  holdNano: 0,
  holdTtlMs: 0,
  degrade: false,
};

/**
 * Runs each operation of the per-call path once with nothing to take, hold, book or release, so the
 * first real call finds the store as the thousandth does: a Redis store connected and its scripts
 * loaded on the server and on the connection (the first EVAL of each went through), or its local
 * fallback active; an embedded store's statements prepared. Changes no state. Rejects when the
 * store answers with an error that is not an outage (a fallback answers those).
 *
 * @example
 * await store.open();
 * await warmStore(store); // before /readyz turns 200
 */
export async function warmStore(store: Store): Promise<void> {
  const request = {
    keys: [],
    decide: (_values: ReadonlyMap<string, unknown>, now: number) => ({
      writes: new Map<string, unknown>(),
      result: { admitted: true, now, levels: [] } as AdmitVerdict,
    }),
  };
  await (store.admit === undefined ? store.transact(request) : store.admit(NOTHING, request));
  const settle = { row: undefined, spend: [], holdId: NOTHING.holdId, holdKeys: [], adjust: [], deltas: [] };
  await (store.settle === undefined ? store.transact(request) : store.settle(settle, undefined));
  await store.counters([]);
}
