-- Seed 000's vision enricher as a Lua stream hook: `HandleStream(message, session, spec)` runs
-- on every gRPC message of /vision.VisionService/StreamDetections.
--
-- On the way up it rewrites a camera alias in the DetectionRequest; on the way down it ends
-- the call for a blocked camera, drops the events of a dropped one, and fills
-- camera_location, camera_status and install_date of each DetectionEvent from config_data.
-- Verdicts: return the message to pass it (with `message.payload` replaced, if assigned),
-- nil to drop it, {grpc_status = N, grpc_message = "..."} to end the call.

-- A small protobuf codec: enough to read and replace length-delimited (string) fields while
-- every other byte of the message stays as it came.
local cjson = require("cjson")

local pb = {}

local function read_varint(bytes, pos)
  local value, shift = 0, 0
  while true do
    local byte = bytes:byte(pos)
    if byte == nil then
      error("truncated varint")
    end
    value = value | ((byte & 0x7f) << shift)
    pos = pos + 1
    if byte < 0x80 then
      return value, pos
    end
    shift = shift + 7
    if shift > 63 then
      error("varint too long")
    end
  end
end

local function varint(n)
  local out = {}
  repeat
    local byte = n & 0x7f
    n = n >> 7
    if n ~= 0 then
      byte = byte | 0x80
    end
    out[#out + 1] = string.char(byte)
  until n == 0
  return table.concat(out)
end

-- Every field as {num, first, last, text}: `text` is the content of a length-delimited field.
function pb.fields(bytes)
  local fields, pos = {}, 1
  while pos <= #bytes do
    local first = pos
    local key
    key, pos = read_varint(bytes, pos)
    local num, wire = key >> 3, key & 7
    local text
    if wire == 0 then
      _, pos = read_varint(bytes, pos)
    elseif wire == 1 then
      pos = pos + 8
    elseif wire == 2 then
      local len
      len, pos = read_varint(bytes, pos)
      text = bytes:sub(pos, pos + len - 1)
      pos = pos + len
    elseif wire == 5 then
      pos = pos + 4
    else
      error("unsupported wire type " .. wire)
    end
    if pos - 1 > #bytes then
      error("truncated field " .. num)
    end
    fields[#fields + 1] = { num = num, first = first, last = pos - 1, text = text }
  end
  return fields
end

-- The string in field `num` (the last one, as protobuf reads it), or "".
function pb.string(bytes, num)
  local found = ""
  for _, f in ipairs(pb.fields(bytes)) do
    if f.num == num and f.text ~= nil then
      found = f.text
    end
  end
  return found
end

-- `bytes` with the string fields of `values` (field number -> string) set.
function pb.set_strings(bytes, values)
  local kept = {}
  for _, f in ipairs(pb.fields(bytes)) do
    if values[f.num] == nil then
      kept[#kept + 1] = bytes:sub(f.first, f.last)
    end
  end
  local nums = {}
  for num in pairs(values) do
    nums[#nums + 1] = num
  end
  table.sort(nums)
  for _, num in ipairs(nums) do
    local text = values[num]
    kept[#kept + 1] = varint((num << 3) | 2) .. varint(#text) .. text
  end
  return table.concat(kept)
end

local function config(spec)
  local ok, value = pcall(cjson.decode, spec.config_data or "{}")
  if ok and type(value) == "table" then
    return value
  end
  return {}
end

local function listed(list, camera)
  for _, c in ipairs(list or {}) do
    if c == camera then
      return true
    end
  end
  return false
end

function HandleStream(message, session, spec)
  if message.method ~= "/vision.VisionService/StreamDetections" then
    return message
  end
  local conf = config(spec)
  local ok, camera = pcall(pb.string, message.payload, 1)
  if not ok then
    return message -- not a message this hook understands: pass it as it came
  end
  if message.direction == "to_upstream" then
    local alias = (conf.aliases or {})[camera]
    if alias ~= nil then
      message.payload = pb.set_strings(message.payload, { [1] = tostring(alias) })
    end
    return message
  end
  if listed(conf.blocked, camera) then
    return { grpc_status = 7, grpc_message = "camera " .. camera .. " is blocked" }
  end
  if listed(conf.dropped, camera) then
    return nil
  end
  local info = (conf.cameras or {})[camera]
  if type(info) ~= "table" then
    return message
  end
  local location = tostring(info.location or "")
  local tag = message.headers["X-Enrich-Tag"]
  if tag ~= nil then
    location = location .. " #" .. tag
  end
  message.payload = pb.set_strings(message.payload, {
    [4] = location,
    [5] = tostring(info.status or ""),
    [6] = tostring(info.install_date or ""),
  })
  return message
end
