-- The limiter's per-call steps, over the kv hashes READ and CAS use (`v` version), so native and
-- generic transactions interleave safely: every change takes a fresh version. Bucket states are
-- JSON in `d` as everywhere. A budget window's holds are kept as fields instead, `held`, `next`
-- and `#<id>` = `<nano-USD>,<expires-at>`, so a call adds or removes one field rather than
-- rewriting a map of every call in flight (READ shows them as the JSON value; a CAS write turns
-- the key back into JSON, which the next ADMIT/SETTLE turns into fields again).
--
-- This is the limiter's bucket.ts `level`/`take`/`adjust` and limiter.ts `liveHeld`, `decideAdmit`,
-- `decideRelease` step for step, in the same floating-point operations, so both decide alike
-- (test/redis-scripts.test.ts compares them on random sequences). Numbers go out with 17
-- significant digits, which read back as the same doubles.
local HOUR = 3600000
local function num(x) return string.format('%.17g', x) end
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
