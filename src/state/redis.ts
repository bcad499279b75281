/**
 * The fleet store: several sidecars sharing one Redis share their buckets, budgets and ledger.
 *
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
 *
 * Every write happens in a Lua script (loaded once, called by EVALSHA through ioredis
 * `defineCommand`), so each is atomic on the server: READ (Redis `TIME`, the fleet's one clock,
 * plus version/value/TTL of each key), CAS (writes every key only if no version moved), RECORD
 * (the id guard, the row, its hour totals and its spend counters together, or nothing), and the
 * limiter's two per-call steps: ADMIT (take the buckets, check and hold the budgets) and SETTLE
 * (RECORD, then refund the buckets and release the call's holds). So a proxied call costs two
 * round trips, one per step, and concurrent calls' scripts share writes (auto-pipelining);
 * generic `transact` (READ, then CAS, retried on conflict) serves everything else.
 *
 * When Redis is out of reach the store keeps answering from a local {@link MemoryStore} seeded
 * with the last state it saw, and spools rows to a local JSONL file (fsynced before `record`
 * resolves) that is replayed through RECORD — exactly once thanks to the id guard — when Redis
 * answers again. See {@link RedisStore}.
 */
import { randomInt } from 'node:crypto';
import { type FileHandle, mkdir, open as openFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { emptyGroup, groupRows, mergeGroups } from './aggregate.js';
import { MemoryStore } from './memory.js';
import {
  type AdmitOp,
  type AdmitVerdict,
  type LedgerGroup,
  type LedgerQuery,
  type LedgerRow,
  type SettleOp,
  type SpendIncrement,
  type Store,
  type StoreHealth,
  StoreUnavailableError,
  type TransactRequest,
} from './types.js';

const HOUR = 3_600_000;
const DAY = 86_400_000;

export interface RedisStoreLog {
  warn(o: object, m: string): void;
  info(o: object, m: string): void;
}

export interface RedisStoreOptions {
  /** Where rows are spooled while Redis is unreachable; one directory per sidecar. */
  spoolDir?: string;
  keyPrefix?: string;
  /** The local clock (the fallback's, offset to Redis TIME as last seen). */
  now?: () => number;
  log?: RedisStoreLog;
  /** How long a row, its hour totals and its id guard are kept. */
  ledgerRetentionMs?: number;
  /** A command not answered within this counts as Redis unreachable. */
  commandTimeoutMs?: number;
  /** Bound on the initial connect; past it the store starts degraded. */
  connectTimeoutMs?: number;
  /** How often a degraded store checks whether Redis is back. */
  recoveryPollMs?: number;
  /** CAS attempts before `transact` gives up on a key that keeps changing. */
  maxAttempts?: number;
}

export interface RedisStoreStats {
  transacts: number;
  /** Native admissions and settlements (one ADMIT / SETTLE script each). */
  admits: number;
  settles: number;
  /** CAS attempts that found a version moved and had to decide again. */
  retries: number;
  records: number;
  /** `transact` calls answered by the local fallback. */
  fallbackTransacts: number;
  /** Rows currently waiting in the spool file. */
  spooled: number;
  /** Rows sent through RECORD from the spool (including ones Redis already had). */
  replayed: number;
  /** Times the store switched to its local fallback. */
  degradedSwitches: number;
}

/**
 * The state of some keys and counters at one instant, as READ and a failed CAS return it:
 * Redis TIME, then `v, d, pttl` per kv key ('' = absent), then `value, pttl` per counter.
 * Shared text so both scripts answer in exactly the same shape. A budget's holds kept as fields
 * by ADMIT/SETTLE (see LIMITS_LUA) are read back as the JSON value the limiter knows.
 */
const STATE_LUA = `
local function holdsJson(k)
  local all = redis.call('HGETALL', k)
  local held, nxt, parts = '0', '0', {}
  for i = 1, #all, 2 do
    local f = all[i]
    if f == 'held' then held = all[i + 1]
    elseif f == 'next' then nxt = all[i + 1]
    elseif string.byte(f, 1) == 35 then parts[#parts + 1] = cjson.encode(string.sub(f, 2)) .. ':[' .. all[i + 1] .. ']' end
  end
  return '{"held":' .. held .. ',"next":' .. nxt .. ',"holds":{' .. table.concat(parts, ',') .. '}}'
end
local function state(kvKeys, counterKeys, out)
  local t = redis.call('TIME')
  out[#out + 1] = t[1]
  out[#out + 1] = t[2]
  for _, k in ipairs(kvKeys) do
    local h = redis.call('HMGET', k, 'v', 'd', 'held')
    out[#out + 1] = h[1] or ''
    if h[2] then out[#out + 1] = h[2] elseif h[3] then out[#out + 1] = holdsJson(k) else out[#out + 1] = '' end
    out[#out + 1] = redis.call('PTTL', k)
  end
  for _, k in ipairs(counterKeys) do
    out[#out + 1] = redis.call('GET', k) or ''
    out[#out + 1] = redis.call('PTTL', k)
  end
  return out
end
`;

/** KEYS: kv keys, then counter keys; ARGV[1]: how many kv keys. */
const READ_LUA = `${STATE_LUA}
local n = tonumber(ARGV[1])
return state({unpack(KEYS, 1, n)}, {unpack(KEYS, n + 1)}, {})
`;

/**
 * KEYS: the version source, the kv keys (those read first, then any written without being
 * read), then the counters read. ARGV: kv key count, read kv key count, then per kv key the
 * expected version ('' absent, '*' unchecked), op ('s' set, 'd' delete, '' keep), JSON and
 * expire-at ms, then per counter its expected value ('' absent).
 * On a conflict it returns {0, state…} so the caller decides again without another READ.
 */
const CAS_LUA = `${STATE_LUA}
local n = tonumber(ARGV[1])
local nRead = tonumber(ARGV[2])
local counterBase = 2 + 4 * n
local conflict = false
for i = 1, n do
  local expected = ARGV[2 + 4 * (i - 1) + 1]
  if expected ~= '*' and (redis.call('HGET', KEYS[i + 1], 'v') or '') ~= expected then conflict = true break end
end
if not conflict then
  for i = n + 2, #KEYS do
    if (redis.call('GET', KEYS[i]) or '') ~= ARGV[counterBase + i - n - 1] then conflict = true break end
  end
end
if conflict then return state({unpack(KEYS, 2, nRead + 1)}, {unpack(KEYS, n + 2)}, {0}) end
local out = {1}
for i = 1, n do
  local base = 2 + 4 * (i - 1)
  local op = ARGV[base + 2]
  local key = KEYS[i + 1]
  if op == 's' then
    local version = redis.call('INCR', KEYS[1])
    -- Drops the fields a hold key may have been kept as: the value is the JSON now.
    redis.call('DEL', key)
    redis.call('HSET', key, 'v', version, 'd', ARGV[base + 3])
    redis.call('PEXPIREAT', key, ARGV[base + 4])
    out[#out + 1] = tostring(version)
  elseif op == 'd' then
    redis.call('DEL', key)
    out[#out + 1] = ''
  else
    out[#out + 1] = '='
  end
end
return out
`;

/**
 * `book(k, a, n, out)` books one ledger row. KEYS[k+1..k+4]: guard, hour rows, hour totals, hours
 * index; KEYS[k+5..k+4+n]: the spend counters. ARGV[a+1..a+10]: retention, row JSON, ts, hour
 * start, group, cost, input, cached, output, pages; then per counter: amount, expire-at ms.
 * Appends 0 to `out` for a known id, else 1 and the counters' new values.
 */
const BOOK_LUA = `
local function book(k, a, n, out)
  local retention = tonumber(ARGV[a + 1])
  if not redis.call('SET', KEYS[k + 1], '1', 'NX', 'PX', retention) then
    out[#out + 1] = 0
    return
  end
  local hour = tonumber(ARGV[a + 4])
  local keep = string.format('%.0f', hour + 3600000 + retention)
  local totals = KEYS[k + 3]
  redis.call('ZADD', KEYS[k + 2], ARGV[a + 3], ARGV[a + 2])
  local g = ARGV[a + 5]
  redis.call('HINCRBY', totals, g .. '\\nrequests', 1)
  redis.call('HINCRBY', totals, g .. '\\ncostNanoUsd', ARGV[a + 6])
  redis.call('HINCRBY', totals, g .. '\\ninputTokens', ARGV[a + 7])
  redis.call('HINCRBY', totals, g .. '\\ncachedInputTokens', ARGV[a + 8])
  redis.call('HINCRBY', totals, g .. '\\noutputTokens', ARGV[a + 9])
  redis.call('HINCRBY', totals, g .. '\\npages', ARGV[a + 10])
  -- The hour's first row (or one whose index entry was trimmed) sets what every row of the hour shares.
  if redis.call('ZADD', KEYS[k + 4], hour, ARGV[a + 4]) == 1 or redis.call('PTTL', KEYS[k + 2]) < 0 then
    redis.call('PEXPIREAT', KEYS[k + 2], keep)
    redis.call('PEXPIREAT', totals, keep)
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000
    redis.call('ZREMRANGEBYSCORE', KEYS[k + 4], '-inf', '(' .. string.format('%.0f', now - retention - 3600000))
    local ttl = redis.call('PTTL', KEYS[k + 4])
    if ttl < 0 or now + ttl < tonumber(keep) then redis.call('PEXPIREAT', KEYS[k + 4], keep) end
  end
  out[#out + 1] = 1
  local c = a + 10
  for i = 1, n do
    out[#out + 1] = redis.call('INCRBY', KEYS[k + 4 + i], ARGV[c + 1])
    redis.call('PEXPIREAT', KEYS[k + 4 + i], ARGV[c + 2])
    c = c + 2
  end
end
`;

/** KEYS and ARGV as `book` takes them from 0. Returns {0} for a known id, else {1, counter values…}. */
const RECORD_LUA = `${BOOK_LUA}
local out = {}
book(0, 0, #KEYS - 4, out)
return out
`;

/**
 * The limiter's per-call steps in Lua, over the kv hashes READ and CAS use (`v` version), so native
 * and generic transactions interleave safely: every change takes a fresh version. Bucket states
 * are JSON in `d` as everywhere. A budget window's holds are kept as fields instead, `held`,
 * `next` and `#<id>` = `<nano-USD>,<expires-at>`, so a call adds or removes one field rather than
 * rewriting a map of every call in flight (READ shows them as the JSON value; a CAS write turns
 * the key back into JSON, which the next ADMIT/SETTLE turns into fields again).
 *
 * This is src/limits/bucket.ts `level`/`take`/`adjust` and limiter.ts `liveHeld`, `decideAdmit`,
 * `decideRelease` step for step, in the same floating-point operations, so both decide alike
 * (redis.test.ts compares them). Numbers go out with 17 significant digits, which read back as
 * the same doubles.
 */
const LIMITS_LUA = `
local HOUR = 3600000
local function num(x) return string.format('%.17g', x) end
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function bucket(key, limit, burst, now)
  local d = redis.call('HGET', key, 'd')
  if not d then return burst, now end
  local s = cjson.decode(d)
  return math.min(burst, s.tokens + (math.max(0, now - s.at) * limit) / HOUR), math.max(s.at, now)
end
local function putBucket(version, key, tokens, at, now, out)
  local json = '{"tokens":' .. num(tokens) .. ',"at":' .. num(at) .. '}'
  redis.call('HSET', key, 'v', version, 'd', json)
  redis.call('PEXPIREAT', key, string.format('%.0f', now + 2 * HOUR))
  out[#out + 1] = version
  out[#out + 1] = json
end
local function parseHold(e)
  local c = string.find(e, ',', 1, true)
  return tonumber(string.sub(e, 1, c - 1)), tonumber(string.sub(e, c + 1))
end
local function chunked(cmd, key, list)
  for i = 1, #list, 1000 do redis.call(cmd, key, unpack(list, i, math.min(i + 999, #list))) end
end
-- A hold key's held total and next expiry (nil when absent). Recomputed over every hold, dropping
-- expired ones, when the totals are missing, or when one may have expired and prune is set.
local function holds(key, now, prune)
  local h = redis.call('HMGET', key, 'held', 'next', 'd')
  local held, nxt
  if h[3] then
    local st = cjson.decode(h[3])
    local fields = {}
    if type(st.holds) == 'table' then
      for id, e in pairs(st.holds) do
        fields[#fields + 1] = '#' .. id
        fields[#fields + 1] = num(e[1]) .. ',' .. num(e[2])
      end
    end
    redis.call('HDEL', key, 'd')
    if #fields > 0 then chunked('HSET', key, fields) end
    held, nxt = st.held, st.next
    if held ~= nil and nxt ~= nil then redis.call('HSET', key, 'held', num(held), 'next', num(nxt)) end
  elseif h[1] then
    held, nxt = tonumber(h[1]), tonumber(h[2])
  else
    return nil, nil
  end
  if held ~= nil and nxt ~= nil and (nxt == 0 or now < nxt or not prune) then return held, nxt end
  local all = redis.call('HGETALL', key)
  local sum, first, dead = 0, 0, {}
  for i = 1, #all, 2 do
    if string.byte(all[i], 1) == 35 then
      local a, e = parseHold(all[i + 1])
      if e > now then
        sum = sum + a
        if first == 0 or e < first then first = e end
      else
        dead[#dead + 1] = all[i]
      end
    end
  end
  if #dead > 0 then chunked('HDEL', key, dead) end
  redis.call('HSET', key, 'held', num(sum), 'next', num(first))
  return sum, first
end
`;

/**
 * Admission (AdmitOp). KEYS: version source, bucket kv keys, hold kv keys, spent counters (one per
 * hold key). ARGV: bucket count, budget count, hold id, hold nano-USD, hold TTL ms, degrade (1/0),
 * budget spare, per bucket limit, burst, amount, spare, per budget limit nano-USD, hold key
 * expire-at ms.
 * Returns {status, now, index, retryAfterMs | spent, exceedsCapacity | held, tooLarge, per bucket:
 * version, JSON, per hold key written: version, held, next}; status 1 admitted, 2 admitted past a
 * budget (degrade), 3 refused by a bucket, 4 refused by a budget; index is 1-based (0: none).
 */
const ADMIT_LUA = `${LIMITS_LUA}
local nb, nh = tonumber(ARGV[1]), tonumber(ARGV[2])
local id, worst, ttl, degrade = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6] == '1'
local spare = tonumber(ARGV[7])
local B = 7 + 4 * nb
local now = clock()
local levels, ats = {}, {}
for i = 1, nb do
  local a = 7 + 4 * (i - 1)
  local limit, burst, amount = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local tokens, at = bucket(KEYS[1 + i], limit, burst, now)
  if amount > burst then return {3, now, i, '-1', 1, 0} end
  if tokens < amount then return {3, now, i, num(math.ceil(((amount - tokens) * HOUR) / limit)), 0, 0} end
  if tokens - amount < tonumber(ARGV[a + 4]) then return {3, now, i, '0', 0, 0} end
  levels[i] = tokens - amount
  ats[i] = at
end
local helds, nexts = {}, {}
local short, sSpent, sHeld, sLarge = 0, 0, 0, 0
for j = 1, nh do
  local limit = tonumber(ARGV[B + 2 * (j - 1) + 1])
  local held, nxt = holds(KEYS[1 + nb + j], now, true)
  held = held or 0
  helds[j], nexts[j] = held, nxt or 0
  local spent = tonumber(redis.call('GET', KEYS[1 + nb + nh + j]) or '0')
  if worst > limit or spent + held + worst + spare > limit then
    short, sSpent, sHeld = j, spent, held
    if worst > limit then sLarge = 1 end
    break
  end
end
if short > 0 and not degrade then return {4, now, short, num(sSpent), num(sHeld), sLarge} end
local out = {short > 0 and 2 or 1, now, short, num(sSpent), num(sHeld), sLarge}
local writes = nb
if short == 0 and worst > 0 then writes = writes + nh end
local version = redis.call('INCRBY', KEYS[1], writes) - writes
for i = 1, nb do
  version = version + 1
  putBucket(version, KEYS[1 + i], levels[i], ats[i], now, out)
end
if short == 0 and worst > 0 then
  local expires = now + ttl
  local field = '#' .. id
  for j = 1, nh do
    local key = KEYS[1 + nb + j]
    local prev = redis.call('HGET', key, field)
    local held = helds[j] + worst - (prev and parseHold(prev) or 0)
    local nxt = nexts[j]
    if nxt == 0 or expires < nxt then nxt = expires end
    version = version + 1
    redis.call('HSET', key, 'v', version, 'held', num(held), 'next', num(nxt), field, num(worst) .. ',' .. num(expires))
    redis.call('PEXPIREAT', key, ARGV[B + 2 * (j - 1) + 2])
    out[#out + 1] = version
    out[#out + 1] = num(held)
    out[#out + 1] = num(nxt)
  end
end
return out
`;

/**
 * Settlement (SettleOp): the row as RECORD books it, then bucket adjustments and hold release.
 * KEYS: version source, [guard, hour rows, hour totals, hours index, spend counters], bucket kv
 * keys, hold kv keys. ARGV: has row (1/0), spend count, bucket count, hold key count, hold id,
 * [the row's ARGV as RECORD takes them], per bucket limit, burst, delta.
 * Returns {fresh (2: no row), counter values when fresh, per bucket: version, JSON, per hold key:
 * version, held ('' and '' when the hold was not there), now}.
 */
const SETTLE_LUA = `${BOOK_LUA}${LIMITS_LUA}
local hasRow = ARGV[1] == '1'
local ns, na, nr = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local id = ARGV[5]
local out = {}
local k, a = 1, 5
if hasRow then
  book(k, a, ns, out)
  k = k + 4 + ns
  a = a + 10 + 2 * ns
else
  out[1] = 2
end
local now = clock()
for i = 1, na do
  local limit, burst, delta = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  a = a + 3
  local tokens, at = bucket(KEYS[k + i], limit, burst, now)
  putBucket(redis.call('INCR', KEYS[1]), KEYS[k + i], math.min(burst, tokens + delta), at, now, out)
end
k = k + na
local field = '#' .. id
for j = 1, nr do
  local key = KEYS[k + j]
  local held = holds(key, now, false)
  local e = held and redis.call('HGET', key, field)
  if e then
    held = held - parseHold(e)
    local v = redis.call('INCR', KEYS[1])
    redis.call('HDEL', key, field)
    redis.call('HSET', key, 'v', v, 'held', num(held))
    out[#out + 1] = v
    out[#out + 1] = num(held)
  else
    out[#out + 1] = ''
    out[#out + 1] = ''
  end
end
out[#out + 1] = now
return out
`;

/** Per counter key: value ('' absent) and PTTL. */
const COUNTERS_LUA = `
local out = {}
for i = 1, #KEYS do
  out[#out + 1] = redis.call('GET', KEYS[i]) or ''
  out[#out + 1] = redis.call('PTTL', KEYS[i])
end
return out
`;

type Reply = (string | number)[];
type ScriptArg = string | number;

/** The commands `defineCommand` adds (numkeys first, as EVALSHA takes it). */
interface ScriptedRedis extends Redis {
  tgRead(numKeys: number, ...args: ScriptArg[]): Promise<Reply>;
  tgCas(numKeys: number, ...args: ScriptArg[]): Promise<Reply>;
  tgRecord(numKeys: number, ...args: ScriptArg[]): Promise<Reply>;
  tgAdmit(numKeys: number, ...args: ScriptArg[]): Promise<Reply>;
  tgSettle(numKeys: number, ...args: ScriptArg[]): Promise<Reply>;
  tgCounters(numKeys: number, ...args: ScriptArg[]): Promise<Reply>;
}

/** What this process knows of one budget window's holds in Redis (see RedisStore #holdMirror). */
interface HoldMirror {
  /** The total Redis reported at `seenAt` (its clock), every sidecar's holds. */
  held: number;
  seenAt: number;
  /** The hold TTL of the last admission: no hold Redis had at `seenAt` outlives `seenAt + ttl`. */
  ttl: number;
  /** When the hold key itself expires (its window's end). */
  expiresAt: number;
  /** This process's holds not yet released: id → [nano-USD, expires-at]. */
  own: Map<string, [number, number]>;
}

/**
 * The fallback's hold state for one window: this process's own holds as they are (SETTLE on the
 * fallback releases them), and everything else Redis held as one hold that expires when the
 * latest of those could: the limiter's HoldState shape (src/limits/decide.ts).
 */
function seedHolds(
  m: HoldMirror,
  now: number,
): { held: number; next: number; holds: Record<string, [number, number]> } {
  const holds: Record<string, [number, number]> = {};
  let ownLive = 0;
  for (const [id, h] of m.own) {
    if (h[1] <= now) continue;
    holds[id] = h;
    if (h[1] > m.seenAt) ownLive += h[0];
  }
  const others = m.held - ownLive;
  if (others > 0 && m.seenAt + m.ttl > now) holds['~fleet'] = [others, m.seenAt + m.ttl];
  let held = 0;
  let next = 0;
  for (const id in holds) {
    const [amount, expires] = holds[id]!;
    held += amount;
    if (next === 0 || expires < next) next = expires;
  }
  return { held, next, holds };
}

/** Thrown inside the store when a Redis call failed for want of Redis; callers turn to the fallback. */
class RedisUnreachable extends Error {
  override readonly name = 'RedisUnreachable';
}

interface KeyState {
  /** '' when absent. */
  version: string;
  /** JSON, '' when absent. */
  data: string;
  expiresAt: number;
}

interface Snapshot {
  now: number;
  keys: KeyState[];
  /** Counter values as Redis holds them ('' absent), compared verbatim by CAS. */
  counters: string[];
}

interface SpoolEntry {
  row: LedgerRow;
  spend: SpendIncrement[];
}

interface PendingSpool extends SpoolEntry {
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Server replies that mean "cannot serve now", not "your request is wrong". */
const OUTAGE_REPLY = /^(LOADING|BUSY|READONLY|MASTERDOWN|OOM|NOREPLICAS|TRYAGAIN|CLUSTERDOWN)\b/;

function isOutage(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  // ioredis raises connection loss, command timeouts and "offline queue disabled" as plain
  // errors; only ReplyError comes from the server itself, and most of those are our bugs.
  if (err.name === 'ReplyError') return OUTAGE_REPLY.test(err.message);
  return true;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function hourOf(ts: number): number {
  return Math.floor(ts / HOUR) * HOUR;
}

/** Host and port only: a URL may carry a password, and this goes into logs and /health. */
function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '6379'}${u.pathname && u.pathname !== '/' ? u.pathname : ''}`;
  } catch {
    return 'redis';
  }
}

function assertInteger(name: string, n: number): void {
  // HINCRBY/INCRBY reject non-integers mid-script, after the guard is set, which would book a row
  // half: refuse before sending instead.
  if (!Number.isSafeInteger(n)) throw new RangeError(`ledger ${name} must be a safe integer, got ${n}`);
}

function validate(row: LedgerRow, spend: readonly SpendIncrement[]): void {
  if (!Number.isFinite(row.ts)) throw new RangeError(`ledger ts must be finite, got ${row.ts}`);
  assertInteger('costNanoUsd', row.costNanoUsd);
  assertInteger('inputTokens', row.inputTokens);
  assertInteger('cachedInputTokens', row.cachedInputTokens);
  assertInteger('outputTokens', row.outputTokens);
  assertInteger('pages', row.pages);
  for (const s of spend) {
    assertInteger(`spend ${s.key}`, s.nanoUsd);
    if (!Number.isFinite(s.expiresAt)) throw new RangeError(`spend ${s.key} expiresAt must be finite`);
  }
}

type Metric = 'requests' | 'costNanoUsd' | 'inputTokens' | 'cachedInputTokens' | 'outputTokens' | 'pages';
const METRICS = new Set<string>([
  'requests',
  'costNanoUsd',
  'inputTokens',
  'cachedInputTokens',
  'outputTokens',
  'pages',
]);

/** Reads an hour-totals hash back into groups. */
function groupsFromHash(hash: Record<string, string>): LedgerGroup[] {
  const groups = new Map<string, LedgerGroup>();
  for (const [field, value] of Object.entries(hash)) {
    const cut = field.lastIndexOf('\n');
    const key = field.slice(0, cut);
    const metric = field.slice(cut + 1);
    if (cut < 0 || !METRICS.has(metric)) continue;
    let g = groups.get(key);
    if (g === undefined) {
      const [provider, model, servedBy, operation] = JSON.parse(key) as [string, string, 'real' | 'mock', string];
      g = emptyGroup(provider, model, servedBy, operation);
      groups.set(key, g);
    }
    g[metric as Metric] += Number(value);
  }
  return [...groups.values()];
}

/** A Map that forgets its least recently set entries past `max`. */
class BoundedMap<K, V> extends Map<K, V> {
  constructor(readonly max: number) {
    super();
  }
  override set(key: K, value: V): this {
    super.delete(key);
    super.set(key, value);
    if (this.size > this.max) {
      const oldest = this.keys().next();
      if (!oldest.done) this.delete(oldest.value);
    }
    return this;
  }
}

const silentLog: RedisStoreLog = { warn() {}, info() {} };

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
 * `counters` answers from the fallback; `aggregate`
 * and `rows` answer from the last Redis answer to the same query (if any) plus the rows booked
 * locally — best effort, it may miss rows other sidecars booked. `health()` fails with
 * `degraded: true`. While degraded it pings every `recoveryPollMs` (and listens for ioredis'
 * reconnect); once Redis answers, the spool is replayed in order through RECORD (rows Redis
 * already has are skipped by the id guard), truncated only after every row went through, and the
 * store switches back, dropping the fallback (its bucket states do not flow back: Redis wins).
 * A spool left by a process that died degraded is replayed by `open()`.
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
  readonly #prefix: string;
  readonly #now: () => number;
  readonly #log: RedisStoreLog;
  readonly #retention: number;
  readonly #commandTimeout: number;
  readonly #connectTimeout: number;
  readonly #pollMs: number;
  readonly #maxAttempts: number;
  readonly #spoolDir: string;
  readonly #spoolPath: string;

  #redis: ScriptedRedis | undefined;
  #opened = false;
  #closing: Promise<void> | undefined;

  /** Redis TIME minus the local clock, as of the last READ. */
  #clockOffset = 0;
  /** What Redis last had, to seed the fallback: key → state. */
  readonly #kvCache = new BoundedMap<string, KeyState>(100_000);
  readonly #counterCache = new BoundedMap<string, { value: number; expiresAt: number }>(100_000);
  readonly #lastAggregate = new BoundedMap<string, LedgerGroup[]>(32);
  readonly #lastRows = new BoundedMap<string, LedgerRow[]>(32);
  /**
   * Per budget hold key written by ADMIT: what Redis last said is held, and this process's own holds
   * (those SETTLE has not released). ADMIT/SETTLE do not send the whole hold map back, so this is
   * what seeds the fallback's holds (see #enterDegraded).
   */
  readonly #holdMirror = new BoundedMap<string, HoldMirror>(10_000);

  /** Tail of the per-key queue: one CAS per key in flight per process. */
  readonly #tails = new Map<string, Promise<void>>();

  #degraded = false;
  #degradedReason = '';
  /** The last connection error ioredis reported, for the reason shown in health. */
  #lastError = '';
  #fallback: MemoryStore | undefined;
  #poll: NodeJS.Timeout | undefined;
  #recovering = false;

  #spoolFile: FileHandle | undefined;
  /** Serializes spool appends against replay-and-truncate. */
  #spoolLock: Promise<void> = Promise.resolve();
  readonly #spoolPending: PendingSpool[] = [];

  readonly #stats: RedisStoreStats = {
    transacts: 0,
    admits: 0,
    settles: 0,
    retries: 0,
    records: 0,
    fallbackTransacts: 0,
    spooled: 0,
    replayed: 0,
    degradedSwitches: 0,
  };

  constructor(url: string, options: RedisStoreOptions = {}) {
    this.#url = url;
    this.#prefix = options.keyPrefix ?? 'tollgate:';
    this.#now = options.now ?? Date.now;
    this.#log = options.log ?? silentLog;
    this.#retention = options.ledgerRetentionMs ?? 400 * DAY;
    this.#commandTimeout = options.commandTimeoutMs ?? 500;
    this.#connectTimeout = options.connectTimeoutMs ?? 2000;
    this.#pollMs = options.recoveryPollMs ?? 1000;
    this.#maxAttempts = options.maxAttempts ?? 50;
    this.#spoolDir = options.spoolDir ?? './data/spool';
    this.#spoolPath = join(this.#spoolDir, `redis-${this.#prefix.replace(/[^A-Za-z0-9_-]/g, '_')}.jsonl`);
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
    await mkdir(this.#spoolDir, { recursive: true });
    const redis = new Redis(this.#url, {
      lazyConnect: true,
      enableAutoPipelining: true,
      // Fail fast so the fallback answers instead of the request waiting on a dead socket.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: this.#commandTimeout,
      connectTimeout: this.#connectTimeout,
      retryStrategy: (times) => Math.min(100 * times, this.#pollMs),
    }) as ScriptedRedis;
    redis.defineCommand('tgRead', { lua: READ_LUA });
    redis.defineCommand('tgCas', { lua: CAS_LUA });
    redis.defineCommand('tgRecord', { lua: RECORD_LUA });
    redis.defineCommand('tgAdmit', { lua: ADMIT_LUA });
    redis.defineCommand('tgSettle', { lua: SETTLE_LUA });
    redis.defineCommand('tgCounters', { lua: COUNTERS_LUA });
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
    this.#redis = redis;

    try {
      await Promise.race([
        redis.connect(),
        sleep(this.#connectTimeout, undefined, { ref: false }).then(() => {
          throw new Error(`no answer within ${this.#connectTimeout} ms`);
        }),
      ]);
    } catch (err) {
      // Readiness does not depend on Redis alone (contract section 7): start on the fallback.
      this.#enterDegraded(messageOf(err));
    }

    const leftover = await this.#readSpool();
    this.#stats.spooled = leftover.length;
    if (leftover.length === 0) return;
    this.#log.info({ store: describeUrl(this.#url), rows: leftover.length }, 'found spooled ledger rows');
    if (!this.#degraded && (await this.#drainSpool())) return;
    // Still unreachable: local budgets must see the spend those rows carry.
    for (const e of leftover) this.#fallback?.recordSync(e.row, e.spend);
  }

  async close(): Promise<void> {
    if (this.#closing === undefined) this.#closing = this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    if (this.#poll !== undefined) clearInterval(this.#poll);
    this.#poll = undefined;
    await this.#spoolLock;
    await this.#spoolFile?.close();
    this.#spoolFile = undefined;
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
    return { status: 'pass', output: `redis ${where} reachable, prefix ${this.#prefix}` };
  }

  // ---------------------------------------------------------------- transact

  async transact<T>(request: TransactRequest<T>): Promise<T> {
    this.#assertOpen();
    this.#stats.transacts += 1;
    if (this.#degraded) return this.#fallbackTransact(request);
    const release = await this.#lockKeys(request.keys);
    try {
      if (this.#degraded) return this.#fallbackTransact(request);
      return await this.#transactRemote(request);
    } catch (err) {
      if (err instanceof RedisUnreachable) return this.#fallbackTransact(request);
      throw err;
    } finally {
      release();
    }
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

  /** Admission in one ADMIT script; on the local fallback, `request` (the same decision in TypeScript). */
  async admit(op: AdmitOp, request: TransactRequest<AdmitVerdict>): Promise<AdmitVerdict> {
    this.#assertOpen();
    this.#stats.admits += 1;
    return this.#remoteOr(
      async () => this.#admitRemote(op),
      async () => this.#fallbackTransact(request),
    );
  }

  async #admitRemote(op: AdmitOp): Promise<AdmitVerdict> {
    const nb = op.buckets.length;
    const nh = op.budgets.length;
    const args: ScriptArg[] = [`${this.#prefix}meta:version`];
    for (const b of op.buckets) args.push(this.#kvKey(b.key));
    for (const g of op.budgets) args.push(this.#kvKey(g.holdKey));
    for (const g of op.budgets) args.push(this.#counterKey(g.spentKey));
    args.push(nb, nh, op.holdId, op.holdNano, op.holdTtlMs, op.degrade ? 1 : 0, op.holdSpare ?? 0);
    for (let i = 0; i < nb; i++) {
      const b = op.buckets[i]!;
      args.push(b.limit, b.burst, op.amounts[i]!, op.spares?.[i] ?? 0);
    }
    for (const g of op.budgets) args.push(g.limitNano, Math.ceil(g.expiresAt));
    const redis = this.#redis!;
    const reply = await this.#remote(() => redis.tgAdmit(1 + nb + 2 * nh, ...args));
    const status = Number(reply[0]);
    const now = Number(reply[1]);
    this.#clockOffset = now - this.#now();
    const index = Number(reply[2]) - 1;
    if (status === 3) {
      const retry = Number(reply[3]);
      return {
        admitted: false,
        now,
        levels: [],
        bucket: { index, retryAfterMs: retry < 0 ? Number.POSITIVE_INFINITY : retry, exceedsCapacity: reply[4] === 1 },
      };
    }
    const budget =
      index < 0 ? undefined : { index, spent: Number(reply[3]), held: Number(reply[4]), tooLarge: reply[5] === 1 };
    if (status === 4) return { admitted: false, now, levels: [], budget };
    const levels: number[] = new Array(nb);
    let at = 6;
    const bucketExpiry = now + 2 * HOUR;
    for (let i = 0; i < nb; i++) {
      const data = String(reply[at + 1]);
      levels[i] = (JSON.parse(data) as { tokens: number }).tokens;
      this.#kvCache.set(op.buckets[i]!.key, { version: String(reply[at]), data, expiresAt: bucketExpiry });
      at += 2;
    }
    if (at < reply.length) {
      const expires = now + op.holdTtlMs;
      for (let j = 0; j < nh; j++, at += 3) {
        const g = op.budgets[j]!;
        const mirror = this.#mirror(g.holdKey, g.expiresAt);
        mirror.held = Number(reply[at + 1]);
        mirror.seenAt = now;
        mirror.ttl = op.holdTtlMs;
        mirror.own.set(op.holdId, [op.holdNano, expires]);
        if (mirror.own.size > 4096) for (const [id, [, e]] of mirror.own) if (e <= now) mirror.own.delete(id);
      }
    }
    return budget === undefined ? { admitted: true, now, levels } : { admitted: true, now, levels, budget };
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
      async () => this.#settleRemote(op),
      async () => {
        // Whether SETTLE applied before the connection went is unknown: the spool's replay books the
        // row once either way; the holds, if they stayed in Redis, expire.
        const fresh = op.row === undefined ? false : await this.#recordLocally(op.row, op.spend);
        if (release !== undefined) await this.transact(release);
        return fresh;
      },
    );
  }

  async #settleRemote(op: SettleOp): Promise<boolean> {
    const row = op.row;
    const spend = row === undefined ? [] : op.spend;
    const keys: ScriptArg[] = [`${this.#prefix}meta:version`];
    const args: ScriptArg[] = [
      row === undefined ? 0 : 1,
      spend.length,
      op.adjust.length,
      op.holdKeys.length,
      op.holdId,
    ];
    if (row !== undefined) this.#bookArgs(row, spend, keys, args);
    for (let i = 0; i < op.adjust.length; i++) {
      const b = op.adjust[i]!;
      keys.push(this.#kvKey(b.key));
      args.push(b.limit, b.burst, op.deltas[i]!);
    }
    for (const k of op.holdKeys) keys.push(this.#kvKey(k));
    const redis = this.#redis!;
    const reply = await this.#remote(() => redis.tgSettle(keys.length, ...keys, ...args));
    const status = Number(reply[0]);
    let at = 1;
    if (status === 1) {
      spend.forEach((s, i) => {
        this.#counterCache.set(s.key, { value: Number(reply[i + 1]), expiresAt: s.expiresAt });
      });
      at += spend.length;
    }
    const now = Number(reply[reply.length - 1]);
    this.#clockOffset = now - this.#now();
    const bucketExpiry = now + 2 * HOUR;
    for (const b of op.adjust) {
      this.#kvCache.set(b.key, { version: String(reply[at]), data: String(reply[at + 1]), expiresAt: bucketExpiry });
      at += 2;
    }
    for (const k of op.holdKeys) {
      const mirror = this.#holdMirror.get(k);
      if (mirror !== undefined) {
        mirror.own.delete(op.holdId);
        if (reply[at] !== '') {
          mirror.held = Number(reply[at + 1]);
          mirror.seenAt = now;
        }
      }
      at += 2;
    }
    return status === 1;
  }

  #mirror(key: string, expiresAt: number): HoldMirror {
    let m = this.#holdMirror.get(key);
    if (m === undefined) {
      m = { held: 0, seenAt: 0, ttl: 0, expiresAt, own: new Map() };
      this.#holdMirror.set(key, m);
    }
    return m;
  }

  #fallbackTransact<T>(request: TransactRequest<T>): T {
    this.#stats.fallbackTransacts += 1;
    return this.#fallback!.transactSync(request);
  }

  /**
   * Queues behind earlier transacts touching any of the same keys. Registering as the new tail
   * of every key happens synchronously, so the wait order is a total order and cannot deadlock;
   * only one CAS per key is then in flight per process, and conflicts come from other sidecars.
   */
  async #lockKeys(keys: readonly string[]): Promise<() => void> {
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

  async #transactRemote<T>(request: TransactRequest<T>): Promise<T> {
    const keys = request.keys;
    const counters = request.counters ?? [];
    let snapshot = await this.#read(keys, counters);
    for (let attempt = 1; ; attempt++) {
      const values = new Map<string, unknown>();
      keys.forEach((k, i) => {
        const data = snapshot.keys[i]!.data;
        values.set(k, data === '' ? undefined : JSON.parse(data));
      });
      counters.forEach((k, i) => {
        values.set(k, snapshot.counters[i] === '' ? 0 : Number(snapshot.counters[i]));
      });
      const { writes, result } = request.decide(values, snapshot.now);
      // A consistent snapshot (READ is one script) needs no CAS when nothing changes.
      if (writes.size === 0) return result;

      const outcome = await this.#cas(request, snapshot, writes);
      if (outcome === true) return result;
      this.#stats.retries += 1;
      if (attempt >= this.#maxAttempts) {
        throw new StoreUnavailableError(`redis transact on ${keys.join(', ')}: gave up after ${attempt} conflicts`);
      }
      snapshot = outcome;
      if (attempt >= 3) {
        // Repeated conflicts mean other sidecars hammer the same keys: back off with jitter so
        // they stop colliding, then read afresh (the state from the conflict is stale by then).
        await sleep(randomInt(1, Math.min(2 ** attempt, 50) + 1));
        snapshot = await this.#read(keys, counters);
      }
    }
  }

  #kvKey(key: string): string {
    return `${this.#prefix}kv:${key}`;
  }

  #counterKey(key: string): string {
    return `${this.#prefix}c:${key}`;
  }

  /** Parses a STATE_LUA answer from `offset` on and remembers it as the last known state. */
  #snapshot(keys: readonly string[], counters: readonly string[], reply: Reply, offset: number): Snapshot {
    const now = Number(reply[offset]) * 1000 + Math.floor(Number(reply[offset + 1]) / 1000);
    this.#clockOffset = now - this.#now();
    const expiry = (pttl: number) => (pttl >= 0 ? now + pttl : now + DAY);
    let at = offset + 2;
    const states = keys.map((k): KeyState => {
      const state = {
        version: String(reply[at]),
        data: String(reply[at + 1]),
        expiresAt: expiry(Number(reply[at + 2])),
      };
      at += 3;
      this.#cacheKey(k, state);
      return state;
    });
    const values = counters.map((k) => {
      const raw = String(reply[at]);
      this.#cacheCounter(k, raw, expiry(Number(reply[at + 1])));
      at += 2;
      return raw;
    });
    return { now, keys: states, counters: values };
  }

  #cacheKey(key: string, state: KeyState): void {
    if (state.version === '') this.#kvCache.delete(key);
    else this.#kvCache.set(key, state);
  }

  #cacheCounter(key: string, raw: string, expiresAt: number): void {
    if (raw === '') this.#counterCache.delete(key);
    else this.#counterCache.set(key, { value: Number(raw), expiresAt });
  }

  async #read(keys: readonly string[], counters: readonly string[]): Promise<Snapshot> {
    const redis = this.#redis!;
    const names = [...keys.map((k) => this.#kvKey(k)), ...counters.map((k) => this.#counterKey(k))];
    const reply = await this.#remote(() => redis.tgRead(names.length, ...names, keys.length));
    return this.#snapshot(keys, counters, reply, 0);
  }

  /** True when committed; otherwise the fresh state the conflicting CAS returned. */
  async #cas<T>(
    request: TransactRequest<T>,
    snapshot: Snapshot,
    writes: Map<string, unknown>,
  ): Promise<true | Snapshot> {
    const keys = [...request.keys];
    const read = new Set(keys);
    for (const k of writes.keys()) if (!read.has(k)) keys.push(k);
    const counters = request.counters ?? [];
    const names = [
      `${this.#prefix}meta:version`,
      ...keys.map((k) => this.#kvKey(k)),
      ...counters.map((k) => this.#counterKey(k)),
    ];
    const args: ScriptArg[] = [keys.length, request.keys.length];
    const planned: KeyState[] = [];
    keys.forEach((k, i) => {
      const expected = i < request.keys.length ? snapshot.keys[i]!.version : '*';
      if (!writes.has(k)) {
        args.push(expected, '', '', 0);
        planned.push(snapshot.keys[i]!);
        return;
      }
      const value = writes.get(k);
      if (value === undefined) {
        args.push(expected, 'd', '', 0);
        planned.push({ version: '', data: '', expiresAt: 0 });
        return;
      }
      const expiresAt = Math.ceil(request.expiresAt?.(k, snapshot.now) ?? snapshot.now + DAY);
      const data = JSON.stringify(value);
      args.push(expected, 's', data, expiresAt);
      planned.push({ version: '', data, expiresAt });
    });
    args.push(...snapshot.counters);
    const redis = this.#redis!;
    const reply = await this.#remote(() => redis.tgCas(names.length, ...names, ...args));
    if (Number(reply[0]) !== 1) return this.#snapshot(request.keys, counters, reply, 1);
    keys.forEach((k, i) => {
      const version = String(reply[i + 1]);
      if (version !== '=') this.#cacheKey(k, { ...planned[i]!, version });
    });
    return true;
  }

  // ---------------------------------------------------------------- ledger

  async record(row: LedgerRow, spend: readonly SpendIncrement[]): Promise<boolean> {
    this.#assertOpen();
    validate(row, spend);
    this.#stats.records += 1;
    return this.#remoteOr(
      async () => this.#recordRemote(row, spend),
      async () => this.#recordLocally(row, spend),
    );
  }

  /** Books a row on the fallback and in the spool (fsynced before it resolves). */
  async #recordLocally(row: LedgerRow, spend: readonly SpendIncrement[]): Promise<boolean> {
    // The fallback decides "new or not" among what this process booked while degraded; the
    // spool replay decides it fleet-wide later, so a row is never counted twice in Redis.
    if (!this.#fallback!.recordSync(row, spend)) return false;
    await this.#spool({ row, spend: [...spend] });
    return true;
  }

  /** Appends a row's KEYS and ARGV in the order `book` (BOOK_LUA) takes them. */
  #bookArgs(row: LedgerRow, spend: readonly SpendIncrement[], keys: ScriptArg[], args: ScriptArg[]): void {
    const p = this.#prefix;
    const hour = hourOf(row.ts);
    keys.push(`${p}ledger:id:${row.id}`, `${p}ledger:rows:${hour}`, `${p}ledger:agg:${hour}`, `${p}ledger:hours`);
    for (const s of spend) keys.push(this.#counterKey(s.key));
    args.push(
      this.#retention,
      JSON.stringify(row),
      row.ts,
      hour,
      JSON.stringify([row.provider, row.model, row.servedBy, row.operation]),
      row.costNanoUsd,
      row.inputTokens,
      row.cachedInputTokens,
      row.outputTokens,
      row.pages,
    );
    for (const s of spend) args.push(s.nanoUsd, Math.ceil(s.expiresAt));
  }

  async #recordRemote(row: LedgerRow, spend: readonly SpendIncrement[]): Promise<boolean> {
    const keys: ScriptArg[] = [];
    const args: ScriptArg[] = [];
    this.#bookArgs(row, spend, keys, args);
    const redis = this.#redis!;
    const reply = await this.#remote(() => redis.tgRecord(keys.length, ...keys, ...args));
    if (Number(reply[0]) !== 1) return false;
    spend.forEach((s, i) => {
      this.#counterCache.set(s.key, { value: Number(reply[i + 1]), expiresAt: s.expiresAt });
    });
    return true;
  }

  async counters(keys: readonly string[]): Promise<Map<string, number>> {
    this.#assertOpen();
    return this.#remoteOr(
      async () => {
        const redis = this.#redis!;
        const reply = await this.#remote(() => redis.tgCounters(keys.length, ...keys.map((k) => this.#counterKey(k))));
        const now = this.#now() + this.#clockOffset;
        const out = new Map<string, number>();
        keys.forEach((k, i) => {
          const raw = String(reply[2 * i]);
          const pttl = Number(reply[2 * i + 1]);
          out.set(k, raw === '' ? 0 : Number(raw));
          this.#cacheCounter(k, raw, pttl >= 0 ? now + pttl : now + DAY);
        });
        return out;
      },
      async () => this.#fallback!.countersSync(keys),
    );
  }

  /** Hours in [from, to) that hold rows, oldest first. */
  async #hours(redis: ScriptedRedis, { from, to }: LedgerQuery): Promise<number[]> {
    const lo = Number.isFinite(from) ? hourOf(from) : '-inf';
    const hi = Number.isFinite(to) ? `(${to}` : '+inf';
    const hours = await redis.zrangebyscore(`${this.#prefix}ledger:hours`, lo, hi);
    return hours.map(Number).sort((a, b) => a - b);
  }

  async aggregate(query: LedgerQuery): Promise<LedgerGroup[]> {
    this.#assertOpen();
    const cacheKey = `${query.from}:${query.to}`;
    return this.#remoteOr(
      async () => {
        const groups = await this.#remote(() => this.#aggregateRemote(query));
        this.#lastAggregate.set(cacheKey, groups);
        return groups;
      },
      async () => mergeGroups(this.#lastAggregate.get(cacheKey) ?? [], await this.#fallback!.aggregate(query)),
    );
  }

  /** Whole hours come from their totals hash; the partial hours at either end from their rows. */
  async #aggregateRemote(query: LedgerQuery): Promise<LedgerGroup[]> {
    const redis = this.#redis!;
    const p = this.#prefix;
    const parts = await Promise.all(
      (await this.#hours(redis, query)).map(async function hourGroups(hour) {
        if (hour >= query.from && hour + HOUR <= query.to) {
          return groupsFromHash(await redis.hgetall(`${p}ledger:agg:${hour}`));
        }
        const lo = Math.max(query.from, hour);
        const hi = Math.min(query.to, hour + HOUR);
        const rows = await redis.zrangebyscore(`${p}ledger:rows:${hour}`, lo, `(${hi}`);
        return groupRows(rows.map((r) => JSON.parse(r) as LedgerRow));
      }),
    );
    return mergeGroups(...parts);
  }

  async rows(query: LedgerQuery & { limit?: number }): Promise<LedgerRow[]> {
    this.#assertOpen();
    const limit = query.limit ?? Number.POSITIVE_INFINITY;
    const cacheKey = `${query.from}:${query.to}:${limit}`;
    return this.#remoteOr(
      async () => {
        const rows = await this.#remote(() => this.#rowsRemote(query, limit));
        this.#lastRows.set(cacheKey, rows);
        return rows;
      },
      async () => {
        const byId = new Map<string, LedgerRow>();
        for (const r of this.#lastRows.get(cacheKey) ?? []) byId.set(r.id, r);
        for (const r of await this.#fallback!.rows(query)) byId.set(r.id, r);
        return [...byId.values()].sort((a, b) => a.ts - b.ts).slice(0, limit);
      },
    );
  }

  async #rowsRemote(query: LedgerQuery, limit: number): Promise<LedgerRow[]> {
    const redis = this.#redis!;
    const hours = await this.#hours(redis, query);
    const out: LedgerRow[] = [];
    // A day at a time, pipelined, stopping once the limit is met.
    for (let i = 0; i < hours.length && out.length < limit; i += 24) {
      const want = limit - out.length;
      const batch = await Promise.all(
        hours.slice(i, i + 24).map((hour) => {
          const lo = Math.max(query.from, hour);
          const hi = `(${Math.min(query.to, hour + HOUR)}`;
          const key = `${this.#prefix}ledger:rows:${hour}`;
          return Number.isFinite(want)
            ? redis.zrangebyscore(key, lo, hi, 'LIMIT', 0, want)
            : redis.zrangebyscore(key, lo, hi);
        }),
      );
      for (const list of batch) for (const r of list) out.push(JSON.parse(r) as LedgerRow);
    }
    return out.slice(0, limit);
  }

  // ---------------------------------------------------------------- outage

  #assertOpen(): void {
    if (!this.#opened || this.#redis === undefined) throw new StoreUnavailableError('redis store used before open()');
    if (this.#closing !== undefined) throw new StoreUnavailableError('redis store used after close()');
  }

  /** Runs a Redis call; an outage switches the store to its fallback and throws RedisUnreachable. */
  async #remote<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (!isOutage(err)) throw err;
      this.#enterDegraded(messageOf(err));
      throw new RedisUnreachable(messageOf(err), { cause: err });
    }
  }

  #enterDegraded(reason: string): void {
    if (this.#degraded || this.#closing !== undefined) return;
    const offset = this.#clockOffset;
    const localNow = this.#now;
    const fallback = new MemoryStore({ now: () => localNow() + offset });
    const now = localNow() + offset;
    for (const [k, s] of this.#kvCache) {
      if (s.data !== '' && s.expiresAt > now) fallback.seedValue(k, JSON.parse(s.data), s.expiresAt);
    }
    for (const [k, m] of this.#holdMirror) if (m.expiresAt > now) fallback.seedValue(k, seedHolds(m, now), m.expiresAt);
    for (const [k, c] of this.#counterCache) if (c.expiresAt > now) fallback.seedCounter(k, c.value, c.expiresAt);
    this.#fallback = fallback;
    this.#degraded = true;
    this.#degradedReason = reason;
    this.#stats.degradedSwitches += 1;
    this.#log.warn(
      {
        store: describeUrl(this.#url),
        reason,
        seededKeys: this.#kvCache.size,
        seededCounters: this.#counterCache.size,
      },
      'redis unreachable: serving limits and budgets from the local fallback, spooling ledger rows',
    );
    this.#poll = setInterval(() => void this.#tryRecover(), this.#pollMs);
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
   * Replays the spool through RECORD and, once every row went through, truncates it and leaves
   * degraded mode — all under the spool lock, so no append can land between the last replayed row
   * and the truncation, or be written to the spool after the switch without being replayed.
   */
  async #drainSpool(): Promise<boolean> {
    return this.#withSpoolLock(async () => {
      const entries = await this.#readSpool();
      try {
        // Pipelined in chunks; one connection keeps their order.
        for (let i = 0; i < entries.length; i += 256) {
          const chunk = entries.slice(i, i + 256);
          await Promise.all(chunk.map((e) => this.#recordRemote(e.row, e.spend)));
          this.#stats.replayed += chunk.length;
        }
      } catch (err) {
        if (err instanceof RedisUnreachable) return false;
        throw err;
      }
      if (entries.length > 0) {
        const file = await this.#openSpool();
        await file.truncate(0);
        await file.datasync();
        this.#log.info({ store: describeUrl(this.#url), rows: entries.length }, 'replayed spooled ledger rows');
      }
      this.#stats.spooled = 0;
      if (this.#degraded) {
        this.#degraded = false;
        this.#degradedReason = '';
        this.#lastError = '';
        this.#fallback = undefined;
        if (this.#poll !== undefined) clearInterval(this.#poll);
        this.#poll = undefined;
        this.#log.info({ store: describeUrl(this.#url) }, 'redis reachable again: back on the shared store');
      }
      return true;
    });
  }

  #withSpoolLock<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#spoolLock.then(fn);
    this.#spoolLock = run.then(
      () => {},
      () => {},
    );
    return run;
  }

  /** Resolves once the row is on disk; concurrent rows share one write and one fsync. */
  #spool(entry: SpoolEntry): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#spoolPending.push({ ...entry, resolve, reject });
      if (this.#spoolPending.length === 1) void this.#withSpoolLock(() => this.#flushSpool());
    });
  }

  async #flushSpool(): Promise<void> {
    const batch = this.#spoolPending.splice(0);
    if (batch.length === 0) return;
    try {
      const file = await this.#openSpool();
      await file.write(batch.map((e) => `${JSON.stringify({ row: e.row, spend: e.spend })}\n`).join(''));
      await file.datasync();
      this.#stats.spooled += batch.length;
    } catch (err) {
      for (const e of batch) e.reject(err);
      return;
    }
    for (const e of batch) e.resolve();
    // Redis came back while these waited for the lock: they must not sit in the spool.
    if (!this.#degraded) void this.#drainSpool().catch(() => {});
  }

  async #openSpool(): Promise<FileHandle> {
    if (this.#spoolFile !== undefined) return this.#spoolFile;
    this.#spoolFile = await openFile(this.#spoolPath, 'a+');
    // The file's directory entry must be durable too, or a crash can lose the whole spool.
    const dir = await openFile(this.#spoolDir, 'r');
    await dir.sync().finally(() => dir.close());
    return this.#spoolFile;
  }

  /**
   * The spool's rows in order. A last line without its newline is a write cut short by a crash,
   * never acknowledged to a caller: it is cut off so the next append starts on a fresh line.
   */
  async #readSpool(): Promise<SpoolEntry[]> {
    let text: string;
    try {
      text = await readFile(this.#spoolPath, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const end = text.lastIndexOf('\n') + 1;
    if (end < text.length) {
      const file = await this.#openSpool();
      await file.truncate(Buffer.byteLength(text.slice(0, end)));
      await file.datasync();
      this.#log.warn({ bytes: text.length - end }, 'dropped a torn last line from the ledger spool');
    }
    const entries: SpoolEntry[] = [];
    for (const line of text.slice(0, end).split('\n')) {
      if (line === '') continue;
      try {
        entries.push(JSON.parse(line) as SpoolEntry);
      } catch {
        // Cannot be replayed; say so loudly rather than refuse to start.
        this.#log.warn({ line: line.slice(0, 200) }, 'skipped an unreadable ledger spool line');
      }
    }
    return entries;
  }
}
