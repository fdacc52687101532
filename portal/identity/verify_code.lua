-- Check one guess of a one-time code; the guess is counted before it is compared.
-- KEYS[1]  hash of the NIK's current code: digest, attempts, channel, address
-- ARGV[1]  digest of the guessed code
-- ARGV[2]  guesses allowed per code
-- Returns {status, channel, address}: status 1 = right (the code is used up),
-- 0 = wrong or no code, -1 = too many guesses (the code is destroyed).
local digest = redis.call('HGET', KEYS[1], 'digest')
if not digest then
  return {0, false, false}
end
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
if attempts > tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[1])
  return {-1, false, false}
end
if digest == ARGV[1] then
  local found = redis.call('HMGET', KEYS[1], 'channel', 'address')
  redis.call('DEL', KEYS[1])
  return {1, found[1], found[2]}
end
return {0, false, false}
