import type { MemoryStore } from '../memory.js';
import {
  type AdmitOp,
  type AdmitVerdict,
  type LedgerGroup,
  type LedgerQuery,
  type LedgerRow,
  type SettleOp,
  type SpendIncrement,
  type SpooledRows,
  type Store,
  type StoreHealth,
  StoreUnavailableError,
  type TransactRequest,
} from '../types.js';
import { type ConnectionOptions, connectWithin, createClient } from './connection.js';
import { type Deadline, Deadlines } from './deadline.js';
import { LastAnswers, LastKnown } from './fallback.js';
import { DAY, RedisKeys } from './keys.js';
import { emptyStats, type RedisStoreLog, type RedisStoreOptions, type RedisStoreStats, silentLog } from './options.js';
import { describeUrl, messageOf, RedisUnreachable, Refusals, StateUnavailable, timedOut } from './outage.js';
import { defaultProbe, Probe, type ProbeOptions } from './probe.js';
import { RedisRemote } from './remote.js';
import { defineScripts, type ScriptedRedis } from './scripts.js';
import { Spool } from './spool.js';
import { storeIdentity } from './spool-identity.js';
import { KeyQueue } from './transact.js';
import { validate } from './validate.js';

/**
 * A {@link Store} over Redis, shared by every sidecar pointed at the same URL and prefix.
 *
 * Outage rule (contract section 6, docs/operations.md "Runbook: Redis outage"): the store switches
 * to its local fallback only on evidence Redis cannot answer — the connection closed, refused or
 * reset, a READONLY reply (a replica now), or `probe.failures` PINGs in a row unanswered (probe.ts).
 * A slow answer, or this process busy or stopped, is not an outage: a call waits up to `timeoutMs`
 * (STATE_TIMEOUT_MS), then fails with StateUnavailable (503 `state_unavailable`); outage.ts gives
 * each error reply its behaviour. On the fallback a `MemoryStore` seeded with what this process last
 * saw decides (fallback.ts), rows go to the spool (spool.ts) and `health()` fails with `degraded`;
 * once Redis answers and takes writes, the spool is replayed through RECORD (the id guard skips rows
 * Redis has) and the store switches back. Rows a gone sidecar spooled for this same server, db and
 * prefix are replayed too; another store's, never. A call whose reply was lost may have applied in
 * Redis as well: that spends capacity twice, never grants it twice.
 *
 * @example
 * const store = new RedisStore('redis://127.0.0.1:6379', { spoolDir: './data/spool', log });
 * await store.open();
 */
export class RedisStore implements Store {
  readonly kind = 'redis' as const;
  readonly #url: string;
  readonly #keys: RedisKeys;
  readonly #now: () => number;
  readonly #log: RedisStoreLog;
  readonly #retention: number;
  readonly #connection: ConnectionOptions;
  readonly #probeOptions: ProbeOptions;
  readonly #deadlines: Deadlines;
  #probe: Probe | undefined;
  readonly #maxAttempts: number;
  readonly #spool: Spool;

  #redis: ScriptedRedis | undefined;
  #remote: RedisRemote | undefined;
  #opened = false;
  #closing: Promise<void> | undefined;

  /** What Redis last had, to seed the fallback. */
  readonly #last = new LastKnown();
  readonly #lastAnswers = new LastAnswers();
  /** One CAS per key in flight per process. */
  readonly #queue = new KeyQueue();

  #degraded = false;
  #degradedReason = '';
  /** The last connection error ioredis reported, for the reason shown in health. */
  #lastError = '';
  #fallback: MemoryStore | undefined;

  readonly #stats: RedisStoreStats = emptyStats();
  readonly #refusals = new Refusals();

