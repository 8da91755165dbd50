-- beat.lua: one heartbeat, whether this process was still registered before it, and the next
-- signal an operator sent it (Sidekiq's IDENTITY-signals, read as Sidekiq's heartbeat does).
-- KEYS[1] processes, KEYS[2] IDENTITY, KEYS[3] IDENTITY:work, KEYS[4] nexus:procs,
-- KEYS[5] IDENTITY-signals.
-- ARGV[1] the identity, ARGV[2] info (JSON), ARGV[3] busy, ARGV[4] beat (epoch s),
-- ARGV[5] quiet ('true'/'false'), ARGV[6] time to live of IDENTITY and IDENTITY:work (s),
-- ARGV[7] the durable nexus:procs record, ARGV[8] '1' when the previous beat wrote
-- IDENTITY:work (it is replaced), ARGV[9] the classes this process runs (a JSON array) when
-- they are to be written (at start and after a reload), else '', then pairs: slot, work
-- entry (JSON).
-- Returns {flags, signal}: flags 1 when the nexus:procs record was there, 0 when it was not (a
-- first beat, or a peer judged this process dead and forgot it), plus 2 when IDENTITY had
-- expired and this beat did not carry the classes (the next one should); signal the name
-- popped from IDENTITY-signals, '' for none. An idle beat is six commands: this EVAL, HSET,
-- SADD, HSET, EXPIRE and RPOP (the work hash is left alone while there is none).
local added = redis.call('HSET', KEYS[4], ARGV[1], ARGV[7])
redis.call('SADD', KEYS[1], ARGV[1])
local fields = {'info', ARGV[2], 'busy', ARGV[3], 'beat', ARGV[4], 'quiet', ARGV[5],
                'rtt_us', '0'}
if ARGV[9] ~= '' then
  fields[#fields + 1] = 'classes'
  fields[#fields + 1] = ARGV[9]
end
local fresh = redis.call('HSET', KEYS[2], unpack(fields))
redis.call('EXPIRE', KEYS[2], ARGV[6])
if ARGV[8] == '1' then
  redis.call('DEL', KEYS[3])
end
if #ARGV > 9 then
  local work = {}
  for i = 10, #ARGV do
    work[#work + 1] = ARGV[i]
  end
  redis.call('HSET', KEYS[3], unpack(work))
  redis.call('EXPIRE', KEYS[3], ARGV[6])
end
local lost = 0
if ARGV[9] == '' and fresh > 0 then -- a new hash: the classes of earlier beats expired with it
  lost = 2
end
return {1 - added + lost, redis.call('RPOP', KEYS[5]) or ''}
