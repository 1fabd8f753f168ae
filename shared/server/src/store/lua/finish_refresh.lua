-- Records a refresh's outcome: source errors, metadata, schema and the retry bookkeeping
-- of docs/sync-engine.md §4.3.
-- KEYS: 1 src, 2 rs
-- ARGV: 1 errors JSON ('' = none), 2 metadata ('-' = keep), 3 metadata sha1,
--       4 schema ('-' = keep), 5 schema sha1, 6 failed (1/0), 7 poll interval,
--       8 retry limit, 9 now
if ARGV[1] == '' then redis.call('HDEL', KEYS[1], 'errors')
else redis.call('HSET', KEYS[1], 'errors', ARGV[1]) end
if ARGV[2] ~= '-' then redis.call('HSET', KEYS[1], 'metadata', ARGV[2], 'metadata_sha1', ARGV[3]) end
if ARGV[4] ~= '-' then redis.call('HSET', KEYS[1], 'schema', ARGV[4], 'schema_sha1', ARGV[5]) end
local poll = tonumber(ARGV[7])
if poll ~= 0 then
  local now = tonumber(ARGV[9])
  local failed = ARGV[6] == '1'
  local prev = tonumber(redis.call('HGET', KEYS[2], 'prev_refresh_time') or ARGV[9])
  if (not failed) or now - prev >= poll then
    redis.call('HSET', KEYS[2], 'prev_refresh_time', now, 'retry_counter', 0)
    prev = now
  end
  if failed then
    local rc = tonumber(redis.call('HGET', KEYS[2], 'retry_counter') or '0')
    if rc < tonumber(ARGV[8]) then
      redis.call('HSET', KEYS[2], 'retry_counter', rc + 1, 'refresh_time', prev)
    else
      redis.call('HSET', KEYS[2], 'retry_counter', 0)
    end
  end
end
return 1
