-- Creation, atomically. KEYS: idempotency, sequence, created zset, sender zset, customer zset,
-- progress zset, order zset, facts hash, facts gen, facts changed zset, facts epoch. ARGV: ticket key prefix, id prefix (TS + date), ticket
-- JSON without its id, idempotency TTL, created_at, has customer (1/0), progress score or "",
-- sequence TTL, has order (1/0), analytics projection JSON without its id or "" (none written).
local existing = redis.call('GET', KEYS[1])
if existing then
  local body = redis.call('GET', ARGV[1] .. existing)
  return {0, existing, body or ''}
end
local seq = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[8])
local id = ARGV[2] .. string.format('%04d', seq)
local body = '{"id": "' .. id .. '", ' .. string.sub(ARGV[3], 2)
redis.call('SET', ARGV[1] .. id, body)
redis.call('SET', KEYS[1], id, 'EX', ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[5], id)
redis.call('ZADD', KEYS[4], ARGV[5], id)
if ARGV[6] == '1' then
  redis.call('ZADD', KEYS[5], ARGV[5], id)
end
if ARGV[7] ~= '' then
  redis.call('ZADD', KEYS[6], ARGV[7], id)
end
if ARGV[9] == '1' then
  redis.call('ZADD', KEYS[7], ARGV[5], id)
end
if ARGV[10] ~= nil and ARGV[10] ~= '' then
  redis.call('HSET', KEYS[8], id, '{"id":"' .. id .. '",' .. string.sub(ARGV[10], 2))
  touch(KEYS[9], KEYS[10], KEYS[11], id)
end
return {1, id, body}
