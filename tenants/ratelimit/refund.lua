-- Give back the charge ARGV[1] (a token "<cost>:<uuid>") of the log KEYS[1] and the total KEYS[2].
-- Returns 1 if it was still charged, 0 if it had expired or was refunded already.
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  local cost = tonumber(string.match(ARGV[1], '^(%d+):'))
  if redis.call('ZCARD', KEYS[1]) == 0 then
    redis.call('DEL', KEYS[2])
  elseif redis.call('EXISTS', KEYS[2]) == 1 then
    -- DECRBY keeps the key's expiry; a negative result is rebuilt by the next acquire.
    redis.call('DECRBY', KEYS[2], cost)
  end
  return 1
end
return 0
