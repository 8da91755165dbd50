-- outbox.lua: pushes jobs relayed from PostgreSQL's nexus.outbox, each exactly once: an
-- outbox id already in nexus:outbox:relayed was pushed by an earlier relay whose DELETE did
-- not commit (a crash, or replicas that did not confirm the push: redis.wait_replicas), so it
-- is skipped, its mark refreshed: a write, which the relay's WAIT then covers (the first push
-- is older: replicas that have the refresh have it). Ids are kept a week (the relay deletes its
-- rows right after this call; a week is a margin, not a need).
-- KEYS[1] nexus:outbox:relayed (zset id -> time), KEYS[2] queues, KEYS[3] schedule,
-- KEYS[4..] each record's queue:NAME list. ARGV[1] now (epoch s), then records of 4:
-- outbox id, queue name, job, run_at ('' for now).
-- Returns the number pushed.
-- uses: push
local now = tonumber(ARGV[1])
local pushed = 0
local k = 4
for r = 2, #ARGV, 4 do
  local id, queue, job, at = ARGV[r], ARGV[r + 1], ARGV[r + 2], ARGV[r + 3]
  if redis.call('ZADD', KEYS[1], 'NX', now, id) == 1 then
    if at ~= '' and tonumber(at) > now then
      push_at(KEYS[3], at, job)
    else
      push_now(KEYS[2], KEYS[k], queue, job)
    end
    pushed = pushed + 1
  else
    redis.call('ZADD', KEYS[1], 'XX', now, id)
  end
  k = k + 1
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 7 * 86400)
return pushed
