-- seal: fix the pre-queue's drawn order at opening, exactly once.
-- KEYS: the room's keys (see _lib.lua); KEYS[25] drawn: this draw's own list, to which
--       the order was written first (one list per seed: two draws at once never mix)
-- ARGV[1] now (ms); ARGV[2] the last pre-queue number the order covers; ARGV[3] the seed
-- Returns 1 when sealed now, 0 when it was sealed before, -1 when the order is stale
-- (someone joined the pre-queue after it was drawn: draw again)
local K_DRAWN = KEYS[25]
if redis.call('HEXISTS', K_STATS, 'prequeue_sealed') == 1 then return 0 end
local last = tonumber(redis.call('HGET', K_STATS, 'prequeue_last') or '0')
if last ~= tonumber(ARGV[2]) or redis.call('LLEN', K_DRAWN) ~= last then
  return -1
end
if last > 0 then
  redis.call('RENAME', K_DRAWN, K_ORDER)
  redis.call('PERSIST', K_ORDER)
end
redis.call('HSET', K_STATS, 'prequeue_sealed', last, 'prequeue_seed', ARGV[3],
  'prequeue_sealed_at', NOW)
local head = tonumber(redis.call('GET', K_HEAD) or '1')
if head <= last then redis.call('SET', K_HEAD, last + 1) end
return 1
