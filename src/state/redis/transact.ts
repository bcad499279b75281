/** The generic `transact` over Redis: READ, decide, CAS, and again on a conflict. */
import { randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { StoreUnavailableError, type TransactRequest } from '../types.js';
import type { Snapshot } from './codec.js';

/**
 * Per-key queues of one process. Registering as the new tail of every key happens synchronously,
 * so the wait order is a total order and cannot deadlock; only one CAS per key is then in flight
 * per process, and conflicts come from other sidecars.
 */
export class KeyQueue {
  readonly #tails = new Map<string, Promise<void>>();

  /** Waits behind earlier holders of any of `keys`; resolves to the release. */
  async lock(keys: readonly string[]): Promise<() => void> {
    const before: Promise<void>[] = [];
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    for (const k of keys) {
      const tail = this.#tails.get(k);
      if (tail !== undefined) before.push(tail);
      this.#tails.set(k, mine);
    }
    if (before.length > 0) await Promise.all(before);
    return () => {
      release();
      for (const k of keys) if (this.#tails.get(k) === mine) this.#tails.delete(k);
    };
  }
}

export interface CasSteps {
  read(keys: readonly string[], counters: readonly string[]): Promise<Snapshot>;
  /** True when committed; otherwise the fresh state the conflicting CAS returned. */
  cas<T>(request: TransactRequest<T>, snapshot: Snapshot, writes: Map<string, unknown>): Promise<true | Snapshot>;
  /** Called on every conflict. */
  retried(): void;
  maxAttempts: number;
}

/** The values `decide` sees: each key's JSON (undefined absent), each counter's number (0 absent). */
function valuesOf(keys: readonly string[], counters: readonly string[], snapshot: Snapshot): Map<string, unknown> {
  const values = new Map<string, unknown>();
  keys.forEach((k, i) => {
    const data = snapshot.keys[i]!.data;
    values.set(k, data === '' ? undefined : JSON.parse(data));
  });
  counters.forEach((k, i) => {
    values.set(k, snapshot.counters[i] === '' ? 0 : Number(snapshot.counters[i]));
  });
  return values;
}

export async function transactByCas<T>(request: TransactRequest<T>, steps: CasSteps): Promise<T> {
  const keys = request.keys;
  const counters = request.counters ?? [];
  let snapshot = await steps.read(keys, counters);
  for (let attempt = 1; ; attempt++) {
    const { writes, result } = request.decide(valuesOf(keys, counters, snapshot), snapshot.now);
    // A consistent snapshot (READ is one script) needs no CAS when nothing changes.
    if (writes.size === 0) return result;

    const outcome = await steps.cas(request, snapshot, writes);
    if (outcome === true) return result;
    steps.retried();
    if (attempt >= steps.maxAttempts) {
      throw new StoreUnavailableError(`redis transact on ${keys.join(', ')}: gave up after ${attempt} conflicts`);
    }
    snapshot = outcome;
    if (attempt >= 3) {
      // Repeated conflicts mean other sidecars hammer the same keys: back off with jitter so
      // they stop colliding, then read afresh (the state from the conflict is stale by then).
      await sleep(randomInt(1, Math.min(2 ** attempt, 50) + 1));
      snapshot = await steps.read(keys, counters);
    }
  }
}
