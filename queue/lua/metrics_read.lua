-- metrics_read.lua: the dashboard's metrics window in one call (queue/tally.h).
-- KEYS[1..] nexus:metrics:WIDTH:SLOT, oldest first.
-- Returns one array per key: its fields and counts as HGETALL gives them (empty when gone).
local out = {}
for i, key in ipairs(KEYS) do
  out[i] = redis.call('HGETALL', key)
end
return out
