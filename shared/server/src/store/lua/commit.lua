-- Writes one page's outcome for one (client, source) atomically.
-- KEYS: 1 st, 2 pin, 3 sent, 4 page, 5 links, 6 cerr, 7 uerr, 8 derr, 9 urb, 10 cdel,
--   11 the staged page (page action 'move' only)
-- ARGV (see commit.rs `SyncStore::commit`): 1 gen, 2 page action ('' keep, 'del', 'set',
--   'move': the caller wrote the page text to KEYS[11] in the same pipeline, natively, as a
--   script argument of hundreds of kilobytes costs Redis eight times more),
--   3 page text, 4 clear the sent map (1/0), then sections, each a count of items followed
--   by the items: st fields to set (pairs), st fields to delete, pinned ids to delete,
--   pinned entries to set (pairs), sent ids to delete, sent entries to set (pairs), then
--   for each of the six pending hashes its consumed fields and its added entries (pairs).
-- Plain arguments rather than one JSON document: a page of thousands of objects is
-- neither escaped into JSON nor decoded here.
local gen = redis.call('HGET', KEYS[1], 'gen') or ''
if ARGV[1] ~= gen then
  if ARGV[2] == 'move' then redis.call('DEL', KEYS[11]) end
  return 'conflict'
end
local at = 5
local function section()
  local n = tonumber(ARGV[at])
  local items = {}
  for i = 1, n do items[i] = ARGV[at + i] end
  at = at + n + 1
  return items
end
local st_set, st_del = section(), section()
local pin_del, pin_set = section(), section()
local sent_del, sent_set = section(), section()
redis.call('HINCRBY', KEYS[1], 'gen', 1)
if #st_set > 0 then multi_write('HSET', KEYS[1], st_set, 2) end
if #st_del > 0 then multi_write('HDEL', KEYS[1], st_del, 1) end
if #pin_del > 0 then multi_write('HDEL', KEYS[2], pin_del, 1) end
if #pin_set > 0 then multi_write('HSET', KEYS[2], pin_set, 2) end
if ARGV[4] == '1' then redis.call('DEL', KEYS[3]) end
if #sent_del > 0 then multi_write('HDEL', KEYS[3], sent_del, 1) end
if #sent_set > 0 then multi_write('HSET', KEYS[3], sent_set, 2) end
if ARGV[2] == 'del' then redis.call('DEL', KEYS[4])
elseif ARGV[2] == 'set' then redis.call('SET', KEYS[4], ARGV[3])
elseif ARGV[2] == 'move' then
  -- The staged copy expires if its commit never runs; the stored page does not.
  redis.call('RENAME', KEYS[11], KEYS[4])
  redis.call('PERSIST', KEYS[4])
end
for k = 1, 6 do
  local consumed, added = section(), section()
  if #consumed > 0 then multi_write('HDEL', KEYS[4 + k], consumed, 1) end
  if #added > 0 then multi_write('HSET', KEYS[4 + k], added, 2) end
end
return 'ok'
