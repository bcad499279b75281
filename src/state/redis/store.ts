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
import { LastAnswers, LastKnown } from './fallback.js';
import { DAY, RedisKeys } from './keys.js';
import { emptyStats, type RedisStoreLog, type RedisStoreOptions, type RedisStoreStats, silentLog } from './options.js';
import { describeUrl, messageOf, RedisUnreachable } from './outage.js';
import { RedisRemote } from './remote.js';
import { defineScripts, type ScriptedRedis } from './scripts.js';
import { Spool } from './spool.js';
import { storeIdentity } from './spool-identity.js';
import { KeyQueue } from './transact.js';
import { validate } from './validate.js';

/**
 * A {@link Store} over Redis, shared by every sidecar pointed at the same URL and prefix.
 *
 * Outage policy (contract section 6): when Redis stops answering (connection refused or closed,
 * a command past `commandTimeoutMs`, LOADING/READONLY/OOM…), the store switches to a local
 * `MemoryStore` seeded with the last values, versions and counters it saw, so limits and budgets
 * go on from the last known state (a budget's holds: this sidecar's own ones as they are, the
 * rest of the fleet's as one hold lasting as long as they could); `record` (and `settle`)
 * appends to the spool file, fsyncs, and applies the row to the fallback so local budgets see
 * it; `admit` and the release half of `settle` run their TypeScript decision on the fallback.
 * `counters` answers from the fallback; `aggregate` and `rows` answer from the last Redis answer
 * to the same query (if any) plus the rows booked locally — best effort, it may miss rows other
 * sidecars booked. `health()` fails with `degraded: true`. While degraded it pings every
 * `recoveryPollMs` (and listens for ioredis' reconnect); once Redis answers, the spool is replayed
 * in order through RECORD (rows Redis already has are skipped by the id guard), deleted once every
 * row went through, and the store switches back, dropping the fallback (its bucket states do not
 * flow back: Redis wins). Rows a gone sidecar spooled for this same server, db and prefix are
 * replayed by `open()` and the spool's sweep (spool.ts); another store's, never.
 *
 * A CAS, ADMIT or SETTLE whose reply was lost in the outage may have applied in Redis as well
 * as in the fallback; that errs on the side of spending capacity twice, never of granting it
 * twice (a row it booked is skipped by the id guard when the spool is replayed; a hold it left
 * in Redis expires).
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
  #poll: NodeJS.Timeout | undefined;
  #recovering = false;

  readonly #stats: RedisStoreStats = emptyStats();

  constructor(url: string, options: RedisStoreOptions = {}) {
    this.#url = url;
    this.#keys = new RedisKeys(options.keyPrefix ?? 'tollgate:');
    this.#now = options.now ?? Date.now;
    this.#log = options.log ?? silentLog;
    this.#retention = options.ledgerRetentionMs ?? 400 * DAY;
    this.#connection = {
      commandTimeoutMs: options.commandTimeoutMs ?? 500,
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
    return { ...this.#stats };
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
      void this.#tryRecover();
    });
    this.#redis = defineScripts(redis);
    this.#remote = new RedisRemote(this.#redis, {
      keys: this.#keys,
      retention: this.#retention,
      now: this.#now,
      last: this.#last,
      onOutage: (reason) => this.#enterDegraded(reason),
    });
    return this.#redis;
  }

  async close(): Promise<void> {
    if (this.#closing === undefined) this.#closing = this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    if (this.#poll !== undefined) clearInterval(this.#poll);
    this.#poll = undefined;
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
    return { status: 'pass', output: `redis ${where} reachable, prefix ${this.#keys.prefix}` };
  }

  /** Unreplayed rows in the spool folder, per store they belong to (this one's and others'). */
  readonly spooled = (): SpooledRows[] => this.#spool.spooled();

  // ---------------------------------------------------------------- limits and state

  async transact<T>(request: TransactRequest<T>): Promise<T> {
    this.#assertOpen();
    this.#stats.transacts += 1;
    if (this.#degraded) return this.#fallbackTransact(request);
    const release = await this.#queue.lock(request.keys);
    try {
      if (this.#degraded) return this.#fallbackTransact(request);
      return await this.#remote!.transact(request, this.#maxAttempts, () => {
        this.#stats.retries += 1;
      });
    } catch (err) {
      if (err instanceof RedisUnreachable) return this.#fallbackTransact(request);
      throw err;
    } finally {
      release();
    }
  }

  /** Admission in one ADMIT script; on the local fallback, `request` (the same decision in TypeScript). */
  async admit(op: AdmitOp, request: TransactRequest<AdmitVerdict>): Promise<AdmitVerdict> {
    this.#assertOpen();
    this.#stats.admits += 1;
    return this.#remoteOr(
      async () => this.#remote!.admit(op),
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
      async () => this.#remote!.settle(op),
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
      async () => this.#remote!.record(row, spend),
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
      async () => this.#remote!.counters(keys),
      async () => this.#fallback!.countersSync(keys),
    );
  }

  async aggregate(query: LedgerQuery): Promise<LedgerGroup[]> {
    this.#assertOpen();
    return this.#remoteOr(
      async () => this.#lastAnswers.aggregated(query, await this.#remote!.aggregate(query)),
      async () => this.#lastAnswers.aggregateWith(query, await this.#fallback!.aggregate(query)),
    );
  }

  async rows(query: LedgerQuery & { limit?: number }): Promise<LedgerRow[]> {
    this.#assertOpen();
    const limit = query.limit ?? Number.POSITIVE_INFINITY;
    return this.#remoteOr(
      async () => this.#lastAnswers.listed(query, limit, await this.#remote!.rows(query, limit)),
      async () => this.#lastAnswers.rowsWith(query, limit, await this.#fallback!.rows(query)),
    );
  }

  // ---------------------------------------------------------------- outage

  #assertOpen(): void {
    if (!this.#opened || this.#remote === undefined) throw new StoreUnavailableError('redis store used before open()');
    if (this.#closing !== undefined) throw new StoreUnavailableError('redis store used after close()');
  }

  /**
   * Runs `remote` against Redis unless the store is on its local fallback; when Redis cannot be
   * reached (RedisUnreachable), runs `local` instead. Any other error is the caller's.
   */
  async #remoteOr<T>(remote: () => Promise<T>, local: () => Promise<T>): Promise<T> {
    if (!this.#degraded) {
      try {
        return await remote();
      } catch (err) {
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
    this.#log.warn(
      {
        store: describeUrl(this.#url),
        reason,
        seededKeys: this.#last.keyCount,
        seededCounters: this.#last.counterCount,
      },
      'redis unreachable: serving limits and budgets from the local fallback, spooling ledger rows',
    );
    this.#poll = setInterval(() => void this.#tryRecover(), this.#connection.recoveryPollMs);
    this.#poll.unref();
  }

  async #tryRecover(): Promise<void> {
    if (!this.#degraded || this.#recovering || this.#closing !== undefined) return;
    this.#recovering = true;
    try {
      await this.#redis!.ping();
      await this.#drainSpool();
    } catch {
      // Still down; the next poll or ioredis' reconnect tries again.
    } finally {
      this.#recovering = false;
    }
  }

  /**
   * Replays the spool through RECORD and, once every row went through, deletes it and leaves
   * degraded mode — all under the spool lock, so no append can land between the last replayed row
   * and the deletion, or be written to the spool after the switch without being replayed.
   */
  async #drainSpool(): Promise<boolean> {
    return this.#spool.withLock(async () => {
      const replayed = await this.#spool
        .drain((e) => this.#remote!.record(e.row, e.spend))
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
    if (this.#poll !== undefined) clearInterval(this.#poll);
    this.#poll = undefined;
    this.#log.info({ store: describeUrl(this.#url) }, 'redis reachable again: back on the shared store');
  }
}
