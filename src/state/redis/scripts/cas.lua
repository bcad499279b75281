-- CAS. KEYS: the version source, the kv keys (those read first, then any written without being
-- read), then the counters read. ARGV: kv key count, read kv key count, then per kv key the
-- expected version ('' absent, '*' unchecked), op ('s' set, 'd' delete, '' keep), JSON and
-- expire-at ms, then per counter its expected value ('' absent).
-- On a conflict it returns {0, state...} so the caller decides again without another READ.
-- Needs state.lua.
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
