-- READ. KEYS: kv keys, then counter keys; ARGV[1]: how many kv keys. Needs state.lua.
local n = tonumber(ARGV[1])
return state({unpack(KEYS, 1, n)}, {unpack(KEYS, n + 1)}, {})
