-- join: give a visitor a place in the queue, or their existing place back.
-- KEYS: the room's keys (see _lib.lua); KEYS[14] the caller's join counter for this minute
-- ARGV[1] now (ms); ARGV[2] joins allowed per address per minute (0 = no limit);
-- ARGV[3..] keyed hashes of the identifiers given (NIK, phone, e-mail)
-- Returns {queue number, state, deadline ms (claim deadline when admitted, else 0),
--          1 if new else 0, head}, or {0, -1} when the caller is over the join limit
local limit = tonumber(ARGV[2])
if limit > 0 then
  local used = redis.call('INCR', KEYS[14])
  if used == 1 then redis.call('PEXPIRE', KEYS[14], 61000) end
  if used > limit then return {0, -1} end
end

local cfg = config()
local number = nil
for i = 3, #ARGV do
  local known = redis.call('HGET', K_IDS, ARGV[i])
  if known then
    local state = mark_get(known)
    if state >= WAITING and state <= ACTIVE then
      number = tonumber(known)
      break
    end
  end
end

local fresh = 0
if number == nil then
  number = redis.call('INCR', K_SEQ)
  mark_set(number, WAITING, NOW_S)
  redis.call('HINCRBY', K_STATS, 'waiting', 1)
  redis.call('HINCRBY', K_STATS, 'joined_total', 1)
  for i = 3, #ARGV do
    redis.call('HSET', K_IDS, ARGV[i], number)
  end
  fresh = 1
  admit_next(cfg)
end

local state = mark_get(number)
local deadline = 0
if state == ADMITTED then deadline = tonumber(redis.call('ZSCORE', K_ADMITTED, number)) end
return {number, state, deadline, fresh, tonumber(redis.call('GET', K_HEAD) or '1')}
