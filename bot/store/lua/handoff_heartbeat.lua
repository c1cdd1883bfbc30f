-- Reset the idle time of everything an agent holds (XCLAIM to itself, JUSTID: no delivery counted).
-- KEYS: streams...   ARGV: group, agent
local group, agent, n = ARGV[1], ARGV[2], 0
for i = 1, #KEYS do
  ensure_group(KEYS[i], group)
  local args = {'XCLAIM', KEYS[i], group, agent, 0}
  for _, p in ipairs(redis.call('XPENDING', KEYS[i], group, '-', '+', 1000, agent)) do
    table.insert(args, p[1])
  end
  if #args > 5 then
    table.insert(args, 'JUSTID')
    n = n + #redis.call(unpack(args))
  end
end
return n
