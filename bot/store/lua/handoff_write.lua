-- Compare-and-set one case, optionally moving its waiting entry, optionally recording an idempotency key.
-- KEYS: open, pos, old stream, new stream, idempotency key
-- ARGV: group, sender, expected case JSON ('' = none), expected pos JSON ('' = none), new case JSON,
--       move ('1' = XDEL the old entry if any and XADD to the new stream), idempotency TTL in ms
--       ('' = no key), new stream name, entry fields...
local open, pos, sender = KEYS[1], KEYS[2], ARGV[2]
if ARGV[7] ~= '' and redis.call('EXISTS', KEYS[5]) == 1 then
  return {'duplicate', str(redis.call('HGET', open, sender)), str(redis.call('HGET', pos, sender)),
          str(redis.call('GET', KEYS[5]))}
end
if not unchanged(open, pos, sender, ARGV[3], ARGV[4]) then return {'conflict'} end
local where = ARGV[4]
if ARGV[6] == '1' then
  if where ~= '' then
    local old = cjson.decode(where)
    if str(old.agent) ~= '' then return {'conflict'} end
    redis.call('XDEL', KEYS[3], old.id)
  end
  ensure_group(KEYS[4], ARGV[1])
  local id = redis.call('XADD', KEYS[4], '*', unpack(ARGV, 9))
  where = cjson.encode({stream = ARGV[8], id = id, agent = '', at = ''})
  redis.call('HSET', pos, sender, where)
end
redis.call('HSET', open, sender, ARGV[5])
if ARGV[7] ~= '' then redis.call('SET', KEYS[5], ARGV[5], 'PX', ARGV[7]) end
return {'ok', ARGV[5], where}
