-- Writes one page's outcome for one (client, source) atomically.
-- KEYS: 1 st, 2 pin, 3 sent, 4 page, 5 links, 6 cerr, 7 uerr, 8 derr, 9 urb, 10 cdel
-- ARGV: 1 JSON payload (see store.rs `Commit`)
local p = cjson.decode(ARGV[1])
local gen = redis.call('HGET', KEYS[1], 'gen') or ''
if p.gen ~= gen then return 'conflict' end
redis.call('HINCRBY', KEYS[1], 'gen', 1)
for field, value in pairs(p.st) do
  if value == cjson.null then redis.call('HDEL', KEYS[1], field)
  else redis.call('HSET', KEYS[1], field, value) end
end
if #p.pin_del > 0 then multi_write('HDEL', KEYS[2], p.pin_del, 1) end
if #p.pin_set > 0 then multi_write('HSET', KEYS[2], p.pin_set, 2) end
if p.sent_clear then redis.call('DEL', KEYS[3]) end
if #p.sent_del > 0 then multi_write('HDEL', KEYS[3], p.sent_del, 1) end
if #p.sent_set > 0 then multi_write('HSET', KEYS[3], p.sent_set, 2) end
if p.page == cjson.null then redis.call('DEL', KEYS[4])
elseif p.page ~= '' then redis.call('SET', KEYS[4], p.page) end
for k = 1, 6 do
  local consumed = p.consume[k]
  if #consumed > 0 then multi_write('HDEL', KEYS[4 + k], consumed, 1) end
  local added = p.add[k]
  if #added > 0 then multi_write('HSET', KEYS[4 + k], added, 2) end
end
return 'ok'
