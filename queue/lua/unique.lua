-- unique.lua: a unique job about to start (docs/PROTOCOL.md, "Unique jobs"). A job pushed
-- plainly (a Sidekiq client's LPUSH) takes its lock here, as push.lua would have; a job whose
-- lock another jid holds is a duplicate and does not run. With its class's unique_until =
-- "start" the lock is let go now; else finish.lua lets it go when the job succeeds or dies.
-- KEYS[1] the job's unique:DIGEST. ARGV[1] its jid, ARGV[2] the lock's PX (ms), ARGV[3]
-- 'start' or 'success' (the class's unique_until).
-- Returns '' when the job may run, else the jid holding the lock.
-- uses: push
local holder = unique_take(KEYS[1], ARGV[1], ARGV[2])
if holder and holder ~= ARGV[1] then
  return holder
end
if ARGV[3] == 'start' then
  redis.call('DEL', KEYS[1])
end
return ''
