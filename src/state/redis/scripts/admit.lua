-- ADMIT (AdmitOp). KEYS: version source, bucket kv keys, hold kv keys, spent counters (one per
-- hold key). ARGV: bucket count, budget count, hold id, hold nano-USD, hold TTL ms, degrade (1/0),
-- budget spare, per bucket limit, burst, amount, spare, per budget limit nano-USD, hold key
-- expire-at ms.
-- Returns {status, now, index, retryAfterMs | spent, exceedsCapacity | held, tooLarge, per bucket:
-- version, JSON, per hold key written: version, held, next}; status 1 admitted, 2 admitted past a
-- budget (degrade), 3 refused by a bucket, 4 refused by a budget; index is 1-based (0: none).
-- Needs clock.lua and limits.lua.
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
