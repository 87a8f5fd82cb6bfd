-- A Tyk-style Lua plugin (Tyk's coprocess Lua API), run by Weir's `lua` driver.
--
-- Hooks are global functions `Name(request, session, spec)` that return the request and the
-- session. `spec.config_data` is the API's config_data as JSON text.

local cjson = require("cjson")

local function config(spec)
  if spec.config_data == nil or spec.config_data == "" then
    return {}
  end
  local ok, value = pcall(cjson.decode, spec.config_data)
  if ok and type(value) == "table" then
    return value
  end
  return {}
end

-- pre: adds the header config_data names (X-Hello: from config by default) and drops the
-- client's X-Remove header.
function AddHeader(request, session, spec)
  local conf = config(spec)
  tyk.req.set_header(conf.header_name or "X-Hello", conf.header_value or "from lua")
  tyk.req.clear_header("X-Remove")
  return request, session
end

-- pre: answers 403 itself, without calling the upstream, when the client sends X-Block.
function Block(request, session, spec)
  if request.headers["X-Block"] ~= nil then
    request.return_overrides.response_code = 403
    request.return_overrides.response_error = "blocked by the lua plugin"
  end
  return request, session
end

-- auth_check: accepts `Authorization: Bearer lua-secret`, with a session of 100 requests
-- per minute named after the token, as Tyk's custom auth plugins do.
function BearerAuth(request, session, metadata, spec)
  if request.headers["Authorization"] ~= "Bearer lua-secret" then
    request.return_overrides.response_code = 403
    request.return_overrides.response_error = "Access to this API has been disallowed"
    return request, session, metadata
  end
  session = session or {} -- an auth hook gets no session: it makes one
  session.rate = 100
  session.per = 60
  session.quota_max = -1
  session.metadata = { user = "lua-user" }
  metadata.token = "lua-secret"
  return request, session, metadata
end
