-- Deliver one specific waiting case to an agent through the direct stream.
-- KEYS: open, pos, the case's queue stream, direct stream
-- ARGV: group, agent, now, sender, expected case JSON, expected pos JSON, entry fields...
local open, pos, group, agent, sender = KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[4]
if not unchanged(open, pos, sender, ARGV[5], ARGV[6]) then return {'conflict'} end
local p = cjson.decode(ARGV[6])
if str(p.agent) ~= '' then return {'taken', ARGV[6]} end
redis.call('XDEL', KEYS[3], p.id)
ensure_group(KEYS[4], group)
local id = redis.call('XADD', KEYS[4], '*', unpack(ARGV, 7))
for _ = 1, 100 do
  local got = redis.call('XREADGROUP', 'GROUP', group, agent, 'COUNT', 1, 'STREAMS', KEYS[4], '>')
  local read = got[1][2][1][1]
  if read == id then break end
  redis.call('XACK', KEYS[4], group, read)  -- a stray entry (should not exist): drop it
  redis.call('XDEL', KEYS[4], read)
end
local where = cjson.encode({stream = 'direct', id = id, agent = agent, at = ARGV[3]})
redis.call('HSET', pos, sender, where)
return {'ok', ARGV[5], where}
