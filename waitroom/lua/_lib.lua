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
-- KEYS[14] priority  list   booked visitors present in their slot, served ahead of walk-ins
-- KEYS[15] booked    set    queue numbers of booked visitors holding a place
-- KEYS[16] order     list   the pre-queue's drawn order, served first after opening
-- KEYS[17] staging   (unused: each draw writes its own list, passed to seal.lua)
-- KEYS[18] wanted    set    queue numbers that asked to be told when their turn opens
-- KEYS[19] due       list   admitted numbers to tell now
-- KEYS[20] owners    hash   queue number -> keyed hash of the browser it was moved to
-- KEYS[21] since     hash   queue number holding a place -> admission time (ms), negative
--                           when admitted by their own join
-- KEYS[22] held      list   places freed lately, 'freed_ms:held_ms:session_ms:own', newest
--                           first (session -1: the admission lapsed unclaimed)
-- KEYS[23] joined    bitfield, one u32 per queue number: when it joined (s since the epoch,
--                           to the nearest second; 0 when it joined before this was kept)
-- KEYS[24] waits     hash   admission waits: per bucket (its bound in s, or 'inf') the
--                           admissions whose wait fell in it, and 'sum_ms'
-- ARGV[1] now, in milliseconds since the epoch (the clock always comes from the caller)
local K_CONFIG, K_SEQ, K_HEAD, K_MARKS, K_IDS = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local K_ADMITTED, K_ACTIVE, K_HARD, K_SESSIONS = KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local K_RETURNING, K_BUCKET, K_STATS, K_OUTFLOW = KEYS[10], KEYS[11], KEYS[12], KEYS[13]
local K_PRIORITY, K_BOOKED, K_ORDER, K_STAGING = KEYS[14], KEYS[15], KEYS[16], KEYS[17]
local K_WANTED, K_DUE, K_OWNERS, K_SINCE, K_HELD = KEYS[18], KEYS[19], KEYS[20], KEYS[21], KEYS[22]
local K_JOINED, K_WAITS = KEYS[23], KEYS[24]

local SPAN = 536870912 -- 2^29: the seconds part of a mark
local HELD_KEEP = 200 -- freed places kept for the wait estimate (waitroom.eta.HELD_KEEP)
local SHARE_WINDOW = 200 -- the recent share covers 1-2 windows (waitroom.snapshot.SHARE_WINDOW)
local NOW = tonumber(ARGV[1])
local NOW_S = math.floor(NOW / 1000)
-- Bucket bounds of the admission waits, in seconds (waitroom.waits.WAIT_BOUNDS_S)
local WAIT_BOUNDS_S = {10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400}

local WAITING, SKIPPED, ADMITTED, ACTIVE, FINISHED, EXPIRED, LEFT = 1, 2, 3, 4, 5, 6, 7

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
    'session_ttl_seconds', 'return_grace_seconds', 'opens_at', 'closes_at', 'booked_share')
  return {
    max_active = tonumber(v[1]) or 100,
    rate = tonumber(v[2]) or 600,
    claim_ms = (tonumber(v[3]) or 120) * 1000,
    stale_s = tonumber(v[4]) or 0,
    paused = v[5] == '1',
    idle_ms = (tonumber(v[6]) or 900) * 1000,
    ttl_ms = (tonumber(v[7]) or 3600) * 1000,
    grace_s = tonumber(v[8]) or 0,
    opens_s = tonumber(v[9]) or 0,
    closes_s = tonumber(v[10]) or 0,
    booked_share = tonumber(v[11]) or 0,
  }
end

