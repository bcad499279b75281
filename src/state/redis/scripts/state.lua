-- The state of some keys and counters at one instant, as READ and a failed CAS return it:
-- Redis TIME, then `v, d, pttl` per kv key ('' = absent), then `value, pttl` per counter.
-- Shared by both scripts so they answer in exactly the same shape. A budget's holds kept as fields
-- by ADMIT/SETTLE (see limits.lua) are read back as the JSON value the limiter knows.
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
