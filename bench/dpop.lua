-- wrk script: POST /token with client_secret_basic and a pre-generated, never reused
-- DPoP proof per request. PROOFS: one proof per line; CLIENT_ID/CLIENT_SECRET: Basic.
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  local id, n = wrk.thread:get("id"), tonumber(os.getenv("WRK_THREADS") or "2")
  -- PART of PARTS: when several wrk processes (one per node) share one file.
  local part, parts = tonumber(os.getenv("PART") or "0"), tonumber(os.getenv("PARTS") or "1")
  proofs, next_proof = {}, 1
  local i = 0
  for line in io.lines(os.getenv("PROOFS")) do
    if i % (n * parts) == id + n * part then table.insert(proofs, line) end
    i = i + 1
  end
  local b64 = io.popen("printf '%s' '" .. os.getenv("CLIENT_ID") .. ":" .. os.getenv("CLIENT_SECRET") .. "' | base64 -w0"):read("*a")
  headers = { ["Authorization"] = "Basic " .. b64, ["Content-Type"] = "application/x-www-form-urlencoded" }
end

function request()
  headers["DPoP"] = proofs[next_proof] or proofs[#proofs]
  next_proof = next_proof + 1
  return wrk.format("POST", nil, headers, "grant_type=client_credentials")
end
