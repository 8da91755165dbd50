-- cron.lua: fires one tick of a schedule exactly once however many processes try: the tick
-- is pushed only when it is later than the schedule's last fired tick, and the two happen
-- atomically. The job of a schedule with unique_for takes its lock first (unique_take): while
-- another job holds it the tick is fired (noted as last, last_jid the holder) without a push.
-- KEYS[1] nexus:cron:NAME (hash: last = epoch s of the last fired tick, last_jid, fired_at),
-- KEYS[2] queues, KEYS[3] queue:QUEUE, KEYS[4] the job's unique:DIGEST (a unique job only).
-- ARGV[1] the tick (epoch s), ARGV[2] the job, ARGV[3] its jid, ARGV[4] the queue name,
-- ARGV[5] now, with KEYS[4]: ARGV[6] the lock's PX (ms).
-- Returns 1 when this call fired the tick, 0 when it was fired already, or the jid holding
-- the lock when this call fired it without a push.
-- uses: push
local last = tonumber(redis.call('HGET', KEYS[1], 'last') or '0')
if tonumber(ARGV[1]) <= last then
  return 0
end
local holder = KEYS[4] and unique_take(KEYS[4], ARGV[3], ARGV[6])
redis.call('HSET', KEYS[1], 'last', ARGV[1], 'last_jid', holder or ARGV[3], 'fired_at', ARGV[5])
if holder then
  return holder
end
push_now(KEYS[2], KEYS[3], ARGV[4], ARGV[2])
return 1
