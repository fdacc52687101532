-- heartbeat: activity in the form extends the session up to its lifetime.
-- KEYS: the room's keys (see _lib.lua)
-- ARGV[1] now (ms); ARGV[2] session id
-- Returns {idle deadline ms, lifetime deadline ms}, or {0, 0} when the session is over
local cfg = config()
local sid = ARGV[2]
local current = tonumber(redis.call('ZSCORE', K_ACTIVE, sid) or '0')
local hard = tonumber(redis.call('ZSCORE', K_HARD, sid) or '0')
if current < NOW or hard < NOW then
  return {0, 0}
end
local idle = math.min(NOW + cfg.idle_ms, hard)
redis.call('ZADD', K_ACTIVE, idle, sid)
return {idle, hard}
