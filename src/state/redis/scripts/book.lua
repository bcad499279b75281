-- `book(k, a, n, out)` books one ledger row. KEYS[k+1..k+4]: guard, hour rows, hour totals, hours
-- index; KEYS[k+5..k+4+n]: the spend counters. ARGV[a+1..a+10]: retention, row JSON, ts, hour
-- start, group, cost, input, cached, output, pages; then per counter: amount, expire-at ms.
-- Appends 0 to `out` for a known id, else 1 and the counters' new values.
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
  redis.call('HINCRBY', totals, g .. '\nrequests', 1)
  redis.call('HINCRBY', totals, g .. '\ncostNanoUsd', ARGV[a + 6])
  redis.call('HINCRBY', totals, g .. '\ninputTokens', ARGV[a + 7])
  redis.call('HINCRBY', totals, g .. '\ncachedInputTokens', ARGV[a + 8])
  redis.call('HINCRBY', totals, g .. '\noutputTokens', ARGV[a + 9])
  redis.call('HINCRBY', totals, g .. '\npages', ARGV[a + 10])
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
