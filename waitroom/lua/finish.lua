-- finish: a session ends (submitted or left); its place goes to the next visitor at once.
-- KEYS: the room's keys (see _lib.lua)
-- ARGV[1] now (ms); ARGV[2] session id
-- Returns {1 if the session was live else 0, visitors admitted into the freed place}
local cfg = config()
local live = redis.call('HEXISTS', K_SESSIONS, ARGV[2])
if live == 1 then
  end_session(ARGV[2], FINISHED, cfg.ttl_ms)
  redis.call('HINCRBY', K_STATS, 'finished_total', 1)
end
return {live, admit_next(cfg)}
