-- Take tokens from a bucket shared by every worker of one channel.
-- KEYS[1]: the bucket (a hash with fields tokens, ts)
-- ARGV[1]: refill rate, tokens per second
-- ARGV[2]: capacity (the largest burst)
-- ARGV[3]: now, milliseconds since the epoch (the caller's clock)
-- ARGV[4]: tokens wanted
-- Returns 0 when the tokens were taken, else the milliseconds to wait before asking again.
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local wanted = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
if now > ts then
  tokens = math.min(capacity, tokens + (now - ts) * rate / 1000)
  ts = now
end
local ttl = math.ceil(capacity / rate * 1000) + 1000
if tokens >= wanted then
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - wanted), 'ts', tostring(ts))
  redis.call('PEXPIRE', KEYS[1], ttl)
  return 0
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(ts))
redis.call('PEXPIRE', KEYS[1], ttl)
return math.ceil((wanted - tokens) * 1000 / rate)
