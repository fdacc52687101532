-- move: hand a live place to another browser (its owner proved it with a code sent to them).
-- KEYS: the room's keys (see _lib.lua)
-- ARGV[1] now (ms); ARGV[2] queue number; ARGV[3] keyed hash of the new browser;
-- ARGV[4..] identifier hashes that find the place from the new browser from now on
-- Returns {1, state} when moved, or {0, state} when the place is no longer live
local number = ARGV[2]
local state = mark_get(number)
if state < WAITING or state > ACTIVE then return {0, state} end
redis.call('HSET', K_OWNERS, number, ARGV[3])
for i = 4, #ARGV do
  redis.call('HSET', K_IDS, ARGV[i], number)
end
return {1, state}
