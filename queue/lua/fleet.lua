-- fleet.lua: one consistent read of the whole fleet for /metrics and /status.
-- KEYS[1] schedule, KEYS[2] retry, KEYS[3] dead, KEYS[4] queues, KEYS[5] stat:processed,
-- KEYS[6] stat:failed, KEYS[7] processes, KEYS[8..] nexus:cron:NAME of each schedule.
-- ARGV[1] "metrics" (queues and set sizes) or "full" (also counters, live processes with
-- their jobs in flight, schedules' last fire), ARGV[2] the most jobs in flight to list,
-- ARGV[3] the largest payload listed (bytes; nexusd cuts its args to what the reader may
-- see). The keys of queues and processes, whose names come from sets, are made here from
-- what queue/keys.h builds: ARGV[4] .. NAME is queue:NAME, ARGV[5] .. ID the process's hash,
-- ARGV[5] .. ID .. ARGV[6] its IDENTITY:work (queue/keys_test.c checks both).
-- ARGV[7..] the schedules' names, in the order of their KEYS.
-- Texts over 1 MiB (worker.max_job_size's default) are not decoded (cjson would hold Redis
-- for seconds on a 100 MB job): their fields come from peek().
-- Returns the fleet as JSON text (see docs/operations.md, /status).
local full = ARGV[1] == 'full'
local max_jobs = tonumber(ARGV[2])
local max_payload = tonumber(ARGV[3])
local queue_prefix, process_prefix, work_suffix = ARGV[4], ARGV[5], ARGV[6]
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
  scheduled = redis.call('ZCARD', KEYS[1]),
  retry = redis.call('ZCARD', KEYS[2]),
  dead = redis.call('ZCARD', KEYS[3]),
  queues = {},
}
local names = redis.call('SMEMBERS', KEYS[4])
table.sort(names)
for _, name in ipairs(names) do
  local key = queue_prefix .. name
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

out.processed = tonumber(redis.call('GET', KEYS[5])) or 0
out.failed = tonumber(redis.call('GET', KEYS[6])) or 0
out.processes = {}
out.jobs = {}
out.jobs_truncated = false
local ids = redis.call('SMEMBERS', KEYS[7])
table.sort(ids)
for _, id in ipairs(ids) do
  local f = redis.call('HMGET', process_prefix .. id, 'info', 'busy', 'beat', 'quiet')
  if f[1] or f[2] or f[3] or f[4] then
    local info = decode(f[1]) or {}
    table.insert(out.processes, {
      identity = id, hostname = info.hostname, pid = info.pid, tag = info.tag,
      version = info.version, started_at = info.started_at, concurrency = info.concurrency,
      queues = info.queues, busy = tonumber(f[2]) or 0, beat = tonumber(f[3]),
      quiet = f[4] == 'true',
    })
    local work = redis.call('HGETALL', process_prefix .. id .. work_suffix)
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
for i = 7, #ARGV do
  local f = redis.call('HMGET', KEYS[i + 1], 'last', 'last_jid', 'fired_at')
  table.insert(out.schedules, {name = ARGV[i], last = tonumber(f[1]), last_jid = f[2],
                               fired_at = tonumber(f[3])})
end
return cjson.encode(out)
