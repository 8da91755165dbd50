-- finish.lua: writes the outcomes of finished jobs and removes them from in-flight lists.
-- KEYS[1] stat:processed, KEYS[2] stat:processed:DAY, KEYS[3] stat:failed,
-- KEYS[4] stat:failed:DAY, KEYS[5] retry, KEYS[6] dead, KEYS[7] schedule,
-- KEYS[8..] in-flight lists.
-- ARGV[1] dead: drop jobs with a score below this, ARGV[2] dead: most jobs kept,
-- ARGV[3] daily counters' time to live (s), then records of 5 values:
-- op ('a' done, 'r' retry, 'd' dead, 'x' failed and discarded, 's' deferred: not run,
-- back to schedule, not counted), in-flight KEYS index,
-- job as fetched, job to write ('' for none), score (retry or dead time).
-- A retry or dead job is written only when this call removed it from its in-flight list,
-- so a record sent twice (after a lost reply) or a job already recovered by another
-- process is never written twice.
local done, failed, dead = 0, 0, 0
for r = 4, #ARGV, 5 do
  local op, list, old, new, score = ARGV[r], tonumber(ARGV[r + 1]), ARGV[r + 2], ARGV[r + 3], ARGV[r + 4]
  local removed = redis.call('LREM', KEYS[list], -1, old)
  if op == 's' then
    if removed == 1 then
      redis.call('ZADD', KEYS[7], score, new)
    end
  else
    done = done + 1
  end
  if op ~= 'a' and op ~= 's' then
    failed = failed + 1
    if removed == 1 and op == 'r' then
      redis.call('ZADD', KEYS[5], score, new)
    elseif removed == 1 and op == 'd' then
      redis.call('ZADD', KEYS[6], score, new)
      dead = dead + 1
    end
  end
end
local ttl = tonumber(ARGV[3])
redis.call('INCRBY', KEYS[1], done)
redis.call('INCRBY', KEYS[2], done)
redis.call('EXPIRE', KEYS[2], ttl)
if failed > 0 then
  redis.call('INCRBY', KEYS[3], failed)
  redis.call('INCRBY', KEYS[4], failed)
  redis.call('EXPIRE', KEYS[4], ttl)
end
if dead > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', '(' .. ARGV[1])
  redis.call('ZREMRANGEBYRANK', KEYS[6], 0, -(tonumber(ARGV[2]) + 1))
end
return done
