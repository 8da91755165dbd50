-- push.lua: pushes one job now, as a Sidekiq client does (SADD queues, LPUSH queue:NAME).
-- KEYS[1] the `queues` set, KEYS[2] queue:NAME; ARGV[1] NAME, ARGV[2] the job.
-- Returns the queue's new length.
redis.call('SADD', KEYS[1], ARGV[1])
return redis.call('LPUSH', KEYS[2], ARGV[2])