-- A place is free again: record how long it was held (admission to now) and how long
-- of that the session ran (-1: never claimed), for the wait estimate. 'own' is 1 when
-- the visitor was admitted by their own join.
local function free_place(n, session_ms)
  local since = tonumber(redis.call('HGET', K_SINCE, n))
  if not since then return end
  redis.call('HDEL', K_SINCE, n)
  local own = 0
  if since < 0 then since, own = -since, 1 end
  local held = math.max(0, NOW - since)
  if session_ms > held then session_ms = held end
  redis.call('LPUSH', K_HELD, NOW .. ':' .. held .. ':' .. session_ms .. ':' .. own)
  redis.call('LTRIM', K_HELD, 0, HELD_KEEP - 1)
end

local function end_session(sid, state, ttl_ms)
  local n = redis.call('HGET', K_SESSIONS, sid)
  -- the session began one lifetime before its hard deadline
  local hard = tonumber(redis.call('ZSCORE', K_HARD, sid) or NOW + ttl_ms)
  redis.call('ZREM', K_ACTIVE, sid)
  redis.call('ZREM', K_HARD, sid)
  redis.call('HDEL', K_SESSIONS, sid)
  if n then
    mark_set(n, state, NOW_S)
    redis.call('SREM', K_BOOKED, n)
    free_place(n, math.max(0, NOW - (hard - ttl_ms)))
  end
  return n
end

-- Frees the places of sessions past their idle or lifetime deadline and of
-- admissions nobody claimed in time. Bounded per call so one script never
-- blocks Redis for long; the ticker calls again within a second.
local function expire_overdue(cfg)
  local freed = 0
  for _, zkey in ipairs({K_ACTIVE, K_HARD}) do
    local due = redis.call('ZRANGEBYSCORE', zkey, '-inf', NOW, 'LIMIT', 0, 500)
    for _, sid in ipairs(due) do
      end_session(sid, EXPIRED, cfg.ttl_ms)
      freed = freed + 1
    end
  end
  local lapsed = redis.call('ZRANGEBYSCORE', K_ADMITTED, '-inf', NOW, 'LIMIT', 0, 500)
  for _, n in ipairs(lapsed) do
    redis.call('ZREM', K_ADMITTED, n)
    redis.call('SREM', K_BOOKED, n)
    mark_set(n, EXPIRED, NOW_S)
    free_place(n, -1)
  end
  if freed > 0 then redis.call('HINCRBY', K_STATS, 'expired_total', freed) end
  if #lapsed > 0 then redis.call('HINCRBY', K_STATS, 'unclaimed_total', #lapsed) end
end

-- The queue number joining in this call (join.lua): admitted by their own join, they
-- waited 0, whatever the rounding of their join time.
local JOINING = nil

-- When a visitor joins: to the nearest second, as the wait histogram reads it.
local function note_joined(n)
  redis.call('BITFIELD', K_JOINED, 'SET', 'u32', '#' .. n, math.floor((NOW + 500) / 1000))
end

-- This call's admission waits: how many fell in each bucket, and their sum.
local WAITS = {sum_ms = 0}

local function observe_wait(n)
  local wait_ms = 0
  if tonumber(n) ~= JOINING then
    local joined_s = redis.call('BITFIELD', K_JOINED, 'GET', 'u32', '#' .. n)[1]
    if joined_s == 0 then return end -- joined before join times were kept: unknown
    wait_ms = math.max(0, NOW - joined_s * 1000)
  end
  local bucket = #WAIT_BOUNDS_S + 1
  for i, bound in ipairs(WAIT_BOUNDS_S) do
    if wait_ms <= bound * 1000 then bucket = i break end
  end
  WAITS[bucket] = (WAITS[bucket] or 0) + 1
  WAITS.sum_ms = WAITS.sum_ms + wait_ms
end

