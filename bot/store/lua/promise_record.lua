-- Record a promise once per source key (bot/store/promises.py, PromiseLedger.record).
-- KEYS: sources hash, promises hash, pending zset, unalerted zset, made zset, sender zset, day counters hash,
--       ticket zset (only when ARGV[7] is '1')
-- ARGV: source key, promise id, promise JSON, due, made_at, kind, has ticket ('1'/'0')
-- Returns {1, id, JSON} for a new promise, {0, id, JSON} for the one already recorded under the source key.
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if existing then
  return {0, existing, redis.call('HGET', KEYS[2], existing) or ''}
end
local id = ARGV[2]
redis.call('HSET', KEYS[1], ARGV[1], id)
redis.call('HSET', KEYS[2], id, ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[4], id)
redis.call('ZADD', KEYS[4], ARGV[4], id)
redis.call('ZADD', KEYS[5], ARGV[5], id)
redis.call('ZADD', KEYS[6], ARGV[5], id)
if ARGV[7] == '1' then
  redis.call('ZADD', KEYS[8], ARGV[5], id)
end
redis.call('HINCRBY', KEYS[7], 'pending', 1)
redis.call('HINCRBY', KEYS[7], ARGV[6] .. ':pending', 1)
return {1, id, ARGV[3]}
