-- move.lua: moves jobs out of a sorted set (schedule, retry) or a dead process's in-flight
-- list, each exactly once however many processes try: a job is written to its new place
-- only by the call that removed it from the old one.
-- KEYS[1] the source (zset or list), KEYS[2] the `queues` set, KEYS[3] dead,
-- KEYS[4..] destination list of each record, in order.
-- ARGV[1] 'z' (source is a sorted set) or 'l' (a list), ARGV[2] dead's score (now),
-- then records of 3: job as stored, job to write, queue name ('' = to dead).
-- Jobs go to the end of a queue fetched first when ARGV[1] is 'l' (recovered jobs run
-- next), to the other end otherwise (as a client's push). Returns the number moved.
-- uses: push
local moved = 0
local k = 4
for r = 3, #ARGV, 3 do
  local old, new, queue = ARGV[r], ARGV[r + 1], ARGV[r + 2]
  local removed
  if ARGV[1] == 'z' then
    removed = redis.call('ZREM', KEYS[1], old)
  else
    removed = redis.call('LREM', KEYS[1], -1, old)
  end
  if removed == 1 then
    if queue == '' then
      redis.call('ZADD', KEYS[3], ARGV[2], new)
    else
      if ARGV[1] == 'z' then
        push_now(KEYS[2], KEYS[k], queue, new)
      else
        redis.call('SADD', KEYS[2], queue)
        redis.call('RPUSH', KEYS[k], new)
      end
    end
    moved = moved + 1
  end
  k = k + 1
end
return moved
