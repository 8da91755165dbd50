-- limit.lua: may a job of a limited class start now? Two limits, both shared by every
-- process through Redis and timed by Redis's own clock (hosts' clocks may differ); either may
-- be off.
-- Rate: a sliding-window log: KEYS[1] is a sorted set of the starts of the last period
-- (member = holder, score = time); a start is allowed while fewer than N remain, so at most
-- N start in any period-long window.
-- Concurrency: KEYS[2] is a sorted set of leases, member = holder, score = expiry; expired
-- leases (their holder died) are dropped first; a start is allowed while fewer than the
-- limit remain, and takes a lease.
-- ARGV[1] rate N (0: none), ARGV[2] rate period (s), ARGV[3] concurrency limit (0: none),
-- ARGV[4] holder (unique per attempt), ARGV[5] lease time (s).
-- Returns '0' when the job may start (its start recorded, its lease taken), else the
-- seconds to wait, as a string.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local rate, period = tonumber(ARGV[1]), tonumber(ARGV[2])
local limit, ttl = tonumber(ARGV[3]), tonumber(ARGV[5])
if rate > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - period)
  if redis.call('ZCARD', KEYS[1]) >= rate then
    local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    return tostring(tonumber(oldest[2]) + period - now + 0.001)
  end
end
if limit > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= limit then
    local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    local wait = tonumber(first[2]) - now
    if wait > 1 then wait = 1 end -- a lease usually ends before it expires: look again soon
    if wait < 0.05 then wait = 0.05 end
    return tostring(wait)
  end
  redis.call('ZADD', KEYS[2], now + ttl, ARGV[4])
  redis.call('EXPIRE', KEYS[2], math.ceil(ttl) + 60)
end
if rate > 0 then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('EXPIRE', KEYS[1], math.ceil(period) + 60)
end
return '0'
