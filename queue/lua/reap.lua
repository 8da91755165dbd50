-- reap.lua: recovers the in-flight jobs of a process found dead and forgets it, as one
-- decision that nothing can interleave with: when the process beat again since it was
-- judged (its heartbeat hash is back), nothing is done.
-- KEYS[1] nexus:procs, KEYS[2] processes, KEYS[3] IDENTITY (its heartbeat hash),
-- KEYS[4] IDENTITY:work, KEYS[5] queues, KEYS[6] dead, then for each in-flight list
-- i = 1..n: KEYS[5 + 2i] the list and KEYS[6 + 2i] its queue:NAME, last its
-- nexus:order:IDENTITY, the token of its in-flight lists: deleted, so that the process, if it
-- lives, trims none of its lists by a count before it fetches again (finish.lua).
-- ARGV[1] the identity, ARGV[2] the test: 'beat' (dead only while its heartbeat hash is
-- gone), 'orphan' (the same, and it has no nexus:procs record) or 'pid' (its pid is gone:
-- no test), ARGV[3] '1' to forget the process once its lists are empty, ARGV[4] dead's
-- score (now), then records of 4: list i, job as stored, job to write, queue name ('' for
-- dead). A job to write of '' moves the stored one as it is to its queue: a job too large to
-- decode, whose "job as stored" is "SIZE:SHA1HEX" (reap_read.lua), matched here. A job is
-- written only by the call that removed it from its list.
-- Returns -1 when the process is alive (nothing done), else {forgotten (1 or 0), jobs moved
-- from list 1, ..., from list n}.
local test = ARGV[2]
if test ~= 'pid' and redis.call('EXISTS', KEYS[3]) == 1 then
  return -1
end
if test == 'orphan' and redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  return -1
end
redis.call('DEL', KEYS[#KEYS])

-- Moves the last entry of `key` with this size and SHA-1 (as LREM key -1 would find it) to the
-- front of `queue_key`, unchanged: LMOVE at either end of the list, else by a marker. Returns
-- 1, or 0 when no entry matches.
local function move_digest(key, queue_key, digest)
  local size, sha = string.match(digest, '^(%d+):(%x+)$')
  local len = redis.call('LLEN', key)
  size = tonumber(size)
  for i = len - 1, 0, -1 do
    local job = redis.call('LINDEX', key, i)
    if job and #job == size and redis.sha1hex(job) == sha then
      if i == len - 1 then
        redis.call('LMOVE', key, queue_key, 'RIGHT', 'RIGHT')
      elseif i == 0 then
        redis.call('LMOVE', key, queue_key, 'LEFT', 'RIGHT')
      else
        local mark = 'nexus:removing:' .. sha
        redis.call('LSET', key, i, mark)
        redis.call('LREM', key, -1, mark)
        redis.call('RPUSH', queue_key, job)
      end
      return 1
    end
  end
  return 0
end

local n = (#KEYS - 7) / 2
local out = {0}
for i = 1, n do
  out[i + 1] = 0
end
for r = 5, #ARGV, 4 do
  local i, old, new, queue = tonumber(ARGV[r]), ARGV[r + 1], ARGV[r + 2], ARGV[r + 3]
  if new == '' then
    if move_digest(KEYS[5 + 2 * i], KEYS[6 + 2 * i], old) == 1 then
      redis.call('SADD', KEYS[5], queue)
      out[i + 1] = out[i + 1] + 1
    end
  elseif redis.call('LREM', KEYS[5 + 2 * i], -1, old) == 1 then
    if queue == '' then
      redis.call('ZADD', KEYS[6], ARGV[4], new)
    else
      redis.call('SADD', KEYS[5], queue)
      redis.call('RPUSH', KEYS[6 + 2 * i], new)
    end
    out[i + 1] = out[i + 1] + 1
  end
end
if ARGV[3] ~= '1' then
  return out
end
for i = 1, n do
  if redis.call('LLEN', KEYS[5 + 2 * i]) > 0 then
    return out
  end
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3], KEYS[4])
out[1] = 1
return out
