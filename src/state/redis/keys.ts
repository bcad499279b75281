/**
 * Key layout (prefix `tollgate:` by default):
 *
 * | key                          | type    | holds                                                   |
 * |------------------------------|---------|---------------------------------------------------------|
 * | `<p>kv:<key>`                | hash    | `v` version (from `<p>meta:version`), `d` value as JSON |
 * | `<p>meta:version`            | integer | the version source; one counter, so a key deleted and   |
 * |                              |         | re-created never reuses a version (no ABA)              |
 * | `<p>c:<key>`                 | integer | a spend counter (INCRBY), expiring at its window's end  |
 * | `<p>ledger:id:<id>`          | string  | the exactly-once guard of a row (SET NX PX retention)   |
 * | `<p>ledger:rows:<hourStart>` | zset    | the hour's rows as JSON, scored by `ts`                 |
 * | `<p>ledger:agg:<hourStart>`  | hash    | the hour's totals per group, so a day sums 24 hashes    |
 * | `<p>ledger:hours`            | zset    | which hours hold rows (lets `rows`/`aggregate` skip     |
 * |                              |         | empty hours and open-ended ranges stay cheap)           |
 */
export const HOUR = 3_600_000;
export const DAY = 86_400_000;

export function hourOf(ts: number): number {
  return Math.floor(ts / HOUR) * HOUR;
}

/** The Redis key names of one store prefix. */
export class RedisKeys {
  constructor(readonly prefix: string) {}

  get version(): string {
    return `${this.prefix}meta:version`;
  }

  get hours(): string {
    return `${this.prefix}ledger:hours`;
  }

  kv(key: string): string {
    return `${this.prefix}kv:${key}`;
  }

  counter(key: string): string {
    return `${this.prefix}c:${key}`;
  }

  guard(id: string): string {
    return `${this.prefix}ledger:id:${id}`;
  }

  hourRows(hour: number): string {
    return `${this.prefix}ledger:rows:${hour}`;
  }

  hourTotals(hour: number): string {
    return `${this.prefix}ledger:agg:${hour}`;
  }

  /** The Redis type a key of this layout holds (the table above), to name a key that holds another. */
  typeOf(key: string): 'hash' | 'string' | 'zset' | undefined {
    const rest = key.startsWith(this.prefix) ? key.slice(this.prefix.length) : undefined;
    if (rest === undefined) return undefined;
    if (rest.startsWith('kv:') || rest.startsWith('ledger:agg:')) return 'hash';
    if (rest.startsWith('ledger:rows:') || rest === 'ledger:hours') return 'zset';
    return 'string';
  }
}
