-- Deliver the most urgent head-of-stream entry to an agent.
-- KEYS: open, pos, queue streams...   ARGV: group, agent, now, queue names (parallel to the streams)...
local open, pos, group, agent = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
local function last_delivered(key)
  for _, info in ipairs(redis.call('XINFO', 'GROUPS', key)) do
    local g = entry_fields(info)
    if g['name'] == group then return g['last-delivered-id'] end
  end
  return '0-0'
end
-- The first undelivered entry of a stream that still belongs to an open waiting case;
-- entries nobody refers to any more are deleted on the way.
local function head(key, queue)
  for _ = 1, 100 do
    local entry = redis.call('XRANGE', key, '(' .. last_delivered(key), '+', 'COUNT', 1)[1]
    if not entry then return nil end
    local f = entry_fields(entry[2])
    local where = redis.call('HGET', pos, f.sender_id)
    if where then
      local p = cjson.decode(where)
      if p.id == entry[1] and p.stream == queue and str(p.agent) == '' then
        return {id = entry[1], sender = f.sender_id, rank = tonumber(f.rank), deadline = tonumber(f.deadline)}
      end
    end
    redis.call('XDEL', key, entry[1])
  end
  return nil
end
local best, best_i = nil, nil
for i = 3, #KEYS do
  ensure_group(KEYS[i], group)
  local h = head(KEYS[i], ARGV[i + 1])
  if h and (not best or h.rank < best.rank or (h.rank == best.rank and h.deadline < best.deadline)) then
    best, best_i = h, i
  end
end
if not best then return false end
local got = redis.call('XREADGROUP', 'GROUP', group, agent, 'COUNT', 1, 'STREAMS', KEYS[best_i], '>')
local id = got[1][2][1][1]
if id ~= best.id then return redis.error_reply('handoff: delivered ' .. id .. ' instead of ' .. best.id) end
local where = cjson.encode({stream = ARGV[best_i + 1], id = id, agent = agent, at = ARGV[3]})
redis.call('HSET', pos, best.sender, where)
return {best.sender, str(redis.call('HGET', open, best.sender)), where}
