-- wrk script: POST /token grant_type=authorization_code with client_secret_basic
-- (CLIENT_ID/CLIENT_SECRET), one pre-minted code per request from CODES (each wrk thread
-- takes its own share), the PKCE verifier VERIFIER and REDIRECT_URI (form-encoded).
local threads, counter = {}, 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
function init(args)
  local id, n = wrk.thread:get("id"), tonumber(os.getenv("WRK_THREADS") or "2")
  local part, parts = tonumber(os.getenv("PART") or "0"), tonumber(os.getenv("PARTS") or "1")
  codes, next_code = {}, 1
  local i = 0
  for line in io.lines(os.getenv("CODES")) do
    if i % (n * parts) == id + n * part then table.insert(codes, line) end
    i = i + 1
  end
  local b64 = io.popen("printf '%s' '" .. os.getenv("CLIENT_ID") .. ":" .. os.getenv("CLIENT_SECRET") .. "' | base64 -w0"):read("*a")
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Basic " .. b64
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  suffix = "&redirect_uri=" .. os.getenv("REDIRECT_URI") .. "&code_verifier=" .. os.getenv("VERIFIER")
end
function request()
  local c = codes[next_code] or codes[#codes]
  next_code = next_code + 1
  return wrk.format(nil, nil, nil, "grant_type=authorization_code&code=" .. c .. suffix)
end
