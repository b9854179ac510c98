-- Charge ARGV[1] (cost) against ARGV[2] (limit) per ARGV[3] ms, as member ARGV[4] (the token).
-- KEYS[1]: the sorted-set log (score = Redis TIME in ms, member = "<cost>:<uuid>");
-- KEYS[2]: the running total of the live members' costs.
-- Returns {allowed (0/1), total after, ms until the window has recovered, ms until cost fits}.
local log, total_key = KEYS[1], KEYS[2]
local cost, limit, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function cost_of(member)
  return tonumber(string.match(member, '^(%d+):'))
end

-- Drop charges that left the window; each is removed once, so this is amortised.
local freed = 0
local expired = redis.call('ZRANGEBYSCORE', log, '-inf', now - window)
if #expired > 0 then
  for i = 1, #expired do freed = freed + cost_of(expired[i]) end
  redis.call('ZREMRANGEBYSCORE', log, '-inf', now - window)
end

local count = redis.call('ZCARD', log)
local total = 0
if count > 0 then
  local raw = redis.call('GET', total_key)
  if raw then total = tonumber(raw) - freed else total = -1 end
  if total < 0 then
    -- The total was lost (evicted) or is inconsistent: rebuild it from the log.
    total = 0
    local members = redis.call('ZRANGE', log, 0, -1)
    for i = 1, #members do total = total + cost_of(members[i]) end
  end
end

local allowed, retry = 0, 0
if cost <= limit and total + cost <= limit then
  allowed = 1
  if cost > 0 then
    redis.call('ZADD', log, now, ARGV[4])
    total = total + cost
    count = count + 1
  end
elseif cost > limit then
  retry = window
else
  -- Find the charge whose expiry frees enough room for this cost.
  local need, acc, start, found = total + cost - limit, 0, 0, false
  retry = window
  while not found do
    local batch = redis.call('ZRANGE', log, start, start + 63, 'WITHSCORES')
    if #batch == 0 then break end
    for i = 1, #batch, 2 do
      acc = acc + cost_of(batch[i])
      if acc >= need then
        retry = tonumber(batch[i + 1]) + window - now
        found = true
        break
      end
    end
    start = start + 64
  end
end

local reset = 0
if count > 0 then
  local newest = redis.call('ZRANGE', log, -1, -1, 'WITHSCORES')
  reset = tonumber(newest[2]) + window - now
  redis.call('SET', total_key, total, 'PX', reset)
  redis.call('PEXPIRE', log, reset)
else
  redis.call('DEL', total_key)
end
return {allowed, total, reset, retry}
