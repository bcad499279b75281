/** The sqlite store's statements, its row mapping, and read-decide-write over them. */
import type Database from 'better-sqlite3';
import type { LedgerGroup, LedgerRow, TransactRequest } from '../types.js';
import type { KvView } from './kv-view.js';

const DAY = 86_400_000;

interface LedgerRecord {
  id: string;
  ts: number;
  correlation_id: string;
  trace_id: string;
  provider: string;
  operation: string;
  model: string;
  served_by: string;
  input_tokens: number;
  cached_input_tokens: number;
  output_tokens: number;
  pages: number;
  cost_nano_usd: number;
  billable: number;
}

interface GroupRecord {
  provider: string;
  model: string;
  served_by: string;
  operation: string;
  requests: number;
  cost_nano_usd: number;
  input_tokens: number;
  cached_input_tokens: number;
  output_tokens: number;
  pages: number;
}

/** Every statement, prepared once at open: no SQL text is built per call. */
export function prepareStatements(db: Database.Database) {
  return {
    getValue: db.prepare<[string, number], { value: string }>('SELECT value FROM kv WHERE key = ? AND expires_at > ?'),
    // What KvView remembers: the row whatever its expiry (it applies expiry on read, as getValue does).
    peekValue: db.prepare<[string], { value: string; expires_at: number }>(
      'SELECT value, expires_at FROM kv WHERE key = ?',
    ),
    peekCounter: db.prepare<[string], { value: number; expires_at: number }>(
      'SELECT value, expires_at FROM counters WHERE key = ?',
    ),
    // Changes when another connection commits (never for this one's own commits).
    dataVersion: db.prepare<[], number>('PRAGMA data_version').pluck(),
    putValue: db.prepare<[string, string, number]>(
      `INSERT INTO kv (key, value, version, expires_at) VALUES (?, ?, 1, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = kv.version + 1, expires_at = excluded.expires_at`,
    ),
    deleteValue: db.prepare<[string]>('DELETE FROM kv WHERE key = ?'),
    getCounter: db.prepare<[string, number], { value: number }>(
      'SELECT value FROM counters WHERE key = ? AND expires_at > ?',
    ),
    // An expired counter not yet swept starts over rather than resuming an old window's spend.
    addCounter: db.prepare<{ key: string; value: number; expiresAt: number; now: number }>(
      `INSERT INTO counters (key, value, expires_at) VALUES (:key, :value, :expiresAt)
       ON CONFLICT (key) DO UPDATE SET
         value = CASE WHEN counters.expires_at <= :now THEN excluded.value ELSE counters.value + excluded.value END,
         expires_at = CASE WHEN counters.expires_at <= :now THEN excluded.expires_at
                           ELSE max(counters.expires_at, excluded.expires_at) END`,
    ),
    insertRow: db.prepare<LedgerRecord>(
      `INSERT OR IGNORE INTO ledger (id, ts, correlation_id, trace_id, provider, operation, model, served_by,
         input_tokens, cached_input_tokens, output_tokens, pages, cost_nano_usd, billable)
       VALUES (:id, :ts, :correlation_id, :trace_id, :provider, :operation, :model, :served_by,
         :input_tokens, :cached_input_tokens, :output_tokens, :pages, :cost_nano_usd, :billable)`,
    ),
    rows: db.prepare<[number, number, number], LedgerRecord>(
      'SELECT * FROM ledger WHERE ts >= ? AND ts < ? ORDER BY ts, id LIMIT ?',
    ),
    aggregate: db.prepare<[number, number], GroupRecord>(
      `SELECT provider, model, served_by, operation, count(*) AS requests,
         sum(cost_nano_usd) AS cost_nano_usd, sum(input_tokens) AS input_tokens,
         sum(cached_input_tokens) AS cached_input_tokens, sum(output_tokens) AS output_tokens,
         sum(pages) AS pages
       FROM ledger WHERE ts >= ? AND ts < ?
       GROUP BY provider, model, served_by, operation`,
    ),
    countRows: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM ledger'),
    purgeValues: db.prepare<[number]>('DELETE FROM kv WHERE expires_at <= ?'),
    purgeCounters: db.prepare<[number]>('DELETE FROM counters WHERE expires_at <= ?'),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;

export function toRow(r: LedgerRecord): LedgerRow {
  return {
    id: r.id,
    ts: r.ts,
    correlationId: r.correlation_id,
    traceId: r.trace_id,
    provider: r.provider,
    operation: r.operation,
    model: r.model,
    servedBy: r.served_by as LedgerRow['servedBy'],
    inputTokens: r.input_tokens,
    cachedInputTokens: r.cached_input_tokens,
    outputTokens: r.output_tokens,
    pages: r.pages,
    costNanoUsd: r.cost_nano_usd,
    billable: r.billable === 1,
  };
}

export function toRecord(r: LedgerRow): LedgerRecord {
  return {
    id: r.id,
    ts: r.ts,
    correlation_id: r.correlationId,
    trace_id: r.traceId,
    provider: r.provider,
    operation: r.operation,
    model: r.model,
    served_by: r.servedBy,
    input_tokens: r.inputTokens,
    cached_input_tokens: r.cachedInputTokens,
    output_tokens: r.outputTokens,
    pages: r.pages,
    cost_nano_usd: r.costNanoUsd,
    billable: r.billable ? 1 : 0,
  };
}

export function toGroup(g: GroupRecord): LedgerGroup {
  return {
    provider: g.provider,
    model: g.model,
    servedBy: g.served_by as LedgerGroup['servedBy'],
    operation: g.operation,
    requests: g.requests,
    costNanoUsd: g.cost_nano_usd,
    inputTokens: g.input_tokens,
    cachedInputTokens: g.cached_input_tokens,
    outputTokens: g.output_tokens,
    pages: g.pages,
  };
}

/**
 * Read-decide-write of one TransactRequest over the view, inside a transaction the caller holds (and
 * `kv.check()`ed); its writes reach the file at the caller's `kv.flush()`.
 */
export function apply<T>(kv: KvView, request: TransactRequest<T>, now: number, wrote: { any: boolean }): T {
  const values = new Map<string, unknown>();
  for (const key of request.keys) values.set(key, kv.value(key, now));
  // Under the same write lock, so spend cannot move between this read and the commit.
  for (const key of request.counters ?? []) values.set(key, kv.counter(key, now));
  const { writes, result } = request.decide(values, now);
  for (const [key, value] of writes) {
    if (value === undefined) kv.delete(key);
    else kv.put(key, value, request.expiresAt?.(key, now) ?? now + DAY);
    wrote.any = true;
  }
  return result;
}
