-- outbox.lua: pushes jobs relayed from PostgreSQL's nexus.outbox, each exactly once: an
-- outbox id already in nexus:outbox:relayed was pushed by an earlier relay whose DELETE did
-- not commit (a crash, or replicas that did not confirm the push: redis.wait_replicas), so it
-- is skipped, its mark refreshed: a write, which the relay's WAIT then covers (the first push
-- is older: replicas that have the refresh have it). Ids are kept a week (the relay deletes its
-- rows right after this call; a week is a margin, not a need).
-- A unique job takes its lock first (unique_take) and is not pushed when another jid holds it
-- (a duplicate: its outbox id is marked relayed all the same).
-- KEYS[1] nexus:outbox:relayed (zset id -> time), KEYS[2] queues, KEYS[3] schedule,
-- KEYS[4..] each record's queue:NAME list, then the unique:DIGEST locks of the unique jobs.
-- ARGV[1] now (epoch s), then records of 7: outbox id, queue name, job, run_at ('' for now),
-- the KEYS index of its lock ('0' for none), its jid and the lock's PX (ms).
-- Returns the number pushed.
-- uses: push
local now = tonumber(ARGV[1])
local pushed = 0
local k = 4
for r = 2, #ARGV, 7 do
  local id, queue, job, at = ARGV[r], ARGV[r + 1], ARGV[r + 2], ARGV[r + 3]
  local lock = tonumber(ARGV[r + 4])
  if redis.call('ZADD', KEYS[1], 'NX', now, id) == 1 then
    if lock == 0 or not unique_take(KEYS[lock], ARGV[r + 5], ARGV[r + 6]) then
      if at ~= '' and tonumber(at) > now then
        push_at(KEYS[3], at, job)
      else
        push_now(KEYS[2], KEYS[k], queue, job)
      end
      pushed = pushed + 1
    end
  else
    redis.call('ZADD', KEYS[1], 'XX', now, id)
  end
  k = k + 1
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 7 * 86400)
return pushed
