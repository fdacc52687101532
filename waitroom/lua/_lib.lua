-- Shared prelude of every waiting-room script (prepended when loaded).
-- KEYS[1] config     hash   live settings of the room
-- KEYS[2] seq        string last queue number handed out
-- KEYS[3] head       string next queue number the admission walk looks at
-- KEYS[4] marks      bitfield, one u32 per queue number: state * 2^29 + last seen (s, mod 2^29)
-- KEYS[5] ids        hash   keyed hash of an identifier -> queue number
-- KEYS[6] admitted   zset   queue number -> claim deadline (ms)
-- KEYS[7] active     zset   session id -> idle deadline (ms)
-- KEYS[8] hard       zset   session id -> lifetime deadline (ms)
-- KEYS[9] sessions   hash   session id -> queue number
-- KEYS[10] returning list   skipped visitors who came back within the grace period
-- KEYS[11] bucket    hash   token bucket of the admission rate (tokens, ts)
-- KEYS[12] stats     hash   counters
-- KEYS[13] outflow   list   recent admission times (ms), newest first
-- ARGV[1] now, in milliseconds since the epoch (the clock always comes from the caller)
local K_CONFIG, K_SEQ, K_HEAD, K_MARKS, K_IDS = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local K_ADMITTED, K_ACTIVE, K_HARD, K_SESSIONS = KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local K_RETURNING, K_BUCKET, K_STATS, K_OUTFLOW = KEYS[10], KEYS[11], KEYS[12], KEYS[13]

local SPAN = 536870912 -- 2^29: the seconds part of a mark
local NOW = tonumber(ARGV[1])
local NOW_S = math.floor(NOW / 1000)

local WAITING, SKIPPED, ADMITTED, ACTIVE, FINISHED, EXPIRED = 1, 2, 3, 4, 5, 6

local function mark_get(n)
  local v = redis.call('BITFIELD', K_MARKS, 'GET', 'u32', '#' .. n)[1]
  return math.floor(v / SPAN), v % SPAN
end

local function mark_set(n, state, seen_s)
  redis.call('BITFIELD', K_MARKS, 'SET', 'u32', '#' .. n, state * SPAN + (seen_s % SPAN))
end

-- Seconds since a mark's "last seen", robust to the 17-year wrap of the field.
local function age_s(seen_s)
  return (NOW_S - seen_s) % SPAN
end

local function config()
  local v = redis.call('HMGET', K_CONFIG, 'max_active', 'admit_per_minute',
    'claim_window_seconds', 'stale_after_seconds', 'paused', 'idle_timeout_seconds',
    'session_ttl_seconds', 'return_grace_seconds')
  return {
    max_active = tonumber(v[1]) or 100,
    rate = tonumber(v[2]) or 600,
    claim_ms = (tonumber(v[3]) or 120) * 1000,
    stale_s = tonumber(v[4]) or 0,
    paused = v[5] == '1',
    idle_ms = (tonumber(v[6]) or 900) * 1000,
    ttl_ms = (tonumber(v[7]) or 3600) * 1000,
    grace_s = tonumber(v[8]) or 0,
  }
end

local function end_session(sid, state)
  local n = redis.call('HGET', K_SESSIONS, sid)
  redis.call('ZREM', K_ACTIVE, sid)
  redis.call('ZREM', K_HARD, sid)
  redis.call('HDEL', K_SESSIONS, sid)
  if n then
    mark_set(n, state, NOW_S)
  end
  return n
end

-- Frees the places of sessions past their idle or lifetime deadline and of
-- admissions nobody claimed in time. Bounded per call so one script never
-- blocks Redis for long; the ticker calls again within a second.
local function expire_overdue()
  local freed = 0
  for _, zkey in ipairs({K_ACTIVE, K_HARD}) do
    local due = redis.call('ZRANGEBYSCORE', zkey, '-inf', NOW, 'LIMIT', 0, 500)
    for _, sid in ipairs(due) do
      end_session(sid, EXPIRED)
      freed = freed + 1
    end
  end
  local lapsed = redis.call('ZRANGEBYSCORE', K_ADMITTED, '-inf', NOW, 'LIMIT', 0, 500)
  for _, n in ipairs(lapsed) do
    redis.call('ZREM', K_ADMITTED, n)
    mark_set(n, EXPIRED, NOW_S)
  end
  if freed > 0 then redis.call('HINCRBY', K_STATS, 'expired_total', freed) end
  if #lapsed > 0 then redis.call('HINCRBY', K_STATS, 'unclaimed_total', #lapsed) end
end

local function admit_one(n, cfg)
  mark_set(n, ADMITTED, NOW_S)
  redis.call('ZADD', K_ADMITTED, NOW + cfg.claim_ms, n)
  redis.call('LPUSH', K_OUTFLOW, NOW)
end

-- Admits the next visitors while a place is free and the rate allows:
-- first those who came back after being skipped, then walk-ins in queue order.
local function admit_next(cfg)
  expire_overdue()
  if cfg.paused then return 0 end
  local free = cfg.max_active - redis.call('ZCARD', K_ACTIVE) - redis.call('ZCARD', K_ADMITTED)
  if free <= 0 then return 0 end

  local burst = math.max(1, math.ceil(cfg.rate / 6))
  local bucket = redis.call('HMGET', K_BUCKET, 'tokens', 'ts')
  local tokens, ts = tonumber(bucket[1]), tonumber(bucket[2])
  if tokens == nil or ts == nil then tokens, ts = burst, NOW end
  tokens = math.min(burst, tokens + math.max(0, NOW - ts) * cfg.rate / 60000)
  local allowed = math.min(free, math.floor(tokens))

  local admitted = 0
  while admitted < allowed do
    local n = redis.call('LPOP', K_RETURNING)
    if not n then break end
    if mark_get(n) == WAITING then
      admit_one(n, cfg)
      admitted = admitted + 1
    end
  end

  local head = tonumber(redis.call('GET', K_HEAD) or '1')
  local tail = tonumber(redis.call('GET', K_SEQ) or '0')
  local scanned, skipped = 0, 0
  while admitted < allowed and head <= tail and scanned < 1000 do
    local state, seen = mark_get(head)
    if state == WAITING then
      if cfg.stale_s > 0 and age_s(seen) > cfg.stale_s then
        -- keep "last seen" so the grace period counts from the last poll
        mark_set(head, SKIPPED, seen)
        skipped = skipped + 1
      else
        admit_one(head, cfg)
        admitted = admitted + 1
      end
    end
    head = head + 1
    scanned = scanned + 1
  end
  redis.call('SET', K_HEAD, head)

  if admitted > 0 then
    redis.call('LTRIM', K_OUTFLOW, 0, 999)
    redis.call('HINCRBY', K_STATS, 'admitted_total', admitted)
  end
  if admitted + skipped > 0 then
    redis.call('HINCRBY', K_STATS, 'waiting', -(admitted + skipped))
  end
  if skipped > 0 then redis.call('HINCRBY', K_STATS, 'skipped_total', skipped) end
  redis.call('HSET', K_BUCKET, 'tokens', tokens - admitted, 'ts', NOW)
  return admitted
end

