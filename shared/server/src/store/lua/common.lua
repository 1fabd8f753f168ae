-- Helpers shared by the sync scripts (prepended to each script).
local CHUNK = 500

-- HMGET / ZMSCORE over many fields without overflowing Lua's unpack limit.
local function multi_get(cmd, key, fields)
  local out = {}
  for i = 1, #fields, CHUNK do
    local part = {}
    for j = i, math.min(i + CHUNK - 1, #fields) do part[#part + 1] = fields[j] end
    local got = redis.call(cmd, key, unpack(part))
    for j = 1, #got do out[#out + 1] = got[j] end
  end
  return out
end

-- HDEL / HSET / ZADD-style writes of many arguments in chunks; `args` is flat.
local function multi_write(cmd, key, args, stride)
  local step = CHUNK * stride
  for i = 1, #args, step do
    local part = {}
    for j = i, math.min(i + step - 1, #args) do part[#part + 1] = args[j] end
    if #part > 0 then redis.call(cmd, key, unpack(part)) end
  end
end
