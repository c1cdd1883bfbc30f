-- XAUTOCLAIM every entry idle longer than min_idle to an agent.
-- KEYS: pos, streams...   ARGV: group, agent, min idle ms, now, stream names (parallel to the streams)...
local pos, group, agent = KEYS[1], ARGV[1], ARGV[2]
local moved = {}
for i = 2, #KEYS do
  ensure_group(KEYS[i], group)
  local cursor = '0-0'
  repeat
    local res = redis.call('XAUTOCLAIM', KEYS[i], group, agent, ARGV[3], cursor, 'COUNT', 100)
    cursor = res[1]
    for _, entry in ipairs(res[2]) do
      local f = entry_fields(entry[2])
      local where = redis.call('HGET', pos, f.sender_id)
      local p = where and cjson.decode(where)
      if p and p.id == entry[1] and p.stream == ARGV[i + 3] then
        p.agent, p.at = agent, ARGV[4]
        redis.call('HSET', pos, f.sender_id, cjson.encode(p))
        table.insert(moved, f.sender_id)
      else
        redis.call('XACK', KEYS[i], group, entry[1])  -- nobody refers to it any more
        redis.call('XDEL', KEYS[i], entry[1])
      end
    end
  until cursor == '0-0'
end
return moved
