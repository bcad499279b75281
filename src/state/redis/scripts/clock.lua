-- The fleet's one clock, Redis TIME in ms. Its own part so a test can put a settable clock in its place.
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
