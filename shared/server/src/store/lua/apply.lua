-- Applies numbered md changes of one partition if nobody changed it meanwhile, then prunes
-- a bounded number of the oldest history events (see store.rs, "History retention").
-- KEYS: 1 md, 2 idx, 3 hist, 4 head, 5 hlog
-- ARGV: 1 expected version, 2 new version, 3 new md_size, 4 now (s),
--       5 prune cutoff (s): events written at or before it are past retention,
--       6 max retained events, 7 most events pruned by this call, 8 '1' when this
--       continues a first load (the write's previous chunk answered 2),
--       then per change: id, version, body after ('' = deleted), history event JSON
-- Answers 0 (the version moved: nothing written), 1, or 2 (written as a first load).
local current = tonumber(redis.call('HGET', KEYS[4], 'v') or '0')
if current ~= tonumber(ARGV[1]) then return 0 end
local now = ARGV[4]
-- A first load: only new objects, into a partition that holds nothing — no object, no
-- tombstone — or the next chunk of a write whose first chunk was one (ARGV 8; the version
-- check above says nothing came between). No client can hold an older version of anything
-- there, so the creations need no history events: the horizon moves to the new version
-- instead, which turns a client of an older base into one that holds nothing, as it does
-- (docs/sync-engine.md §10). Answers 2 then.
local fresh = #ARGV >= 9
for i = 12, #ARGV, 4 do
  if string.sub(ARGV[i], -6) ~= ',null]' then fresh = false; break end
end
if fresh then
  if ARGV[8] == '1' then
    fresh = tonumber(redis.call('HGET', KEYS[4], 'h') or '0') == current and redis.call('HLEN', KEYS[3]) == 0
  else
    fresh = holds_nothing(KEYS[4], KEYS[2])
  end
end
local sets, dels, zadds, logs = {}, {}, {}, {}
for i = 9, #ARGV, 4 do
  local id, version, after, event = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if after == '' then dels[#dels + 1] = id
  else sets[#sets + 1] = id; sets[#sets + 1] = after end
  zadds[#zadds + 1] = version; zadds[#zadds + 1] = id
  if not fresh then
    logs[#logs + 1] = version; logs[#logs + 1] = version .. ':' .. now .. ':' .. id
    local old = redis.call('HGET', KEYS[3], id)
    if old then
      redis.call('HSET', KEYS[3], id, string.sub(old, 1, -2) .. ',' .. event .. ']')
    else
      redis.call('HSET', KEYS[3], id, '[' .. event .. ']')
    end
  end
end
if #sets > 0 then multi_write('HSET', KEYS[1], sets, 2) end
if #dels > 0 then multi_write('HDEL', KEYS[1], dels, 1) end
if #zadds > 0 then multi_write('ZADD', KEYS[2], zadds, 2) end
if #logs > 0 then multi_write('ZADD', KEYS[5], logs, 2) end
redis.call('HSET', KEYS[4], 'v', ARGV[2], 'n', ARGV[3])
if fresh then
  redis.call('HSET', KEYS[4], 'h', ARGV[2])
  return 2
end

-- Pruning, oldest event first. An event goes when it is past the retention window or the
-- log is over its cap; the first event that may stay ends the walk, so the horizon only
-- ever moves to the version of the last event dropped.
local cutoff, cap, budget = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local total = redis.call('ZCARD', KEYS[5])
if budget <= 0 or total == 0 then return 1 end
local pruned, horizon = 0, nil
-- Fetched a few at a time: usually the first event may stay, and a budget-sized range
-- would copy thousands of members into Lua for nothing.
local batch = 64
local offset = 0
local done = false
while not done and offset < budget do
  local oldest = redis.call('ZRANGE', KEYS[5], offset, math.min(offset + batch, budget) - 1)
  if #oldest == 0 then break end
  offset = offset + #oldest
  for _, member in ipairs(oldest) do
    local c1 = string.find(member, ':', 1, true)
    local c2 = c1 and string.find(member, ':', c1 + 1, true)
    if not c2 then done = true; break end
    local v = tonumber(string.sub(member, 1, c1 - 1))
    local at = tonumber(string.sub(member, c1 + 1, c2 - 1))
    local id = string.sub(member, c2 + 1)
    if total - pruned <= cap and at > cutoff then done = true; break end
    local raw = redis.call('HGET', KEYS[3], id)
    if raw then
      -- Keep the events after v. Re-encoded by hand: cjson would print large versions in
      -- exponent form.
      local keep = {}
      for _, e in ipairs(cjson.decode(raw)) do
        if e[1] > v then
          local before = 'null'
          if e[2] ~= cjson.null then before = cjson.encode(e[2]) end
          keep[#keep + 1] = '[' .. string.format('%d', e[1]) .. ',' .. before .. ']'
        end
      end
      if #keep == 0 then redis.call('HDEL', KEYS[3], id)
      else redis.call('HSET', KEYS[3], id, '[' .. table.concat(keep, ',') .. ']') end
    end
    -- A tombstone at or below the new horizon tells no in-window client anything.
    local score = redis.call('ZSCORE', KEYS[2], id)
    if score and tonumber(score) <= v and redis.call('HEXISTS', KEYS[1], id) == 0 then
      redis.call('ZREM', KEYS[2], id)
    end
    pruned = pruned + 1
    horizon = v
  end
end
if pruned > 0 then
  redis.call('ZREMRANGEBYRANK', KEYS[5], 0, pruned - 1)
  redis.call('HSET', KEYS[4], 'h', string.format('%d', horizon))
end
return 1
