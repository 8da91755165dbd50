-- orphans.lua: which of the in-flight lists found by the sweep belong to no live process.
-- KEYS[1] nexus:procs, then for each list i = 1..n: KEYS[2i] the in-flight list and
-- KEYS[2i + 1] its owner's heartbeat hash (IDENTITY). ARGV[i] the owner's identity.
-- Returns the indices i of lists that hold jobs while their owner has neither a heartbeat
-- nor a nexus:procs record (a registered owner is the reaper's to judge).
local out = {}
for i = 1, #ARGV do
  if redis.call('EXISTS', KEYS[2 * i + 1]) == 0 and
     redis.call('HEXISTS', KEYS[1], ARGV[i]) == 0 and
     redis.call('LLEN', KEYS[2 * i]) > 0 then
    out[#out + 1] = i
  end
end
return out
