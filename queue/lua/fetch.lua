-- fetch.lua: reliable fetch of up to ARGV[1] jobs, queues taken in the order given.
-- KEYS[1..n] = queue:NAME lists, KEYS[n+1..2n] = the process's in-flight lists, paired.
-- Returns {i, job, i, job, ...}: i is the 1-based index of the queue each job came from.
local n = #KEYS / 2
local want = tonumber(ARGV[1])
local out = {}
for i = 1, n do
  while want > 0 do
    local job = redis.call('LMOVE', KEYS[i], KEYS[n + i], 'RIGHT', 'LEFT')
    if not job then break end
    out[#out + 1] = i
    out[#out + 1] = job
    want = want - 1
  end
  if want == 0 then break end
end
return out
