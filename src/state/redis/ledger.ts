/** Reading the ledger back from Redis: hour totals for whole hours, rows for the rest. */
import { emptyGroup, groupRows, mergeGroups } from '../aggregate.js';
import type { LedgerGroup, LedgerQuery, LedgerRow, ServedBy } from '../types.js';
import { HOUR, hourOf, type RedisKeys } from './keys.js';
import type { ScriptedRedis } from './scripts.js';

type Metric = 'requests' | 'costNanoUsd' | 'inputTokens' | 'cachedInputTokens' | 'outputTokens' | 'pages';
const METRICS = new Set<string>([
  'requests',
  'costNanoUsd',
  'inputTokens',
  'cachedInputTokens',
  'outputTokens',
  'pages',
]);

/** Reads an hour-totals hash (`<group JSON>\n<metric>` fields) back into groups. */
function groupsFromHash(hash: Record<string, string>): LedgerGroup[] {
  const groups = new Map<string, LedgerGroup>();
  for (const [field, value] of Object.entries(hash)) {
    const cut = field.lastIndexOf('\n');
    const key = field.slice(0, cut);
    const metric = field.slice(cut + 1);
    if (cut < 0 || !METRICS.has(metric)) continue;
    let g = groups.get(key);
    if (g === undefined) {
      const [provider, model, servedBy, operation] = JSON.parse(key) as [string, string, ServedBy, string];
      g = emptyGroup(provider, model, servedBy, operation);
      groups.set(key, g);
    }
    g[metric as Metric] += Number(value);
  }
  return [...groups.values()];
}

/** Hours in [from, to) that hold rows, oldest first. */
async function hoursIn(redis: ScriptedRedis, k: RedisKeys, { from, to }: LedgerQuery): Promise<number[]> {
  const lo = Number.isFinite(from) ? hourOf(from) : '-inf';
  const hi = Number.isFinite(to) ? `(${to}` : '+inf';
  const hours = await redis.zrangebyscore(k.hours, lo, hi);
  return hours.map(Number).sort((a, b) => a - b);
}

/** Whole hours come from their totals hash; the partial hours at either end from their rows. */
export async function aggregateLedger(redis: ScriptedRedis, k: RedisKeys, query: LedgerQuery): Promise<LedgerGroup[]> {
  const parts = await Promise.all(
    (await hoursIn(redis, k, query)).map(async function hourGroups(hour) {
      if (hour >= query.from && hour + HOUR <= query.to) return groupsFromHash(await redis.hgetall(k.hourTotals(hour)));
      const lo = Math.max(query.from, hour);
      const hi = Math.min(query.to, hour + HOUR);
      const rows = await redis.zrangebyscore(k.hourRows(hour), lo, `(${hi}`);
      return groupRows(rows.map((r) => JSON.parse(r) as LedgerRow));
    }),
  );
  return mergeGroups(...parts);
}

export async function ledgerRows(
  redis: ScriptedRedis,
  k: RedisKeys,
  query: LedgerQuery,
  limit: number,
): Promise<LedgerRow[]> {
  const hours = await hoursIn(redis, k, query);
  const out: LedgerRow[] = [];
  // A day at a time, pipelined, stopping once the limit is met.
  for (let i = 0; i < hours.length && out.length < limit; i += 24) {
    const want = limit - out.length;
    const batch = await Promise.all(
      hours.slice(i, i + 24).map((hour) => {
        const lo = Math.max(query.from, hour);
        const hi = `(${Math.min(query.to, hour + HOUR)}`;
        const key = k.hourRows(hour);
        return Number.isFinite(want)
          ? redis.zrangebyscore(key, lo, hi, 'LIMIT', 0, want)
          : redis.zrangebyscore(key, lo, hi);
      }),
    );
    for (const list of batch) for (const r of list) out.push(JSON.parse(r) as LedgerRow);
  }
  return out.slice(0, limit);
}
