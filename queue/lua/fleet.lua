-- fleet.lua: one consistent read of the whole fleet for /metrics and /status.
-- Keys are built from the namespace: queue names and process identities come from sets.
-- ARGV[1] the namespace, ARGV[2] "metrics" (queues and set sizes) or "full" (also counters,
-- live processes with their jobs in flight, schedules' last fire), ARGV[3] the most jobs
-- in flight to list, ARGV[4] the largest payload whose args are listed (bytes),
-- ARGV[5..] schedule names.
-- Returns the fleet as JSON text (see docs/operations.md, /status).
local ns = ARGV[1]
local full = ARGV[2] == 'full'
local max_jobs = tonumber(ARGV[3])
local max_payload = tonumber(ARGV[4])

local function decode(text)
  if type(text) ~= 'string' then
    return nil
  end
  local ok, value = pcall(cjson.decode, text)
  if ok and type(value) == 'table' then
    return value
  end
  return nil
end

local out = {
  scheduled = redis.call('ZCARD', ns .. 'schedule'),
  retry = redis.call('ZCARD', ns .. 'retry'),
  dead = redis.call('ZCARD', ns .. 'dead'),
  queues = {},
}
local names = redis.call('SMEMBERS', ns .. 'queues')
table.sort(names)
for _, name in ipairs(names) do
  local key = ns .. 'queue:' .. name
  local job = decode(redis.call('LINDEX', key, -1))
  local at = job and tonumber(job.enqueued_at) or 0
  table.insert(out.queues, {name = name, size = redis.call('LLEN', key), oldest_enqueued_at = at})
end
if not full then
  return cjson.encode(out)
end

out.processed = tonumber(redis.call('GET', ns .. 'stat:processed')) or 0
out.failed = tonumber(redis.call('GET', ns .. 'stat:failed')) or 0
out.processes = {}
out.jobs = {}
out.jobs_truncated = false
local ids = redis.call('SMEMBERS', ns .. 'processes')
table.sort(ids)
for _, id in ipairs(ids) do
  local f = redis.call('HMGET', ns .. id, 'info', 'busy', 'beat', 'quiet')
  if f[1] or f[2] or f[3] or f[4] then
    local info = decode(f[1]) or {}
    table.insert(out.processes, {
      identity = id, hostname = info.hostname, pid = info.pid, tag = info.tag,
      version = info.version, started_at = info.started_at, concurrency = info.concurrency,
      queues = info.queues, busy = tonumber(f[2]) or 0, beat = tonumber(f[3]),
      quiet = f[4] == 'true',
    })
    local work = redis.call('HGETALL', ns .. id .. ':work')
    for i = 1, #work, 2 do
      if #out.jobs >= max_jobs then
        out.jobs_truncated = true
        break
      end
      local w = decode(work[i + 1]) or {}
      local payload = type(w.payload) == 'string' and w.payload or ''
      local job = decode(payload) or {}
      local entry = {
        process = id, queue = w.queue, run_at = w.run_at, jid = job.jid, class = job.class,
        enqueued_at = job.enqueued_at, created_at = job.created_at, retry_count = job.retry_count,
      }
      if #payload <= max_payload then
        entry.payload = payload -- the args are read from it (cjson turns [] into {})
      end
      table.insert(out.jobs, entry)
    end
  end
end
out.schedules = {}
for i = 5, #ARGV do
  local f = redis.call('HMGET', ns .. 'nexus:cron:' .. ARGV[i], 'last', 'last_jid', 'fired_at')
  table.insert(out.schedules, {name = ARGV[i], last = tonumber(f[1]), last_jid = f[2],
                               fired_at = tonumber(f[3])})
end
return cjson.encode(out)
