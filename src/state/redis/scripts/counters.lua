-- COUNTERS. Per counter key: value ('' absent) and PTTL.
local out = {}
for i = 1, #KEYS do
  out[#out + 1] = redis.call('GET', KEYS[i]) or ''
  out[#out + 1] = redis.call('PTTL', KEYS[i])
end
return out
