-- lease.lua: renews for ARGV[1] seconds (timed by Redis's clock) or, with ARGV[1] = '',
-- releases the concurrency lease of holder ARGV[2] in the sorted set KEYS[1].
if ARGV[1] == '' then
  redis.call('ZREM', KEYS[1], ARGV[2])
else
  local t = redis.call('TIME')
  local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
  redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[2])
end
return 0
