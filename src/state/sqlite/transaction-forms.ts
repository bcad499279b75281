/**
 * The two forms a batch's write transaction takes in the sqlite store: the fast one (every item in one
 * transaction, no savepoints) and, when an item's decide throws, the slow one (a savepoint per item).
 */
import Database from 'better-sqlite3';
import type { TransactRequest } from '../types.js';
import type { KvView } from './kv-view.js';
import { apply } from './statements.js';
import type { Outcome } from './tick-batch.js';

/**
 * One item's step inside the slow form of a batch (a savepoint each): a failure of its own is its
 * outcome; an SQLite error (disk full, lock lost) fails the whole transaction, as it would have failed
 * the item alone.
 */
export function attempt<O>(step: () => O): Outcome<O> {
  try {
    return { ok: true, value: step() };
  } catch (error) {
    if (error instanceof Database.SqliteError) throw error;
    return { ok: false, error };
  }
}

/** One request in a savepoint of its own: written at once; a failure part-way rolls the savepoint back, so the view forgets. */
export function applyAndFlush<T>(kv: KvView, request: TransactRequest<T>, now: number, wrote: { any: boolean }): T {
  try {
    const result = apply(kv, request, now, wrote);
    kv.flush();
    return result;
  } catch (error) {
    kv.forget();
    throw error;
  }
}

/**
 * A batch's write transaction: `fast` runs every item in one transaction without savepoints. When
 * one item's decide throws, that transaction is rolled back (the view forgets what it decided) and
 * `slow` runs the batch again with a savepoint per item, so that item alone fails and the others
 * commit, as they would have one by one. SQLite errors fail the batch; whatever did not commit, the
 * view has forgotten when this throws.
 */
export function fastThenSlow<O>(kv: KvView, fast: () => O[], slow: () => Outcome<O>[]): Outcome<O>[] {
  try {
    return fast().map((value) => ({ ok: true, value }));
  } catch (error) {
    kv.forget();
    if (error instanceof Database.SqliteError) throw error;
  }
  try {
    return slow();
  } catch (error) {
    kv.forget();
    throw error;
  }
}
