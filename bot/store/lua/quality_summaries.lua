-- The summaries of the conversations checked in a window, one per line (one reply to parse).
-- KEYS: checked (zset sender -> checked_at), summary (hash sender -> "<checked_at>|<verdicts>")
-- ARGV: min score, max score (ZRANGEBYSCORE syntax, e.g. "1700000000" and "(1700086400")
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[2])
local out = {}
for i = 1, #ids, 1000 do
  local chunk = {}
  for j = i, math.min(i + 999, #ids) do chunk[#chunk + 1] = ids[j] end
  for _, summary in ipairs(redis.call('HMGET', KEYS[2], unpack(chunk))) do
    if summary then out[#out + 1] = summary end
  end
end
return table.concat(out, '\n')