  constructor(url: string, options: RedisStoreOptions = {}) {
    this.#url = url;
    this.#keys = new RedisKeys(options.keyPrefix ?? 'tollgate:');
    this.#now = options.now ?? Date.now;
    this.#log = options.log ?? silentLog;
    this.#retention = options.ledgerRetentionMs ?? 400 * DAY;
    const timeoutMs = options.timeoutMs ?? 3000;
    this.#probeOptions = { ...defaultProbe, ...options.probe };
    this.#deadlines = new Deadlines(timeoutMs, () => timedOut(describeUrl(url), timeoutMs));
    this.#connection = {
      connectTimeoutMs: options.connectTimeoutMs ?? 2000,
      recoveryPollMs: options.recoveryPollMs ?? 1000,
    };
    this.#maxAttempts = options.maxAttempts ?? 50;
    this.#spool = new Spool({
      dir: options.spoolDir ?? './data/spool',
      // Rows are replayed into this store only: same server, database and prefix.
      identity: storeIdentity(url, this.#keys.prefix),
      options,
      hooks: {
        warn: (o, m) => this.#log.warn(o, m),
        written: (count) => {
          this.#stats.spooled += count;
        },
        replayed: (count) => {
          this.#stats.replayed += count;
        },
        // Redis came back while these waited for the lock, or a gone sidecar left rows of this store.
        replayable: () => void (this.#degraded || this.#drainSpool().catch(() => {})),
      },
    });
  }

  /** Counters for tests and metrics. */
  stats(): RedisStoreStats {
    return { ...this.#stats, refusals: this.#refusals.count };
  }

  /** True while the local fallback answers. */
  get degraded(): boolean {
    return this.#degraded;
  }

  async open(): Promise<void> {
    if (this.#opened) return;
    this.#opened = true;
    const redis = this.#connect();
    try {
      await connectWithin(redis, this.#connection.connectTimeoutMs);
    } catch (err) {
      // Readiness does not depend on Redis alone (contract section 7): start on the fallback.
      this.#enterDegraded(messageOf(err));
    }
    if (!this.#degraded) this.#probe?.watch();

    const leftover = await this.#spool.pending();
    this.#stats.spooled = leftover.length;
    if (leftover.length === 0) return;
    this.#log.info({ store: describeUrl(this.#url), rows: leftover.length }, 'found spooled ledger rows');
    if (!this.#degraded && (await this.#drainSpool())) return;
    // Still unreachable: local budgets must see the spend those rows carry.
    for (const e of leftover) this.#fallback?.recordSync(e.row, e.spend);
  }

  /** The client, not yet connected, with the scripts and the outage listeners. */
  #connect(): ScriptedRedis {
    const redis = createClient(this.#url, this.#connection);
    // Without a listener ioredis prints every failed reconnect; the switch itself is logged once.
    redis.on('error', (err: Error) => {
      this.#lastError = err.message;
    });
    redis.on('close', () => {
      if (this.#closing === undefined) this.#enterDegraded(`connection closed (${this.#lastError || 'by server'})`);
    });
    redis.on('ready', () => {
      void this.#probe?.check();
    });
    this.#redis = defineScripts(redis);
    this.#probe = new Probe(
      redis,
      { ...this.#probeOptions, recoveryPollMs: this.#connection.recoveryPollMs },
      { down: (reason) => this.#enterDegraded(reason), back: () => this.#drainSpool() },
    );
    this.#remote = new RedisRemote(this.#redis, {
      keys: this.#keys,
      retention: this.#retention,
      now: this.#now,
      last: this.#last,
      onOutage: (reason) => this.#enterDegraded(reason),
      onRetry: () => {
        this.#stats.waited += 1;
      },
    });
    return this.#redis;
  }

  async close(): Promise<void> {
    if (this.#closing === undefined) this.#closing = this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    this.#probe?.stop();
    await this.#spool.close();
    const redis = this.#redis;
    if (redis === undefined) return;
    if (redis.status === 'ready') {
      await redis.quit().catch(() => redis.disconnect());
    } else {
      redis.disconnect();
    }
  }

  health(): StoreHealth {
    const where = describeUrl(this.#url);
    if (!this.#opened) return { status: 'fail', output: `redis ${where}: not opened` };
    if (this.#closing !== undefined) return { status: 'fail', output: `redis ${where}: closed` };
    if (this.#degraded) {
      return {
        status: 'fail',
        degraded: true,
        output: `redis unreachable: ${this.#degradedReason} (local fallback active, ${this.#stats.spooled} rows spooled)`,
      };
    }
    const refused = this.#refusals.recent();
    // Slow or refusing is not an outage: calls get 503 state_unavailable, no fallback; health warns.
    if (refused !== undefined)
      return { status: 'warn', output: `redis ${where} reachable, refusing calls: ${refused}` };
    return { status: 'pass', output: `redis ${where} reachable, prefix ${this.#keys.prefix}` };
  }

  /** Unreplayed rows in the spool folder, per store they belong to (this one's and others'). */
  readonly spooled = (): SpooledRows[] => this.#spool.spooled();

  // ---------------------------------------------------------------- limits and state

  async transact<T>(request: TransactRequest<T>): Promise<T> {
    this.#assertOpen();
    this.#stats.transacts += 1;
    if (this.#degraded) return this.#fallbackTransact(request);
    // Waiting behind this process's own calls on the same keys is local ordering, not waiting on
    // Redis: the deadline starts on our turn (each call before us is bounded by its own).
    const release = await this.#queue.lock(request.keys);
    try {
      return await this.#remoteOr(
        (d) => this.#remote!.transact(d, request, this.#maxAttempts, this.#stats),
        async () => this.#fallbackTransact(request),
      );
    } finally {
      release();
    }
  }

  /** Admission in one ADMIT script; on the local fallback, `request` (the same decision in TypeScript). */
  async admit(op: AdmitOp, request: TransactRequest<AdmitVerdict>): Promise<AdmitVerdict> {
    this.#assertOpen();
    this.#stats.admits += 1;
    return this.#remoteOr(
      (d) => this.#remote!.admit(d, op),
      async () => this.#fallbackTransact(request),
    );
  }

  /**
   * Books the row and releases the call's reservations in one SETTLE script. Unreachable: the row
   * goes to the spool (and the fallback) as `record` puts it, then `release` runs as a transact.
   */
  async settle(op: SettleOp, release: TransactRequest<void> | undefined): Promise<boolean> {
    this.#assertOpen();
    if (op.row !== undefined) {
      validate(op.row, op.spend);
      this.#stats.records += 1;
    }
    this.#stats.settles += 1;
    return this.#remoteOr(
      (d) => this.#remote!.settle(d, op),
      async () => {
        // Whether SETTLE applied before the connection went is unknown: the spool's replay books the
        // row once either way; the holds, if they stayed in Redis, expire.
        const fresh = op.row === undefined ? false : await this.#recordLocally(op.row, op.spend);
        if (release !== undefined) await this.transact(release);
        return fresh;
      },
    );
  }

  #fallbackTransact<T>(request: TransactRequest<T>): T {
    this.#stats.fallbackTransacts += 1;
    return this.#fallback!.transactSync(request);
  }

  // ---------------------------------------------------------------- ledger

  async record(row: LedgerRow, spend: readonly SpendIncrement[]): Promise<boolean> {
    this.#assertOpen();
    validate(row, spend);
    this.#stats.records += 1;
    return this.#remoteOr(
      (d) => this.#remote!.record(d, row, spend),
      async () => this.#recordLocally(row, spend),
    );
  }

  /** Books a row on the fallback and in the spool (fsynced before it resolves). */
  async #recordLocally(row: LedgerRow, spend: readonly SpendIncrement[]): Promise<boolean> {
    // The fallback decides "new or not" among what this process booked while degraded; the
    // spool replay decides it fleet-wide later, so a row is never counted twice in Redis.
    if (!this.#fallback!.recordSync(row, spend)) return false;
    await this.#spool.append({ row, spend: [...spend] });
    return true;
  }

  async counters(keys: readonly string[]): Promise<Map<string, number>> {
    this.#assertOpen();
    return this.#remoteOr(
      (d) => this.#remote!.counters(d, keys),
      async () => this.#fallback!.countersSync(keys),
    );
  }

  async aggregate(query: LedgerQuery): Promise<LedgerGroup[]> {
    this.#assertOpen();
    return this.#remoteOr(
      async (d) => this.#lastAnswers.aggregated(query, await this.#remote!.aggregate(d, query)),
      async () => this.#lastAnswers.aggregateWith(query, await this.#fallback!.aggregate(query)),
    );
  }

  async rows(query: LedgerQuery & { limit?: number }): Promise<LedgerRow[]> {
    this.#assertOpen();
    const limit = query.limit ?? Number.POSITIVE_INFINITY;
    return this.#remoteOr(
      async (d) => this.#lastAnswers.listed(query, limit, await this.#remote!.rows(d, query, limit)),
      async () => this.#lastAnswers.rowsWith(query, limit, await this.#fallback!.rows(query)),
    );
  }

  // ---------------------------------------------------------------- outage

  #assertOpen(): void {
    if (!this.#opened || this.#remote === undefined) throw new StoreUnavailableError('redis store used before open()');
    if (this.#closing !== undefined) throw new StoreUnavailableError('redis store used after close()');
  }

  /**
   * Runs `remote` against Redis within STATE_TIMEOUT_MS unless the store is on its local fallback;
   * when Redis cannot be reached (RedisUnreachable, also when an outage is declared while it waits),
   * runs `local` instead. Any other error (StateUnavailable among them) is the caller's.
   */
  async #remoteOr<T>(remote: (d: Deadline) => Promise<T>, local: () => Promise<T>): Promise<T> {
    if (!this.#degraded) {
      try {
        return await this.#deadlines.within(remote);
      } catch (err) {
        if (err instanceof StateUnavailable) this.#refusals.note(err);
        if (!(err instanceof RedisUnreachable)) throw err;
      }
    }
    return local();
  }

  #enterDegraded(reason: string): void {
    if (this.#degraded || this.#closing !== undefined) return;
    const offset = this.#remote?.clockOffset ?? 0;
    const localNow = this.#now;
    this.#fallback = this.#last.fallback(() => localNow() + offset);
    this.#degraded = true;
    this.#degradedReason = reason;
    this.#stats.degradedSwitches += 1;
    // Calls still waiting on Redis turn to the fallback now rather than at their deadline.
    this.#deadlines.abortAll(() => new RedisUnreachable(reason));
    this.#log.warn(
      {
        store: describeUrl(this.#url),
        reason,
        seededKeys: this.#last.keyCount,
        seededCounters: this.#last.counterCount,
      },
      'redis unreachable: serving limits and budgets from the local fallback, spooling ledger rows',
    );
    this.#probe?.recover();
  }

  /**
   * Replays the spool through RECORD and, once every row went through, deletes it and leaves
   * degraded mode — all under the spool lock, so no append can land between the last replayed row
   * and the deletion, or be written to the spool after the switch without being replayed.
   */
  async #drainSpool(): Promise<boolean> {
    return this.#spool.withLock(async () => {
      const replayed = await this.#spool
        .drain((e) => this.#deadlines.within((d) => this.#remote!.record(d, e.row, e.spend)))
        .catch((err: unknown) => {
          if (err instanceof RedisUnreachable) return -1;
          throw err;
        });
      if (replayed < 0) return false;
      if (replayed > 0)
        this.#log.info({ store: describeUrl(this.#url), rows: replayed }, 'replayed spooled ledger rows');
      this.#stats.spooled = 0;
      if (this.#degraded) this.#leaveDegraded();
      return true;
    });
  }

  #leaveDegraded(): void {
    this.#degraded = false;
    this.#degradedReason = '';
    this.#lastError = '';
    this.#fallback = undefined;
    this.#probe?.watch();
    this.#log.info({ store: describeUrl(this.#url) }, 'redis reachable again: back on the shared store');
  }
}
