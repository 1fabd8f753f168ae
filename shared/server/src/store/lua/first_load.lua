-- Commits a first load staged by plain writes (store/partition.rs, `apply`): the md and the
-- change index of a partition that holds nothing were written into two private keys of
-- the partition's slot, and become the partition's by RENAME — O(1) whatever the size.
-- KEYS: 1 md, 2 idx, 3 head, 4 staged md, 5 staged idx
-- ARGV: 1 expected version, 2 new version, 3 objects staged
-- Answers 2 (committed), 0 (the version moved), 3 (the partition holds something: not a
-- first load) or 4 (the staged keys are not whole, e.g. expired); the staged keys are
-- gone in every case.
local function drop_staged(answer)
  redis.call('DEL', KEYS[4], KEYS[5])
  return answer
end
local current = tonumber(redis.call('HGET', KEYS[3], 'v') or '0')
if current ~= tonumber(ARGV[1]) then return drop_staged(0) end
-- The apply script's first-load rule (common.lua).
if not holds_nothing(KEYS[3], KEYS[2]) then return drop_staged(3) end
local n = tonumber(ARGV[3])
if redis.call('HLEN', KEYS[4]) ~= n or redis.call('ZCARD', KEYS[5]) ~= n then return drop_staged(4) end
redis.call('RENAME', KEYS[4], KEYS[1])
redis.call('PERSIST', KEYS[1])
redis.call('RENAME', KEYS[5], KEYS[2])
redis.call('PERSIST', KEYS[2])
-- As the apply script's first load: no history events, the horizon at the new version.
redis.call('HSET', KEYS[3], 'v', ARGV[2], 'n', ARGV[3], 'h', ARGV[2])
return 2
