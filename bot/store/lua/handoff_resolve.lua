-- Acknowledge and close a case.
-- KEYS: open, pos, the stream holding its entry, resolved
-- ARGV: group, sender, expected case JSON, expected pos JSON, entry id, resolved record JSON
local open, pos, sender = KEYS[1], KEYS[2], ARGV[2]
if not unchanged(open, pos, sender, ARGV[3], ARGV[4]) then return 'conflict' end
redis.call('XACK', KEYS[3], ARGV[1], ARGV[5])
redis.call('XDEL', KEYS[3], ARGV[5])
redis.call('HDEL', open, sender)
redis.call('HDEL', pos, sender)
redis.call('HSET', KEYS[4], sender, ARGV[6])
return 'ok'
