/**
 * One sidecar's calls into Redis: each script call encoded, answered and decoded, and what it
 * showed of Redis kept as the last known state (fallback.ts). Every call runs under the caller's
 * {@link Deadline} (STATE_TIMEOUT_MS); each failure is handled as outage.ts classifies it. An outage
 * raises RedisUnreachable after telling the store (`onOutage`), which decides what answers instead.
 */
import type {
  AdmitOp,
  AdmitVerdict,
  LedgerGroup,
  LedgerQuery,
  LedgerRow,
  SettleOp,
  SpendIncrement,
  TransactRequest,
} from '../types.js';
import * as codec from './codec.js';
import type { Deadline } from './deadline.js';
import type { LastKnown } from './fallback.js';
import type { RedisKeys } from './keys.js';
import { aggregateLedger, ledgerRows } from './ledger.js';
import { classify, messageOf, RedisUnreachable, StateUnavailable } from './outage.js';
import type { CommandName, Reply, ScriptedRedis } from './scripts.js';
import { transactByCas } from './transact.js';

export interface RemoteOptions {
  keys: RedisKeys;
  /** How long a row, its hour totals and its id guard are kept. */
  retention: number;
  /** The local clock. */
  now: () => number;
  last: LastKnown;
  /** Called with the reason when a call failed for want of Redis. */
  onOutage: (reason: string) => void;
  /** Called when a reply said "not now" (LOADING, BUSY…) or NOSCRIPT and the call is tried again. */
  onRetry: () => void;
}

export class RedisRemote {
  readonly #redis: ScriptedRedis;
  readonly #o: RemoteOptions;
  /** Redis TIME minus the local clock, as of the last answer that carried it. */
  clockOffset = 0;

  constructor(redis: ScriptedRedis, options: RemoteOptions) {
    this.#redis = redis;
    this.#o = options;
  }

  /** Redis TIME as the local clock estimates it now. */
  now(): number {
    return this.#o.now() + this.clockOffset;
  }

