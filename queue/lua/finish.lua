-- finish.lua: writes the outcomes of finished jobs and removes them from in-flight lists.
-- KEYS[1] stat:processed, KEYS[2] stat:processed:DAY, KEYS[3] stat:failed,
-- KEYS[4] stat:failed:DAY, KEYS[5] retry, KEYS[6] dead, KEYS[7] schedule,
-- KEYS[8] nexus:metrics:60:MINUTE, KEYS[9] nexus:metrics:900:QUARTER,
-- KEYS[10] nexus:order:IDENTITY (the token of the process's in-flight lists),
-- KEYS[11..] in-flight lists, then the unique:DIGEST locks of unique jobs.
-- ARGV[1] dead: drop jobs with a score below this, ARGV[2] dead: most jobs kept,
-- ARGV[3] daily counters' time to live (s), ARGV[4] the metrics noted since the last call
-- ("FIELD\tCOUNT\n" lines, queue/tally.h; '' for none), added to both KEYS[8] and KEYS[9],
-- kept ARGV[5] and ARGV[6] seconds, a new field not added to a hash of ARGV[7] fields or more;
-- ARGV[8] the token the process holds (what fetch.lua last set in KEYS[10]);
-- then records: a run of done jobs without a lock, all from one in-flight list:
-- 'A', that list's KEYS index, the count N, then the N jobs as fetched; or a trim of done
-- jobs without a lock that are the oldest N of one in-flight list, after the records before
-- it: 'T', that list's KEYS index, N (done only while KEYS[10] holds ARGV[8]: no peer has
-- recovered the list since the process last fetched); or one record of 7 values:
-- op ('a' done, 'r' retry, 'd' dead, 'x' failed and discarded, 's' deferred: not run,
-- back to schedule, not counted, 'u' a unique job's duplicate: not run, removed, not counted,
-- 'D' dead for a job too large to send back: its "job as fetched" is "SIZE:SHA1HEX", matched
-- here), in-flight KEYS index, job as fetched, job to write ('' for none), score (retry or
-- dead time), the KEYS index of the job's lock ('0' for none), its jid.
-- A unique job's lock is let go (only while this jid holds it) when the job is done, dead or
-- discarded; a retry or a deferral keeps it.
-- An outcome (retry, dead, schedule, counters) is written only when this call removed the
-- job from its in-flight list, so a record sent twice (after a lost reply) or a job taken
-- from this process (recovered by a peer that judged it dead) is never written twice.
-- Records are numbered 1, 2, ... in ARGV order, each job of a run or trim counting as one.
-- Returns the 1-based numbers of the records whose job was not in the list (dropped), and
-- the numbers, negated, of the jobs of trims not done (the token differs): nothing was
-- written for them; send them again by their text.

-- Removes the last job of `key` with this size and SHA-1 (as LREM key -1 job would).
local function remove_digest(key, digest)
  local size, sha = string.match(digest, '^(%d+):(%x+)$')
  size = tonumber(size)
  for i = -1, -redis.call('LLEN', key), -1 do
    local job = redis.call('LINDEX', key, i)
    if job and #job == size and redis.sha1hex(job) == sha then
      local mark = 'nexus:removing:' .. sha
      redis.call('LSET', key, i, mark)
      return redis.call('LREM', key, -1, mark)
    end
  end
  return 0
end

-- A run of done jobs ARGV[first..last] from in-flight list `key`, numbered from `no`: when
-- they are the list's oldest entries (its right end, where the jobs fetched first sit), in
-- any order, one LTRIM removes them all; otherwise each goes by LREM, and the numbers of
-- those no longer there join `dropped`. Returns how many were removed.
local function remove_run(key, first, last, no, dropped)
  local count = last - first + 1
  local tail = redis.call('LRANGE', key, -count, -1)
  if #tail == count then
    local left = {}
    for k = first, last do
      left[ARGV[k]] = (left[ARGV[k]] or 0) + 1
    end
    local all = true
    for k = 1, count do
      local c = left[tail[k]]
      if not c or c == 0 then
        all = false
        break
      end
      left[tail[k]] = c - 1
    end
    if all then
      redis.call('LTRIM', key, 0, -count - 1)
      return count
    end
  end
  local removed = 0
  for k = first, last do
    if redis.call('LREM', key, '-1', ARGV[k]) == 1 then
      removed = removed + 1
    else
      dropped[#dropped + 1] = no + k - first
    end
  end
  return removed
end

local done, failed, dead = 0, 0, 0
local dropped = {}

-- The record of 7 values at ARGV[r], numbered `no`.
local function one_record(r, no)
  local op, list, old, new, score = ARGV[r], tonumber(ARGV[r + 1]), ARGV[r + 2], ARGV[r + 3],
    ARGV[r + 4]
  local lock = tonumber(ARGV[r + 5])
  local removed
  if op == 'D' then
    removed, op = remove_digest(KEYS[list], old), 'd'
  else
    removed = redis.call('LREM', KEYS[list], '-1', old)
  end
  if removed == 0 then
    dropped[#dropped + 1] = no
  elseif op == 's' then
    redis.call('ZADD', KEYS[7], score, new)
  elseif op ~= 'u' then
    if lock > 0 and op ~= 'r' and redis.call('GET', KEYS[lock]) == ARGV[r + 6] then
      redis.call('DEL', KEYS[lock])
    end
    done = done + 1
    if op ~= 'a' then
      failed = failed + 1
      if op == 'r' then
        redis.call('ZADD', KEYS[5], score, new)
      elseif op == 'd' then
        redis.call('ZADD', KEYS[6], score, new)
        dead = dead + 1
      end
    end
  end
end

local trust
local r, no = 9, 1
while r <= #ARGV do
  if ARGV[r] == 'T' then
    local count = tonumber(ARGV[r + 2])
    if trust == nil then
      trust = redis.call('GET', KEYS[10]) == ARGV[8]
    end
    if trust then
      redis.call('LTRIM', KEYS[tonumber(ARGV[r + 1])], 0, -count - 1)
      done = done + count
    else
      for k = no, no + count - 1 do
        dropped[#dropped + 1] = -k
      end
    end
    r, no = r + 3, no + count
  elseif ARGV[r] == 'A' then
    local count = tonumber(ARGV[r + 2])
    done = done + remove_run(KEYS[tonumber(ARGV[r + 1])], r + 3, r + 2 + count, no, dropped)
    r, no = r + 3 + count, no + count
  else
    one_record(r, no)
    r, no = r + 7, no + 1
  end
end
redis.call('INCRBY', KEYS[1], done)
redis.call('INCRBY', KEYS[2], done)
redis.call('EXPIRE', KEYS[2], ARGV[3])
if failed > 0 then
  redis.call('INCRBY', KEYS[3], failed)
  redis.call('INCRBY', KEYS[4], failed)
  redis.call('EXPIRE', KEYS[4], ARGV[3])
end
if dead > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', '(' .. ARGV[1])
  redis.call('ZREMRANGEBYRANK', KEYS[6], 0, -(tonumber(ARGV[2]) + 1))
end
if ARGV[4] ~= '' then
  local cap = tonumber(ARGV[7])
  for k = 8, 9 do
    local key = KEYS[k]
    local full = redis.call('HLEN', key) >= cap
    for field, n in string.gmatch(ARGV[4], '([^\t\n]+)\t(%-?%d+)\n') do
      if not full or redis.call('HEXISTS', key, field) == 1 then
        redis.call('HINCRBY', key, field, n)
      end
    end
    redis.call('EXPIRE', key, ARGV[k - 3])
  end
end
return dropped
