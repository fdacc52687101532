-- join: give a visitor a place in the queue, or their existing place back.
-- KEYS: the room's keys (see _lib.lua); KEYS[23] join-limit: the caller's joins this minute
-- ARGV[1] now (ms); ARGV[2] joins allowed per address per minute (0 = no limit);
-- ARGV[3] 1 for a booked visitor present in their slot (priority lane), else 0;
-- ARGV[4..] keyed hashes of the identifiers given (NIK, phone, e-mail, booking code);
--          ARGV[4] is the caller's browser when a place can have been moved (see move.lua)
-- Returns {queue number, state, deadline ms (claim deadline when admitted, else 0),
--          1 if new else 0, head, returning, pre-queue left, sealed, place in the priority
--          lane (booked visitors; else 0)} (see standing()),
--          {0, -1} when the caller is over the join limit, or {0, -2} when the queue has closed
local limit = tonumber(ARGV[2])
if limit > 0 then
  local used = redis.call('INCR', KEYS[23])
  if used == 1 then redis.call('PEXPIRE', KEYS[23], 61000) end
  if used > limit then return {0, -1} end
end

local cfg = config()
local number = nil
for i = 4, #ARGV do
  local known = redis.call('HGET', K_IDS, ARGV[i])
  -- A place moved to another browser is no longer found from the one it left.
  local owner = known and redis.call('HGET', K_OWNERS, known)
  if owner and owner ~= ARGV[4] then known = nil end
  if known then
    local state = mark_get(known)
    if state >= WAITING and state <= ACTIVE then
      number = tonumber(known)
      if ARGV[3] == '1' and state == WAITING then redis.call('RPUSH', K_PRIORITY, number) end
      break
    end
  end
end

local fresh = 0
if number == nil then
  if cfg.closes_s > 0 and NOW_S >= cfg.closes_s then return {0, -2} end
  number = redis.call('INCR', K_SEQ)
  mark_set(number, WAITING, NOW_S)
  redis.call('HINCRBY', K_STATS, 'waiting', 1)
  redis.call('HINCRBY', K_STATS, 'joined_total', 1)
  if cfg.opens_s > 0 and NOW_S < cfg.opens_s then
    -- joined before opening: part of the pre-queue whose order is drawn at opening
    redis.call('HSET', K_STATS, 'prequeue_last', number)
  end
  if ARGV[3] == '1' then redis.call('RPUSH', K_PRIORITY, number) end
  for i = 4, #ARGV do
    redis.call('HSET', K_IDS, ARGV[i], number)
  end
  fresh = 1
  admit_next(cfg, true)
  if mark_get(number) == ADMITTED then
    -- admitted by their own join: they enter at once, with no poll to wait for
    redis.call('HSET', K_SINCE, number, -NOW)
  end
end

local state = mark_get(number)
local deadline = 0
if state == ADMITTED then deadline = tonumber(redis.call('ZSCORE', K_ADMITTED, number)) end
local head, returning, order_left, sealed = standing(cfg)
local lane = 0
if ARGV[3] == '1' and state == WAITING then lane = lane_rank(number) end
return {number, state, deadline, fresh, head, returning, order_left, sealed, lane}