  #saw(now: number): void {
    this.clockOffset = now - this.#o.now();
  }

  /**
   * Runs a Redis call until it answers or `d` passes: LOADING/BUSY/TRYAGAIN… are retried with a
   * growing pause, NOSCRIPT once; an outage (or READONLY) is reported and thrown as
   * RedisUnreachable; OOM and WRONGTYPE become StateUnavailable; `keys` are the ones the call
   * touches, to name the one of the wrong type.
   */
  async call<T>(d: Deadline, run: (redis: ScriptedRedis) => Promise<T>, keys: readonly string[] = []): Promise<T> {
    let noscript = false;
    for (let pause = 20; ; pause = Math.min(pause * 2, 250)) {
      try {
        return await d.race(run(this.#redis));
      } catch (err) {
        if (d.over) throw err;
        const failure = classify(err);
        if (failure === 'retry' || (failure === 'noscript' && !noscript)) {
          noscript ||= failure === 'noscript';
          this.#o.onRetry();
          await d.pause(pause);
          continue;
        }
        throw await this.#failed(failure, err, keys);
      }
    }
  }

  async #failed(failure: ReturnType<typeof classify>, err: unknown, keys: readonly string[]): Promise<unknown> {
    const message = messageOf(err);
    switch (failure) {
      case 'unreachable':
      case 'readonly': {
        const reason = failure === 'readonly' ? `server is read-only, a replica (${message})` : message;
        this.#o.onOutage(reason);
        return new RedisUnreachable(reason, { cause: err });
      }
      case 'oom':
        return new StateUnavailable('oom', `redis refused the write: out of memory (maxmemory reached): ${message}`, {
          cause: err,
        });
      case 'wrongtype':
        return new StateUnavailable('wrongtype', await this.#wrongType(keys), { cause: err });
      default:
        return err;
    }
  }

  /** Names the keys that hold another type than the layout gives them (keys.ts). */
  async #wrongType(keys: readonly string[]): Promise<string> {
    const found: string[] = [];
    try {
      const types = await Promise.all(keys.map((k) => this.#redis.type(k)));
      keys.forEach((k, i) => {
        const expected = this.#o.keys.typeOf(k);
        if (types[i] !== 'none' && expected !== undefined && types[i] !== expected) {
          found.push(`${k} holds a ${types[i]}, not a ${expected}`);
        }
      });
    } catch {
      // The error below still names the prefix.
    }
    const where = found.length > 0 ? found.join('; ') : `a key under ${this.#o.keys.prefix}`;
    return `redis key of the wrong type: ${where} (something else writes under the store's prefix)`;
  }

  #script(d: Deadline, name: CommandName, call: codec.ScriptCall): Promise<Reply> {
    const keys = call.args.slice(0, call.numKeys).map(String);
    return this.call(d, (redis) => redis[name](call.numKeys, ...call.args), keys);
  }

  /** READ, decide, CAS until a CAS commits (see transact.ts). */
  /** `stats.retries` counts the conflicts. */
  transact<T>(d: Deadline, request: TransactRequest<T>, maxAttempts: number, stats: { retries: number }): Promise<T> {
    return transactByCas(request, {
      read: (keys, counters) => this.#read(d, keys, counters),
      cas: (req, snapshot, writes) => this.#cas(d, req, snapshot, writes),
      retried: () => {
        stats.retries += 1;
      },
      maxAttempts,
    });
  }

  async #read(d: Deadline, keys: readonly string[], counters: readonly string[]): Promise<codec.Snapshot> {
    const reply = await this.#script(d, 'tgRead', codec.readCall(this.#o.keys, keys, counters));
    return this.#remember(keys, counters, codec.decodeState(keys.length, counters.length, reply, 0));
  }

  /** True when committed; otherwise the fresh state the conflicting CAS returned. */
  async #cas<T>(
    d: Deadline,
    request: TransactRequest<T>,
    snapshot: codec.Snapshot,
    writes: Map<string, unknown>,
  ): Promise<true | codec.Snapshot> {
    const { call, keys, planned } = codec.casCall(this.#o.keys, request, snapshot, writes);
    const reply = await this.#script(d, 'tgCas', call);
    const counters = request.counters ?? [];
    if (Number(reply[0]) !== 1) {
      return this.#remember(request.keys, counters, codec.decodeState(request.keys.length, counters.length, reply, 1));
    }
    keys.forEach((k, i) => {
      const version = String(reply[i + 1]);
      if (version !== '=') this.#o.last.key(k, { ...planned[i]!, version });
    });
    return true;
  }

  /** Keeps a READ (or failed CAS) state as the last known one. */
  #remember(keys: readonly string[], counters: readonly string[], snapshot: codec.Snapshot): codec.Snapshot {
    this.#saw(snapshot.now);
    this.#o.last.keys(keys, snapshot.keys);
    counters.forEach((k, i) => {
      this.#o.last.counter(k, snapshot.counters[i]!, snapshot.counterExpiry[i]!);
    });
    return snapshot;
  }

  async admit(d: Deadline, op: AdmitOp): Promise<AdmitVerdict> {
    const reply = await this.#script(d, 'tgAdmit', codec.admitCall(this.#o.keys, op));
    const { verdict, buckets, held } = codec.decodeAdmit(op, reply);
    this.#saw(verdict.now);
    this.#o.last.keys(
      op.buckets.map((b) => b.key),
      buckets,
    );
    if (held !== undefined) this.#o.last.admitted(op, verdict.now, held);
    return verdict;
  }

  /** SETTLE; resolves whether the row was booked now. */
  async settle(d: Deadline, op: SettleOp): Promise<boolean> {
    const reply = await this.#script(d, 'tgSettle', codec.settleCall(this.#o.keys, this.#o.retention, op));
    const settled = codec.decodeSettle(op, reply);
    if (settled.fresh) this.#o.last.spent(op.spend, settled.counters);
    this.#saw(settled.now);
    this.#o.last.keys(
      op.adjust.map((b) => b.key),
      settled.buckets,
    );
    this.#o.last.released(op, settled.now, settled.held);
    return settled.fresh;
  }

  async record(d: Deadline, row: LedgerRow, spend: readonly SpendIncrement[]): Promise<boolean> {
    const reply = await this.#script(d, 'tgRecord', codec.recordCall(this.#o.keys, this.#o.retention, row, spend));
    const counters = codec.decodeRecord(reply, spend.length);
    if (counters === undefined) return false;
    this.#o.last.spent(spend, counters);
    return true;
  }

  async counters(d: Deadline, keys: readonly string[]): Promise<Map<string, number>> {
    const reply = await this.#script(d, 'tgCounters', codec.countersCall(this.#o.keys, keys));
    const now = this.now();
    const out = new Map<string, number>();
    keys.forEach((k, i) => {
      const raw = String(reply[2 * i]);
      out.set(k, raw === '' ? 0 : Number(raw));
      this.#o.last.counter(k, raw, codec.expiryOf(now, Number(reply[2 * i + 1])));
    });
    return out;
  }

  aggregate(d: Deadline, query: LedgerQuery): Promise<LedgerGroup[]> {
    return this.call(d, (redis) => aggregateLedger(redis, this.#o.keys, query));
  }

  rows(d: Deadline, query: LedgerQuery, limit: number): Promise<LedgerRow[]> {
    return this.call(d, (redis) => ledgerRows(redis, this.#o.keys, query, limit));
  }
}
