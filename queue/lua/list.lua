-- list.lua: a page of a sorted set of jobs (dead, retry, schedule) for the dashboard, or of a
-- queue's list for nexusctl queue peek, bounded in what it ships: each member comes whole when
-- it is at most ARGV[4] bytes, else its first ARGV[4] bytes only; members are read one at a
-- time and the page stops early once ARGV[5] bytes of members have been read (a member, once
-- read, is shipped: the first always is).
-- ARGV[6..] are scores of large members whose heads the caller keeps: a member at such a
-- score is not read again (false, 0, its score come back) while the counts show exactly one
-- member at each of them.
-- KEYS[1] the set, or the list; ARGV[1] "rev" (highest score first), "fwd", or "tail" (a list
-- from its right end, where fetch takes the next job: its score is the member's position
-- from there, 0 first), ARGV[2] the offset, ARGV[3] the most members, ARGV[4] the bytes kept
-- of each, ARGV[5] the read budget.
-- Returns {ZCARD (LLEN), member-or-head (or false), its full length, its score, ...}.
local rev = ARGV[1] == 'rev'
local offset = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local keep = tonumber(ARGV[4])
local budget = tonumber(ARGV[5])
local tail = ARGV[1] == 'tail'
local size = redis.call(tail and 'LLEN' or 'ZCARD', KEYS[1])
-- Ranks of the known scores from ZCOUNTs over the open intervals between them (an interval
-- ending at a large member would make Redis compare it with itself, byte by byte); they hold
-- when the counts add up to the set's size, so each known score has exactly one member.
local known = {} -- rank -> score of a member not to read
local ks = {}
for j = 6, #ARGV do
  ks[#ks + 1] = ARGV[j]
end
if #ks > 0 then
  table.sort(ks, function(x, y)
    if rev then
      return tonumber(x) > tonumber(y)
    end
    return tonumber(x) < tonumber(y)
  end)
  local ranks, seen, edge = {}, 0, rev and '+inf' or '-inf'
  for k, s in ipairs(ks) do
    if rev then
      seen = seen + redis.call('ZCOUNT', KEYS[1], '(' .. s, edge)
    else
      seen = seen + redis.call('ZCOUNT', KEYS[1], edge, '(' .. s)
    end
    ranks[k] = seen + k - 1
    edge = '(' .. s
  end
  if rev then
    seen = seen + redis.call('ZCOUNT', KEYS[1], '-inf', edge)
  else
    seen = seen + redis.call('ZCOUNT', KEYS[1], edge, '+inf')
  end
  if seen + #ks == size then
    for k, s in ipairs(ks) do
      known[ranks[k]] = s
    end
  end
end
local out = {size}
local read = 0
local i = offset
while i < offset + limit and i < size and read < budget do
  if known[i] then
    out[#out + 1] = false
    out[#out + 1] = 0
    out[#out + 1] = known[i]
  else
    local got
    if tail then
      got = {redis.call('LINDEX', KEYS[1], -1 - i), i}
      if not got[1] then
        break
      end
    else
      got = redis.call(rev and 'ZREVRANGE' or 'ZRANGE', KEYS[1], i, i, 'WITHSCORES')
      if #got < 2 then
        break
      end
    end
    local member = got[1]
    read = read + #member
    if #member > keep then
      out[#out + 1] = string.sub(member, 1, keep)
    else
      out[#out + 1] = member
    end
    out[#out + 1] = #member
    out[#out + 1] = got[2]
  end
  i = i + 1
end
return out
