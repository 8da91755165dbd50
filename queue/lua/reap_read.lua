-- reap_read.lua: reads the in-flight lists of a process found dead, for its recovery, without
-- sending back a job over the largest size nexusd decodes (worker.max_job_size): such a job
-- is named by its size and SHA-1 instead, and reap.lua moves it as it is.
-- KEYS[1..n] the in-flight lists; ARGV[1] the largest size sent back (bytes).
-- Returns one array per list, its entries from the head: {size, text, size, text, ...},
-- where text is the job itself when size <= ARGV[1], else the SHA-1 of its bytes in hex.
local max = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS do
  local entries = {}
  for _, job in ipairs(redis.call('LRANGE', KEYS[i], 0, -1)) do
    entries[#entries + 1] = #job
    entries[#entries + 1] = #job > max and redis.sha1hex(job) or job
  end
  out[i] = entries
end
return out