-- Adds this call's waits to the room's histogram: one HINCRBY per bucket that got any
-- (a bucket's own count; a reader cumulates them), however many were admitted.
local function record_waits()
  for i = 1, #WAIT_BOUNDS_S + 1 do
    if WAITS[i] then redis.call('HINCRBY', K_WAITS, WAIT_BOUNDS_S[i] or 'inf', WAITS[i]) end
  end
  if WAITS.sum_ms > 0 then redis.call('HINCRBY', K_WAITS, 'sum_ms', WAITS.sum_ms) end
end

local function admit_one(n, cfg)
  observe_wait(n)
  mark_set(n, ADMITTED, NOW_S)
  redis.call('ZADD', K_ADMITTED, NOW + cfg.claim_ms, n)
  redis.call('LPUSH', K_OUTFLOW, NOW)
  redis.call('HSET', K_SINCE, n, NOW)
  if redis.call('SREM', K_WANTED, n) == 1 then
    -- asked to be told: the notifier sends the link while the claim window runs
    redis.call('RPUSH', K_DUE, n)
  end
end

-- Whether admissions may run: after opening, and once the pre-queue's order is sealed.
local function is_open(cfg)
  if cfg.opens_s > 0 then
    if NOW_S < cfg.opens_s then return false end
    if redis.call('HEXISTS', K_STATS, 'prequeue_sealed') == 0 then return false end
  end
  return true
end

-- Numbers the queue's lanes passed in this call (the walk, the returning and pre-queue
-- lists), taken or not: the share that takes a place tells the wait estimate how
-- many of the numbers ahead of a visitor will.
local PASSED = 0

-- Pops the next waiting visitor from a list lane, skipping any no longer waiting.
local function pop_waiting(list_key, counted)
  while true do
    local n = redis.call('LPOP', list_key)
    if not n then return nil end
    if counted then PASSED = PASSED + 1 end
    if mark_get(n) == WAITING then return n end
  end
end

-- Admits up to `count` waiting visitors from a list lane, in list order; returns how
-- many. Booked ones join the booked set: they count against the share while they hold a place.
local function admit_from_list(list_key, count, cfg, booked)
  local admitted = 0
  while admitted < count do
    local n = pop_waiting(list_key, not booked)
    if not n then break end
    admit_one(n, cfg)
    if booked then redis.call('SADD', K_BOOKED, n) end
    admitted = admitted + 1
  end
  return admitted
end

-- Walks the queue from the head, admitting up to `count` walk-ins and skipping those
-- gone stale; returns how many of each. Bounded so one script never blocks Redis for long.
local function admit_walk_ins(count, cfg)
  local head = tonumber(redis.call('GET', K_HEAD) or '1')
  local tail = tonumber(redis.call('GET', K_SEQ) or '0')
  local admitted, scanned, skipped = 0, 0, 0
  while admitted < count and head <= tail and scanned < 1000 do
    local state, seen = mark_get(head)
    if state == WAITING then
      -- Someone who asked to be told may close the page: not stale for that.
      if cfg.stale_s > 0 and age_s(seen) > cfg.stale_s
          and redis.call('SISMEMBER', K_WANTED, head) == 0 then
        -- the grace period counts from now: a page following the board (waitroom.board)
        -- is not marked present until it nears the front, and a queue that moved faster
        -- than it looked must not cost it its place
        mark_set(head, SKIPPED, NOW_S)
        skipped = skipped + 1
      else
        admit_one(head, cfg)
        admitted = admitted + 1
      end
    end
    head = head + 1
    scanned = scanned + 1
  end
  PASSED = PASSED + scanned
  redis.call('SET', K_HEAD, head)
  return admitted, skipped
end

-- The admission bucket's tokens now: refilled at the admission rate, at most ten
-- seconds' worth.
local function bucket_tokens(cfg)
  local burst = math.max(1, math.ceil(cfg.rate / 6))
  local bucket = redis.call('HMGET', K_BUCKET, 'tokens', 'ts')
  local tokens, ts = tonumber(bucket[1]), tonumber(bucket[2])
  if tokens == nil or ts == nil then tokens, ts = burst, NOW end
  return math.min(burst, tokens + math.max(0, NOW - ts) * cfg.rate / 60000)
end

