-- Stores analytics projections computed from their tickets (TicketStore.all_facts), each only if
-- the stored value is still the one that was read: a projection written meanwhile by an update
-- is newer and stays. KEYS: facts hash, facts gen, facts changed zset, facts epoch. ARGV: triples
-- of ticket id, the value read ("" when there was none), the new projection. Returns how many
-- were stored (each numbered like every projection write).
local written = 0
for i = 1, #ARGV, 3 do
  local current = redis.call('HGET', KEYS[1], ARGV[i])
  if (current == false and ARGV[i + 1] == '') or current == ARGV[i + 1] then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
    touch(KEYS[2], KEYS[3], KEYS[4], ARGV[i])
    written = written + 1
  end
end
return written
