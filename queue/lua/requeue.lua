-- requeue.lua: puts every job of in-flight lists back at the head of its queue
-- (oldest first, so they are the next to be fetched).
-- KEYS[1..n] = in-flight lists, KEYS[n+1..2n] = their queue:NAME lists, paired.
-- Returns the number of jobs moved.
local n = #KEYS / 2
local moved = 0
for i = 1, n do
  while redis.call('LMOVE', KEYS[i], KEYS[n + i], 'LEFT', 'RIGHT') do
    moved = moved + 1
  end
end
return moved
