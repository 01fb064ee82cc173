-- wrk script: GET /authorize?prompt=none with a session cookie (SESSION_COOKIE), each
-- answer a 303 whose Location carries a fresh code; every code is appended to
-- CODES.<thread id> for redeem.lua. QUERY is the authorization request.
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
function init(args)
  out = io.open(os.getenv("CODES") .. "." .. wrk.thread:get("id"), "w")
  wrk.headers["Cookie"] = os.getenv("SESSION_COOKIE")
  wrk.path = "/authorize?" .. os.getenv("QUERY")
end
response = function(status, headers, body)
  local loc = headers["Location"] or headers["location"]
  if status == 303 and loc then
    local code = string.match(loc, "[?&]code=([^&]+)")
    if code then out:write(code, "\n"); out:flush() end
  end
end
