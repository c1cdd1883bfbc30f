-- Shared helpers, prepended to every script when it is registered.
local function str(v) if v then return v end return '' end
local function ensure_group(key, group)
  redis.pcall('XGROUP', 'CREATE', key, group, '0', 'MKSTREAM')
end
local function unchanged(open, pos, sender, case_json, pos_json)
  return str(redis.call('HGET', open, sender)) == case_json and str(redis.call('HGET', pos, sender)) == pos_json
end
local function entry_fields(flat)
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end
