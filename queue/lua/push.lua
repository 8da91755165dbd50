-- push.lua: pushes one job as a Sidekiq client does: now (SADD queues, LPUSH queue:NAME), or
-- into schedule when it is due later (ZADD schedule AT JOB; the poller moves it when due).
-- A unique job first takes its lock (unique_take), and is not pushed when another jid holds it,
-- nor when it holds it itself (pushed before: this push was sent again).
-- KEYS[1] the `queues` set, KEYS[2] queue:NAME, KEYS[3] schedule, KEYS[4] the job's
-- unique:DIGEST lock (only for a unique job); ARGV[1] NAME, ARGV[2] the job, ARGV[3] when it
-- is due (epoch s) or '' for now, with KEYS[4]: ARGV[4] its jid, ARGV[5] the lock's PX (ms).
-- Returns the queue's new length (now), or 1 (scheduled; 0 when it was there already); 0 for a
-- unique job pushed before; for a duplicate, {holder jid} (a table: a queue's length is never
-- one).
-- uses: push
if KEYS[4] then
  local holder = unique_take(KEYS[4], ARGV[4], ARGV[5])
  if holder == ARGV[4] then
    return 0
  end
  if holder then
    return {holder}
  end
end
if ARGV[3] ~= '' then
  return push_at(KEYS[3], ARGV[3], ARGV[2])
end
return push_now(KEYS[1], KEYS[2], ARGV[1], ARGV[2])
