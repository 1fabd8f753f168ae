-- One query step for one (client, source): token action, refresh decision and, when a
-- page must be built, everything the planner reads — in one atomic call.
-- KEYS: 1 st, 2 pin, 3 sent, 4 page, 5 rs, 6 head, 7 src, 8 md, 9 idx, 10 hist,
--       11 links, 12 cerr, 13 uerr, 14 derr, 15 urb, 16 cdel
-- ARGV: 1 token present (1/0), 2 token, 3 now (s), 4 poll interval, 5 may refresh (1/0),
--       6 slice limit, 7 mode (begin|read|probe), 8 scan start override ('' = from state),
--       9 first read of the request (1/0): include pinned and pending docs, allow the
--         in-step shortcut, 10 leave the bodies to the caller when more ids than this are
--         read ('' never): the reply says 'defer' in their place, and the caller reads
--         them with a plain HMGET (cheaper than through the script) and checks that the
--         partition version is still the one read here
local mode = ARGV[7]
local action = 'new'
-- probe: read without writing, for a query without a token that will run no token action
-- (no page pending) and may not need a refresh (a refresh time is recorded; the caller
-- decides, as it alone knows the effective poll interval). 'busy' tells the pending
-- page's token ('' none): the request's first look (rhosync_engine::model::FirstLook).
local rt_seen = nil
if mode == 'probe' then
  rt_seen = redis.call('HGET', KEYS[5], 'refresh_time')
  if not rt_seen then return {'busy', redis.call('HGET', KEYS[1], 'tok') or ''} end
end
if mode == 'begin' then
  local stored = redis.call('HGET', KEYS[1], 'tok')
  if stored then
    if ARGV[1] == '1' and ARGV[2] == stored then action = 'ack'
    elseif ARGV[1] == '1' then action = 'resend'
    else action = 'reset' end
  end
  if action == 'resend' then
    return {'resend', redis.call('GET', KEYS[4]) or '', redis.call('HGET', KEYS[7], 'errors') or ''}
  end
  if action == 'reset' then
    return {'reset', redis.call('GET', KEYS[4]) or '', redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2])}
  end
  if action == 'ack' then
    redis.call('DEL', KEYS[4])
    redis.call('HDEL', KEYS[1], 'tok')
    -- A new generation: a simultaneous request's reset read before this cannot undo the
    -- page the device acknowledged (docs/sync-engine.md §5.7).
    redis.call('HINCRBY', KEYS[1], 'gen', 1)
    -- The acknowledged page ended its scan cycle (rhosync_engine::model::complete_on_ack):
    -- complete it now, so this request is answered like any in-step one.
    local fin = redis.call('HGET', KEYS[1], 'fin')
    if fin then
      redis.call('HSET', KEYS[1], 'base', fin)
      redis.call('HDEL', KEYS[1], 'scan', 'fin', 'pm')
      redis.call('DEL', KEYS[3])
    end
  end
  if ARGV[5] == '1' then
    local now = tonumber(ARGV[3])
    local poll = tonumber(ARGV[4])
    local rt = redis.call('HGET', KEYS[5], 'refresh_time')
    if not rt then
      redis.call('HSET', KEYS[5], 'refresh_time', now, 'prev_refresh_time', now, 'retry_counter', 0)
      rt = now
    else
      rt = tonumber(rt)
    end
    if poll == 0 or (poll ~= -1 and rt <= now) then
      redis.call('HSET', KEYS[5], 'prev_refresh_time', rt, 'refresh_time', now + poll)
      return {'refresh', action}
    end
  end
end

-- Only the fields the decisions need (HMGET: `false` for a missing field); a page's read
-- returns the whole hashes at the end.
local stv = redis.call('HMGET', KEYS[1], 'base', 'scan', 'msha', 'ssha', 'tok', 'pm')
local base, scan = stv[1], stv[2]
if mode == 'probe' and stv[5] then return {'busy', stv[5]} end
local head = redis.call('HMGET', KEYS[6], 'v', 'h', 'n')
local v = tonumber(head[1] or '0') or 0
local h = tonumber(head[2] or '0') or 0
local n = tonumber(head[3] or '0') or 0

