-- fetch.lua: reliable fetch of up to ARGV[1] jobs, queues taken in the order given, paused
-- queues skipped.
-- KEYS[1..n] = queue:NAME lists, KEYS[n+1..2n] = the process's in-flight lists, paired,
-- KEYS[2n+1] = the nexus:paused set, KEYS[2n+2] = nexus:order:IDENTITY, the token of the
-- process's in-flight lists (reap.lua deletes it when a peer recovers them); ARGV[2] = the
-- token the process holds, ARGV[3] = the one to set when KEYS[2n+2] does not hold ARGV[2]
-- (kept ARGV[4] seconds); ARGV[5..n+4] = the queues' names; ARGV[n+5..2n+4], when given,
-- the queues' quotas: queue i gives at most its quota at first, then what the others could
-- not give is taken in order (weighted order).
-- Returns groups {i, count, job, job, ...}: i is the 1-based index of the queue the `count`
-- jobs after it came from, oldest first; a group {-i, 0} says queue i is paused, a group
-- {0, 0} that the token was set to ARGV[3] (both listed before any job).
-- A queue's oldest jobs (its right end) move as LMOVE RIGHT LEFT would move them one by one,
-- in three calls: LRANGE, LTRIM, LPUSH onto the in-flight list, the oldest pushed first.
local n = (#KEYS - 2) / 2
local want = tonumber(ARGV[1])
local out = {}
local paused = {}
if redis.call('GET', KEYS[2 * n + 2]) ~= ARGV[2] then
  redis.call('SET', KEYS[2 * n + 2], ARGV[3], 'EX', ARGV[4])
  out[1], out[2] = 0, 0
end
for i = 1, n do
  if redis.call('SISMEMBER', KEYS[2 * n + 1], ARGV[i + 4]) == 1 then
    paused[i] = true
    out[#out + 1] = -i
    out[#out + 1] = 0
  end
end
local quota = {}
for i = 1, n do
  quota[i] = tonumber(ARGV[n + 4 + i] or ARGV[1])
end
local function take(i, most)
  local jobs = redis.call('LRANGE', KEYS[i], -most, -1)
  local got = #jobs
  if got == 0 then
    return 0
  end
  local moved = {}
  for k = got, 1, -1 do
    moved[got - k + 1] = jobs[k]
  end
  redis.call('LTRIM', KEYS[i], 0, -got - 1)
  redis.call('LPUSH', KEYS[n + i], unpack(moved))
  out[#out + 1] = i
  out[#out + 1] = got
  for k = 1, got do
    out[#out + 1] = moved[k]
  end
  return got
end
local empty = {}
for i = 1, n do
  if want == 0 then break end
  if not paused[i] and quota[i] > 0 then
    local most = quota[i] < want and quota[i] or want
    local got = take(i, most)
    want = want - got
    empty[i] = got < most
  end
end
-- what the quotas left, in order from the queues that may have more
for i = 1, n do
  if want == 0 then break end
  if not paused[i] and not empty[i] then
    want = want - take(i, want)
  end
end
return out
