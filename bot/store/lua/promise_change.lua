-- Change one promise if it is still as the caller read it (compare-and-set), with its indexes and counters
-- (bot/store/promises.py, PromiseLedger._change).
-- KEYS: promises hash, day counters hash, then the zsets the operations name (by position: 3, 4, ...)
-- ARGV: promise id, expected JSON, new JSON, counter bucket before, counter bucket after, kind,
--       then operations as triples: 'zadd' or 'zrem', the KEYS index of a zset, the score ('' for zrem)
-- Returns 1 when written, 0 when the promise changed since it was read (the caller reads again).
local id = ARGV[1]
if redis.call('HGET', KEYS[1], id) ~= ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[1], id, ARGV[3])
if ARGV[4] ~= ARGV[5] then
  redis.call('HINCRBY', KEYS[2], ARGV[4], -1)
  redis.call('HINCRBY', KEYS[2], ARGV[6] .. ':' .. ARGV[4], -1)
  redis.call('HINCRBY', KEYS[2], ARGV[5], 1)
  redis.call('HINCRBY', KEYS[2], ARGV[6] .. ':' .. ARGV[5], 1)
end
local i = 7
while i + 1 <= #ARGV do
  local key = KEYS[tonumber(ARGV[i + 1])]
  if ARGV[i] == 'zadd' then
    redis.call('ZADD', key, ARGV[i + 2], id)
  else
    redis.call('ZREM', key, id)
  end
  i = i + 3
end
return 1
