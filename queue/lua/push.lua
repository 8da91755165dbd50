-- push.lua: pushes one job as a Sidekiq client does: now (SADD queues, LPUSH queue:NAME), or
-- into schedule when it is due later (ZADD schedule AT JOB; the poller moves it when due).
-- KEYS[1] the `queues` set, KEYS[2] queue:NAME, KEYS[3] schedule; ARGV[1] NAME, ARGV[2] the
-- job, ARGV[3] when it is due (epoch s) or '' for now.
-- Returns the queue's new length (now), or 1 (scheduled; 0 when it was there already).
-- uses: push
if ARGV[3] ~= '' then
  return push_at(KEYS[3], ARGV[3], ARGV[2])
end
return push_now(KEYS[1], KEYS[2], ARGV[1], ARGV[2])
