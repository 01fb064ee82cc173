-- wrk script: POST /token grant_type=refresh_token for a public client (CLIENT_ID), each
-- request with a refresh token never used before: every answer carries the rotated
-- token, which goes back on this thread's queue, so each connection walks a rotation
-- chain. TOKENS holds the first token of each chain (each thread takes its share).
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
function init(args)
  local id, n = wrk.thread:get("id"), tonumber(os.getenv("WRK_THREADS") or "2")
  local part, parts = tonumber(os.getenv("PART") or "0"), tonumber(os.getenv("PARTS") or "1")
  queue, head, tail = {}, 1, 0
  local i = 0
  for line in io.lines(os.getenv("TOKENS")) do
    if i % (n * parts) == id + n * part then tail = tail + 1; queue[tail] = line end
    i = i + 1
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  prefix = "grant_type=refresh_token&client_id=" .. os.getenv("CLIENT_ID") .. "&refresh_token="
end
function request()
  local t = queue[head]
  if t == nil then t = "exhausted" else queue[head] = nil; head = head + 1 end
  return wrk.format(nil, nil, nil, prefix .. t)
end
response = function(status, headers, body)
  local t = string.match(body, '"refresh_token":"([^"]+)"')
  if t then tail = tail + 1; queue[tail] = t end
end
