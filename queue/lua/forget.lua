-- forget.lua: drops a dead process's records once its in-flight lists are empty.
-- KEYS[1] nexus:procs, KEYS[2] processes, KEYS[3] IDENTITY, KEYS[4] IDENTITY:work,
-- KEYS[5..] its in-flight lists. ARGV[1] the identity.
-- Returns 1 when forgotten, 0 when a list still holds jobs.
for i = 5, #KEYS do
  if redis.call('LLEN', KEYS[i]) > 0 then return 0 end
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3], KEYS[4])
return 1
