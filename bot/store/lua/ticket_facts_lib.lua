-- Shared by the scripts that write analytics projections: every write is numbered, so a reader
-- that keeps projections in memory (bot/store/projections.py) fetches only what changed since.
-- gen: string counter; changed: zset ticket id -> number of its latest write; epoch: set once
-- when the counter starts (a flushed database starts a new one, and caches start over).
local function touch(gen_key, changed_key, epoch_key, id)
  local gen = redis.call('INCR', gen_key)
  if redis.call('EXISTS', epoch_key) == 0 then
    local now = redis.call('TIME')
    redis.call('SET', epoch_key, now[1] .. '.' .. now[2] .. ':' .. gen)
  end
  redis.call('ZADD', changed_key, gen, id)
  return gen
end
