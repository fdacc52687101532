-- enter: an admitted visitor claims their place and starts a form session.
-- KEYS: the room's keys (see _lib.lua)
-- ARGV[1] now (ms); ARGV[2] queue number; ARGV[3] new session id;
-- ARGV[4] keyed hash of the claiming browser ('' when the caller has none)
-- Returns {1, idle deadline ms, lifetime deadline ms}, {0, state} when there is nothing to
-- claim, or {0, -3} when the place was moved to another browser
local cfg = config()
local number = ARGV[2]
local owner = redis.call('HGET', K_OWNERS, number)
if owner and owner ~= ARGV[4] then return {0, -3} end
local deadline = tonumber(redis.call('ZSCORE', K_ADMITTED, number) or '0')
if deadline < NOW then
  return {0, (mark_get(number))}
end
redis.call('ZREM', K_ADMITTED, number)
local hard = NOW + cfg.ttl_ms
local idle = math.min(NOW + cfg.idle_ms, hard)
redis.call('ZADD', K_ACTIVE, idle, ARGV[3])
redis.call('ZADD', K_HARD, hard, ARGV[3])
redis.call('HSET', K_SESSIONS, ARGV[3], number)
mark_set(number, ACTIVE, NOW_S)
return {1, idle, hard}
