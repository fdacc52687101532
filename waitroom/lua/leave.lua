-- leave: a waiting visitor gives up their place (for instance, took a time slot instead).
-- KEYS: the room's keys (see _lib.lua)
-- ARGV[1] now (ms); ARGV[2] queue number
-- Returns 1 when the visitor was waiting, else 0
local number = ARGV[2]
local state = mark_get(number)
if state ~= WAITING and state ~= SKIPPED then return 0 end
mark_set(number, LEFT, NOW_S)
if state == WAITING then redis.call('HINCRBY', K_STATS, 'waiting', -1) end
redis.call('HINCRBY', K_STATS, 'left_total', 1)
return 1
