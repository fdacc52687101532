-- lane: the next turn in an address's slow lane (joins without JavaScript past the bucket).
-- KEYS: the room's keys (see _lib.lua); KEYS[25] join-lane: when the address's next turn is
--       due (ms)
-- ARGV[1] now (ms); ARGV[2] the wait before a first turn (ms); ARGV[3] the time between two
-- turns of one address (ms); ARGV[4] the longest wait the lane gives out (ms)
-- Returns the time the turn is due (ms), or -1 when the lane is full for now
local first = NOW + tonumber(ARGV[2])
local spacing = tonumber(ARGV[3])
local due = math.max(first, tonumber(redis.call('GET', KEYS[25])) or 0)
if due - NOW > tonumber(ARGV[4]) then return -1 end
redis.call('SET', KEYS[25], due + spacing, 'PX', due + spacing - NOW)
return due
