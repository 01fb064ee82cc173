-- wrk script: POST /token with an RFC 8693 token exchange: the client (HTTP Basic with
-- CLIENT_ID/CLIENT_SECRET) exchanges SUBJECT_TOKEN (one of ahdapa's access tokens) for a
-- narrower one for AUDIENCE (form-encoded already).
local id, secret = os.getenv("CLIENT_ID"), os.getenv("CLIENT_SECRET")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
local b64 = io.popen("printf '%s' '" .. id .. ":" .. secret .. "' | base64 -w0"):read("*a")
wrk.headers["Authorization"] = "Basic " .. b64
wrk.body = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange"
  .. "&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token"
  .. "&subject_token=" .. os.getenv("SUBJECT_TOKEN")
  .. "&audience=" .. os.getenv("AUDIENCE")
  .. "&scope=" .. (os.getenv("SCOPE") or "bench")
