-- join: give a visitor a place in the queue, or their existing place back.
-- KEYS: the room's keys (see _lib.lua); KEYS[25] join-bucket: the caller's address's token
--       bucket (tokens, ts; tokens below 0 are joins owed); KEYS[26] join-proof: the marker
--       of the proof given (a challenge or turn ticket is taken once)
-- ARGV[1] now (ms); ARGV[2] bucket size per address (0 = no limit); ARGV[3] refill per minute;
-- ARGV[4] how long to keep the proof's marker (ms; 0 = no proof given, the bucket decides);
-- ARGV[5] 1 for a booked visitor present in their slot (priority lane), else 0;
-- ARGV[6] the largest overage the proof's difficulty pays for (-1: any);
-- ARGV[7..] keyed hashes of the identifiers given (NIK, phone, e-mail, booking code);
--          ARGV[7] is the caller's browser when a place can have been moved (see move.lua)
-- Returns {queue number, state, deadline ms (claim deadline when admitted, else 0),
--          1 if new else 0, head, returning, pre-queue left, sealed, place in the priority
--          lane (booked visitors; else 0)} (see standing()),
--          {0, -1, overage, ms until a token} when the address is past its bucket and no
--          proof was given, or one too easy for what it owes by now (overage: the joins it
--          would owe with this one),
--          {0, -2} when the queue has closed, or {0, -3} when the proof was used already
local MAX_OWED = 1000000 -- a bound on what an address can owe, so the bucket stays a number

-- Take a token of the address's bucket for a new place; nil when one was taken (or a
-- proof paid), else the refusal to return.
local function take_token()
  local burst = tonumber(ARGV[2]) or 0
  if burst == 0 then return nil end
  local per_ms = (tonumber(ARGV[3]) or 0) / 60000
  local proof_ms = tonumber(ARGV[4]) or 0
  local held = redis.call('HMGET', KEYS[25], 'tokens', 'ts')
  local tokens = tonumber(held[1]) or burst
  local since = tonumber(held[2]) or NOW
  if NOW > since then tokens = math.min(burst, tokens + (NOW - since) * per_ms) end
  local covers = tonumber(ARGV[6]) or -1
  local owed = math.ceil(1 - tokens)
  if tokens >= 1 then
    tokens = tokens - 1
  elseif proof_ms > 0 and (covers < 0 or owed <= covers) then
    -- A proof pays for a join past the bucket; the address owes the token all the same,
    -- so the next challenge is harder. Challenges fetched ahead while it was easy are
    -- worth only what they paid for.
    if not redis.call('SET', KEYS[26], '1', 'NX', 'PX', proof_ms) then return {0, -3} end
    tokens = math.max(tokens - 1, -MAX_OWED)
  else
    local wait = 60000
    if per_ms > 0 then wait = math.ceil((1 - tokens) / per_ms) end
    return {0, -1, owed, wait}
  end
  redis.call('HSET', KEYS[25], 'tokens', tostring(tokens), 'ts', NOW)
  -- kept until the bucket is full again (then it means nothing), at least a minute
  local full_ms = 60000
  if per_ms > 0 then full_ms = math.max(full_ms, math.ceil((burst - tokens) / per_ms)) end
  redis.call('PEXPIRE', KEYS[25], full_ms)
  return nil
end

local cfg = config()
local number = nil
for i = 7, #ARGV do
  local known = redis.call('HGET', K_IDS, ARGV[i])
  -- A place moved to another browser is no longer found from the one it left.
  local owner = known and redis.call('HGET', K_OWNERS, known)
  if owner and owner ~= ARGV[7] then known = nil end
  if known then
    local state = mark_get(known)
    if state >= WAITING and state <= ACTIVE then
      number = tonumber(known)
      if ARGV[5] == '1' and state == WAITING then redis.call('RPUSH', K_PRIORITY, number) end
      break
    end
  end
end

local fresh = 0
if number == nil then
  if cfg.closes_s > 0 and NOW_S >= cfg.closes_s then return {0, -2} end
  -- Only a new place draws from the bucket: finding one's own place again is free.
  local refused = take_token()
  if refused then return refused end
  number = redis.call('INCR', K_SEQ)
  mark_set(number, WAITING, NOW_S)
  note_joined(number)
  redis.call('HINCRBY', K_STATS, 'waiting', 1)
  redis.call('HINCRBY', K_STATS, 'joined_total', 1)
  if cfg.opens_s > 0 and NOW_S < cfg.opens_s then
    -- joined before opening: part of the pre-queue whose order is drawn at opening
    redis.call('HSET', K_STATS, 'prequeue_last', number)
  end
  if ARGV[5] == '1' then redis.call('RPUSH', K_PRIORITY, number) end
  for i = 7, #ARGV do
    redis.call('HSET', K_IDS, ARGV[i], number)
  end
  fresh = 1
  JOINING = number
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
if ARGV[5] == '1' and state == WAITING then lane = lane_rank(number) end
return {number, state, deadline, fresh, head, returning, order_left, sealed, lane}
