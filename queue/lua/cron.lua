-- cron.lua: fires one tick of a schedule exactly once however many processes try: the tick
-- is pushed only when it is later than the schedule's last fired tick, and the two happen
-- atomically.
-- KEYS[1] nexus:cron:NAME (hash: last = epoch s of the last fired tick, last_jid, fired_at),
-- KEYS[2] queues, KEYS[3] queue:QUEUE. ARGV[1] the tick (epoch s), ARGV[2] the job,
-- ARGV[3] its jid, ARGV[4] the queue name, ARGV[5] now.
-- Returns 1 when this call fired the tick, 0 when it was fired already.
-- uses: push
local last = tonumber(redis.call('HGET', KEYS[1], 'last') or '0')
if tonumber(ARGV[1]) <= last then
  return 0
end
redis.call('HSET', KEYS[1], 'last', ARGV[1], 'last_jid', ARGV[3], 'fired_at', ARGV[5])
push_now(KEYS[2], KEYS[3], ARGV[4], ARGV[2])
return 1
