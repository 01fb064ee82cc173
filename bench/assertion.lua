-- wrk script: POST /token with a pre-generated, never reused client assertion per request.
-- ASSERTIONS: file with one assertion per line; each wrk thread takes its own share.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local id, n = wrk.thread:get("id"), tonumber(os.getenv("WRK_THREADS") or "2")
  -- PART of PARTS: when several wrk processes (one per node) share one file.
  local part, parts = tonumber(os.getenv("PART") or "0"), tonumber(os.getenv("PARTS") or "1")
  lines, next_line = {}, 1
  local i = 0
  for line in io.lines(os.getenv("ASSERTIONS")) do
    if i % (n * parts) == id + n * part then table.insert(lines, line) end
    i = i + 1
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

-- CLIENT_ID (optional): sent in the body, for federated clients whose assertions' sub is
-- the platform's subject rather than the client_id.
local prefix = "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion="
if os.getenv("CLIENT_ID") then
  prefix = "client_id=" .. os.getenv("CLIENT_ID") .. "&" .. prefix
end

function request()
  local a = lines[next_line] or lines[#lines]
  next_line = next_line + 1
  return wrk.format(nil, nil, nil, prefix .. a)
end