local function count_admissions(admitted, booked_admitted, skipped)
  if admitted > 0 then
    redis.call('LTRIM', K_OUTFLOW, 0, 999)
    redis.call('HINCRBY', K_STATS, 'admitted_total', admitted)
  end
  if booked_admitted > 0 then
    redis.call('HINCRBY', K_STATS, 'booked_admitted_total', booked_admitted)
  end
  if admitted + skipped > 0 then
    redis.call('HINCRBY', K_STATS, 'waiting', -(admitted + skipped))
  end
  if skipped > 0 then redis.call('HINCRBY', K_STATS, 'skipped_total', skipped) end
end

-- The recent share the wait estimate uses: of the numbers the lanes passed, how many
-- took a place. Both counts are halved past twice the window.
local function count_share(taken)
  if PASSED == 0 then return end
  local v = redis.call('HMGET', K_STATS, 'walk_seen', 'walk_taken')
  local seen, took = (tonumber(v[1]) or 0) + PASSED, (tonumber(v[2]) or 0) + taken
  if seen > 2 * SHARE_WINDOW then seen, took = math.floor(seen / 2), math.floor(took / 2) end
  redis.call('HSET', K_STATS, 'walk_seen', seen, 'walk_taken', took)
end

-- Admits the next visitors while a place is free and the rate allows: booked
-- visitors present in their slot (within the booked share), then those who came
-- back after being skipped, then the pre-queue in its drawn order, then walk-ins
-- in queue order. Walk-ins leave free the places still reserved for bookings.
local function admit_next(cfg, skip_sweep)
  -- A join only fills places free now; the ticker sweeps expiries every half second.
  if not skip_sweep then expire_overdue(cfg) end
  if cfg.paused or not is_open(cfg) then return 0 end
  local free = cfg.max_active - redis.call('ZCARD', K_ACTIVE) - redis.call('ZCARD', K_ADMITTED)
  if free <= 0 then return 0 end

  local tokens = bucket_tokens(cfg)
  local allowed = math.min(free, math.floor(tokens))

  local reserve = math.ceil(cfg.booked_share * cfg.max_active)
  local booked_live = redis.call('SCARD', K_BOOKED)
  local booked_admitted = admit_from_list(K_PRIORITY, math.min(allowed, reserve - booked_live),
    cfg, true)
  booked_live = booked_live + booked_admitted
  local admitted = booked_admitted

  -- Places held back for booked visitors expected in this slot but not here yet.
  local expected = tonumber(redis.call('HGET', K_STATS, 'booked_expected') or '0')
  local held = math.max(0, math.min(reserve, expected) - booked_live)
  local walk_in_allowed = math.min(allowed, math.max(admitted, free - held))

  admitted = admitted + admit_from_list(K_RETURNING, walk_in_allowed - admitted, cfg, false)
  admitted = admitted + admit_from_list(K_ORDER, walk_in_allowed - admitted, cfg, false)
  local walked, skipped = admit_walk_ins(walk_in_allowed - admitted, cfg)
  admitted = admitted + walked

  count_admissions(admitted, booked_admitted, skipped)
  record_waits()
  count_share(admitted - booked_admitted)
  redis.call('HSET', K_BUCKET, 'tokens', tokens - admitted, 'ts', NOW)
  return admitted
end

-- A booked visitor's 1-based place in the priority lane (0 when not in it).
local function lane_rank(number)
  local at = redis.call('LPOS', K_PRIORITY, number)
  if at then return at + 1 end
  return 0
end

-- What a visitor needs to know where they stand: {head, returning, pre-queue left, sealed}.
-- sealed is the last pre-queue number once the order is drawn, -1 before, 0 without pre-queue.
local function standing(cfg)
  local sealed = 0
  if cfg.opens_s > 0 then
    sealed = tonumber(redis.call('HGET', K_STATS, 'prequeue_sealed') or '-1')
  end
  return tonumber(redis.call('GET', K_HEAD) or '1'), redis.call('LLEN', K_RETURNING),
    redis.call('LLEN', K_ORDER), sealed
end

