/**
 * One sidecar's calls into Redis: each script call encoded, answered and decoded, and what it
 * showed of Redis kept as the last known state (fallback.ts). An outage raises RedisUnreachable
 * after telling the store (`onOutage`), which decides what answers instead.
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
import type { LastKnown } from './fallback.js';
import type { RedisKeys } from './keys.js';
import { aggregateLedger, ledgerRows } from './ledger.js';
import { isOutage, messageOf, RedisUnreachable } from './outage.js';
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

  /** Runs a Redis call; an outage is reported and thrown as RedisUnreachable. */
  async call<T>(run: (redis: ScriptedRedis) => Promise<T>): Promise<T> {
    try {
      return await run(this.#redis);
    } catch (err) {
      if (!isOutage(err)) throw err;
      this.#o.onOutage(messageOf(err));
      throw new RedisUnreachable(messageOf(err), { cause: err });
    }
  }

  #script(name: CommandName, call: codec.ScriptCall): Promise<Reply> {
    return this.call((redis) => redis[name](call.numKeys, ...call.args));
  }

  /** READ, decide, CAS until a CAS commits (see transact.ts). */
  transact<T>(request: TransactRequest<T>, maxAttempts: number, retried: () => void): Promise<T> {
    return transactByCas(request, {
      read: (keys, counters) => this.#read(keys, counters),
      cas: (req, snapshot, writes) => this.#cas(req, snapshot, writes),
      retried,
      maxAttempts,
    });
  }

  async #read(keys: readonly string[], counters: readonly string[]): Promise<codec.Snapshot> {
    const reply = await this.#script('tgRead', codec.readCall(this.#o.keys, keys, counters));
    return this.#remember(keys, counters, codec.decodeState(keys.length, counters.length, reply, 0));
  }

  /** True when committed; otherwise the fresh state the conflicting CAS returned. */
  async #cas<T>(
    request: TransactRequest<T>,
    snapshot: codec.Snapshot,
    writes: Map<string, unknown>,
  ): Promise<true | codec.Snapshot> {
    const { call, keys, planned } = codec.casCall(this.#o.keys, request, snapshot, writes);
    const reply = await this.#script('tgCas', call);
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

  async admit(op: AdmitOp): Promise<AdmitVerdict> {
    const reply = await this.#script('tgAdmit', codec.admitCall(this.#o.keys, op));
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
  async settle(op: SettleOp): Promise<boolean> {
    const reply = await this.#script('tgSettle', codec.settleCall(this.#o.keys, this.#o.retention, op));
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

  async record(row: LedgerRow, spend: readonly SpendIncrement[]): Promise<boolean> {
    const reply = await this.#script('tgRecord', codec.recordCall(this.#o.keys, this.#o.retention, row, spend));
    const counters = codec.decodeRecord(reply, spend.length);
    if (counters === undefined) return false;
    this.#o.last.spent(spend, counters);
    return true;
  }

  async counters(keys: readonly string[]): Promise<Map<string, number>> {
    const reply = await this.#script('tgCounters', codec.countersCall(this.#o.keys, keys));
    const now = this.now();
    const out = new Map<string, number>();
    keys.forEach((k, i) => {
      const raw = String(reply[2 * i]);
      out.set(k, raw === '' ? 0 : Number(raw));
      this.#o.last.counter(k, raw, codec.expiryOf(now, Number(reply[2 * i + 1])));
    });
    return out;
  }

  aggregate(query: LedgerQuery): Promise<LedgerGroup[]> {
    return this.call((redis) => aggregateLedger(redis, this.#o.keys, query));
  }

  rows(query: LedgerQuery, limit: number): Promise<LedgerRow[]> {
    return this.call((redis) => ledgerRows(redis, this.#o.keys, query, limit));
  }
}
