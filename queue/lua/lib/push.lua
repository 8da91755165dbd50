-- lib/push.lua: a job pushed as a Sidekiq client pushes it, the one definition every script
-- that pushes shares (a script says "-- uses: push"; scripts/embed.cmake puts this first).
-- push_now: SADD queues NAME, LPUSH queue:NAME JOB; returns the queue's new length.
-- push_at: ZADD schedule AT JOB, moved to its queue by the poller when due.
-- unique_take: a unique job's lock (docs/PROTOCOL.md, "Unique jobs"), taken before its push:
-- SET KEY JID NX PX TTL. Returns nil when it was free and this jid holds it now (push the
-- job), else the jid that holds it: another's (do not push: a duplicate of that job), or this
-- job's own (it was pushed before and holds it: a push sent again, e.g. by a client whose
-- connection dropped before the reply, adds nothing; a job starting goes on).
local function push_now(queues_key, queue_key, name, job)
  redis.call('SADD', queues_key, name)
  return redis.call('LPUSH', queue_key, job)
end
local function push_at(schedule_key, at, job)
  return redis.call('ZADD', schedule_key, at, job)
end
local function unique_take(key, jid, ttl_ms)
  if redis.call('SET', key, jid, 'NX', 'PX', ttl_ms) then
    return nil
  end
  return redis.call('GET', key)
end
