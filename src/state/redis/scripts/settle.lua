-- SETTLE (SettleOp): the row as RECORD books it, then bucket adjustments and hold release.
-- KEYS: version source, [guard, hour rows, hour totals, hours index, spend counters], bucket kv
-- keys, hold kv keys. ARGV: has row (1/0), spend count, bucket count, hold key count, hold id,
-- [the row's ARGV as RECORD takes them], per bucket limit, burst, delta.
-- Returns {fresh (2: no row), counter values when fresh, per bucket: version, JSON, per hold key:
-- version, held ('' and '' when the hold was not there), now}. Needs book.lua, clock.lua, limits.lua.
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
