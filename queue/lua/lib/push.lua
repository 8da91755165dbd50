-- lib/push.lua: a job pushed as a Sidekiq client pushes it, the one definition every script
-- that pushes shares (a script says "-- uses: push"; scripts/embed.cmake puts this first).
-- push_now: SADD queues NAME, LPUSH queue:NAME JOB; returns the queue's new length.
-- push_at: ZADD schedule AT JOB, moved to its queue by the poller when due.
local function push_now(queues_key, queue_key, name, job)
  redis.call('SADD', queues_key, name)
  return redis.call('LPUSH', queue_key, job)
end
local function push_at(schedule_key, at, job)
  return redis.call('ZADD', schedule_key, at, job)
end
