-- Helpers shared by the sync scripts (prepended to each script).
local CHUNK = 500

-- HMGET / ZMSCORE over many fields without overflowing Lua's unpack limit. One chunk's
-- reply is returned as it is; only longer lists are joined.
local function multi_get(cmd, key, fields)
  local n = #fields
  if n <= CHUNK then return redis.call(cmd, key, unpack(fields, 1, n)) end
  local out = {}
  for i = 1, n, CHUNK do
    local got = redis.call(cmd, key, unpack(fields, i, math.min(i + CHUNK - 1, n)))
    for j = 1, #got do out[#out + 1] = got[j] end
  end
  return out
end

-- HDEL / HSET / ZADD-style writes of many arguments in chunks; `args` is flat.
local function multi_write(cmd, key, args, stride)
  local step = CHUNK * stride
  local n = #args
  for i = 1, n, step do
    redis.call(cmd, key, unpack(args, i, math.min(i + step - 1, n)))
  end
end

-- The first-load rule of the md writes (lua/apply.lua, lua/first_load.lua): the partition
-- holds nothing — no object (head `n`) and no tombstone (an empty change index).
local function holds_nothing(head, idx)
  return tonumber(redis.call('HGET', head, 'n') or '0') == 0 and redis.call('ZCARD', idx) == 0
end