if ARGV[9] == '1' and not scan and base == (head[1] or '0') then
  local src = redis.call('HMGET', KEYS[7], 'metadata_sha1', 'schema_sha1', 'errors')
  -- Empty hashes do not exist: one EXISTS covers the pinned and the six pending docs.
  local in_step = (not src[1] or src[1] == stv[3]) and (not src[2] or src[2] == stv[4])
    and redis.call('EXISTS', KEYS[2], KEYS[11], KEYS[12], KEYS[13], KEYS[14], KEYS[15], KEYS[16]) == 0
  if in_step then
    return {'fast', action, tostring(n), src[3] or '', rt_seen or ''}
  end
end

local start
if ARGV[8] ~= '' then
  start = tonumber(ARGV[8])
elseif base and base ~= 'e' and tonumber(base) < h then
  start = 0
elseif scan then
  start = tonumber(scan)
elseif base and base ~= 'e' then
  start = tonumber(base)
else
  start = 0
end
local limit = tonumber(ARGV[6])
local slice = {}
local last = true
if limit > 0 then
  slice = redis.call('ZRANGEBYSCORE', KEYS[9], '(' .. start, '+inf', 'WITHSCORES', 'LIMIT', 0, limit + 1)
  if #slice > 2 * limit then
    last = false
    slice[#slice] = nil
    slice[#slice] = nil
  end
end
local pin = {}
if ARGV[9] == '1' then pin = redis.call('HGETALL', KEYS[2]) end
local ids, pids = {}, {}
for i = 1, #slice, 2 do ids[#ids + 1] = slice[i] end
local nslice = #ids
for i = 1, #pin, 2 do ids[#ids + 1] = pin[i]; pids[#pids + 1] = pin[i] end
-- Only what the belief can consult (rhosync_engine::model::believed_body): the bodies; the
-- latest versions of pinned ids (the slice carries its own); sent entries if the map
-- exists; histories of pinned ids, of ids with a sent entry, of every id for a client
-- with a base version, and of slice ids changed since the cycle's first page mark.
-- Histories travel as id, text pairs.
local md, hist, latest, sent = {}, {}, {}, {}
if #ids > 0 then
  local defer = tonumber(ARGV[10] or '')
  if defer and #ids > defer then md = 'defer' else md = multi_get('HMGET', KEYS[8], ids) end
  if #pids > 0 then latest = multi_get('ZMSCORE', KEYS[9], pids) end
  if redis.call('EXISTS', KEYS[3]) == 1 then sent = multi_get('HMGET', KEYS[3], ids) end
  local hids = {}
  if base and base ~= 'e' then
    hids = ids
  else
    local h1 = tonumber(string.match(stv[6] or '', '^(%d+):') or '')
    if h1 or #sent > 0 then
      for i = 1, nslice do
        if sent[i] or (h1 and tonumber(slice[2 * i]) > h1) then hids[#hids + 1] = ids[i] end
      end
    end
    for i = 1, #pids do hids[#hids + 1] = pids[i] end
  end
  if #hids > 0 then
    local got = multi_get('HMGET', KEYS[10], hids)
    for i = 1, #hids do
      if got[i] then hist[#hist + 1] = hids[i]; hist[#hist + 1] = got[i] end
    end
  end
end
local pend = {}
if ARGV[9] == '1' then
  for k = 11, 16 do pend[#pend + 1] = redis.call('HGETALL', KEYS[k]) end
end
-- A RESP array rather than JSON: bodies travel as they are stored, without escaping. The
-- bodies are those of the slice's ids then the pinned ones, which the caller has already.
return {'build', action, tostring(v), tostring(h), tostring(n), rt_seen or '', last and '1' or '0',
  redis.call('HGETALL', KEYS[1]), pin, redis.call('HGETALL', KEYS[7]),
  slice, md, hist, latest, sent, pend}
