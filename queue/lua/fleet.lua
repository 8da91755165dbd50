-- fleet.lua: one consistent read of the whole fleet for /metrics and /status.
-- Keys are built from the namespace: queue names and process identities come from sets.
-- ARGV[1] the namespace, ARGV[2] "metrics" (queues and set sizes) or "full" (also counters,
-- live processes with their jobs in flight, schedules' last fire), ARGV[3] the most jobs
-- in flight to list, ARGV[4] the largest payload listed (bytes; nexusd cuts its args to what
-- the reader may see),
-- ARGV[5..] schedule names. Texts over 1 MiB (worker.max_job_size's default) are not decoded
-- (cjson would hold Redis for seconds on a 100 MB job): their fields come from peek().
-- Returns the fleet as JSON text (see docs/operations.md, /status).
local ns = ARGV[1]
local full = ARGV[2] == 'full'
local max_jobs = tonumber(ARGV[3])
local max_payload = tonumber(ARGV[4])
local max_decode = 1048576

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

-- A field of a JSON text too long to decode here, found by pattern in its first 4 KiB (or in
-- `part`, e.g. its last bytes), also inside a JSON string (escaped quotes): a string of plain
-- characters or a number; nil when not found (a field after a large one, a nested one first).
local function peek(text, name, part)
  local head = part or string.sub(text, 1, 4096)
  local key = '\\?"' .. name .. '\\?"%s*:%s*'
  local s = string.match(head, key .. '\\?"([^"\\]*)\\?"')
  if s then
    return s
  end
  return tonumber(string.match(head, key .. '(-?[%d%.eE+]+)'))
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
  local text = redis.call('LINDEX', key, -1)
  local at = 0
  if type(text) == 'string' and #text > max_decode then
    local tail = string.sub(text, -4096) -- Sidekiq clients write enqueued_at last
    at = tonumber(peek(text, 'enqueued_at') or peek(text, 'enqueued_at', tail)) or 0
  else
    local job = decode(text)
    at = job and tonumber(job.enqueued_at) or 0
  end
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
      local text = work[i + 1]
      local w, payload, job
      if #text > max_decode then -- the payload is too: not listed, fields peeked
        w = {queue = peek(text, 'queue'), run_at = peek(text, 'run_at', string.sub(text, -256))}
        payload = nil
        job = {jid = peek(text, 'jid'), class = peek(text, 'class'),
               enqueued_at = peek(text, 'enqueued_at'), created_at = peek(text, 'created_at'),
               retry_count = peek(text, 'retry_count')}
      else
        w = decode(text) or {}
        payload = type(w.payload) == 'string' and w.payload or ''
        job = decode(payload) or {}
      end
      local entry = {
        process = id, queue = w.queue, run_at = w.run_at, jid = job.jid, class = job.class,
        enqueued_at = job.enqueued_at, created_at = job.created_at, retry_count = job.retry_count,
        size = payload and #payload,
      }
      if payload and #payload <= max_payload then
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
