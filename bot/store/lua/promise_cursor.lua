-- Move a conversation's scanning cursor forward, never back (bot/store/promises.py, set_scan_cursor).
-- KEYS: cursors hash. ARGV: sender id, number of events scanned.
-- Returns the cursor as stored afterwards.
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local wanted = tonumber(ARGV[2])
if wanted > current then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return wanted
end
return current
