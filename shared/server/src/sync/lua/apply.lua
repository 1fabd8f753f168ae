-- Applies numbered md changes of one partition if nobody changed it meanwhile.
-- KEYS: 1 md, 2 idx, 3 hist, 4 head
-- ARGV: 1 expected version, 2 new version, 3 new md_size,
--       then per change: id, version, body after ('' = deleted), history event JSON
local current = tonumber(redis.call('HGET', KEYS[4], 'v') or '0')
if current ~= tonumber(ARGV[1]) then return 0 end
local sets, dels, zadds = {}, {}, {}
for i = 4, #ARGV, 4 do
  local id, version, after, event = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if after == '' then dels[#dels + 1] = id
  else sets[#sets + 1] = id; sets[#sets + 1] = after end
  zadds[#zadds + 1] = version; zadds[#zadds + 1] = id
  local old = redis.call('HGET', KEYS[3], id)
  if old then
    redis.call('HSET', KEYS[3], id, string.sub(old, 1, -2) .. ',' .. event .. ']')
  else
    redis.call('HSET', KEYS[3], id, '[' .. event .. ']')
  end
end
if #sets > 0 then multi_write('HSET', KEYS[1], sets, 2) end
if #dels > 0 then multi_write('HDEL', KEYS[1], dels, 1) end
if #zadds > 0 then multi_write('ZADD', KEYS[2], zadds, 2) end
redis.call('HSET', KEYS[4], 'v', ARGV[2], 'n', ARGV[3])
return 1
