-- fetch.lua: reliable fetch of up to ARGV[1] jobs, queues taken in the order given, paused
-- queues skipped.
-- KEYS[1..n] = queue:NAME lists, KEYS[n+1..2n] = the process's in-flight lists, paired,
-- KEYS[2n+1] = the nexus:paused set; ARGV[2..n+1] = the queues' names.
-- Returns {i, job, i, job, ...}: i is the 1-based index of the queue each job came from;
-- a pair {-i, ''} says queue i is paused (listed before any job).
local n = (#KEYS - 1) / 2
local want = tonumber(ARGV[1])
local out = {}
local paused = {}
for i = 1, n do
  if redis.call('SISMEMBER', KEYS[2 * n + 1], ARGV[i + 1]) == 1 then
    paused[i] = true
    out[#out + 1] = -i
    out[#out + 1] = ''
  end
end
for i = 1, n do
  while want > 0 and not paused[i] do
    local job = redis.call('LMOVE', KEYS[i], KEYS[n + i], 'RIGHT', 'LEFT')
    if not job then break end
    out[#out + 1] = i
    out[#out + 1] = job
    want = want - 1
  end
  if want == 0 then break end
end
return out
