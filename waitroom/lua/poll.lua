-- poll: a waiting visitor asks where they stand; records that they are still there.
-- KEYS: the room's keys (see _lib.lua)
-- ARGV[1] now (ms); ARGV[2] queue number
-- Returns {state, deadline ms (claim deadline when admitted, else 0), head, returning,
--          pre-queue left, sealed, place in the priority lane (booked visitors; else 0)}
--          (see standing())
local cfg = config()
local number = tonumber(ARGV[2])
local state, seen = mark_get(number)
if state == WAITING then
  mark_set(number, WAITING, NOW_S)
elseif state == SKIPPED and cfg.grace_s > 0 and age_s(seen) <= cfg.grace_s then
  -- came back within the grace period: admitted at the next free place
  mark_set(number, WAITING, NOW_S)
  redis.call('RPUSH', K_RETURNING, number)
  redis.call('HINCRBY', K_STATS, 'waiting', 1)
  state = WAITING
end
local deadline = 0
if state == ADMITTED then
  deadline = tonumber(redis.call('ZSCORE', K_ADMITTED, number) or '0')
end
local head, returning, order_left, sealed = standing(cfg)
local lane = 0
if state == WAITING then lane = lane_rank(number) end
return {state, deadline, head, returning, order_left, sealed, lane}
