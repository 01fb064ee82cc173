-- wrk script: POST /token with client_credentials.
-- AUTH=basic: HTTP Basic with CLIENT_ID/CLIENT_SECRET; AUTH=post: credentials in the body.
local id, secret, auth = os.getenv("CLIENT_ID"), os.getenv("CLIENT_SECRET"), os.getenv("AUTH")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
if auth == "basic" then
  -- secrets are URL-safe base64, so no form-encoding is needed inside Basic
  local b64 = io.popen("printf '%s' '" .. id .. ":" .. secret .. "' | base64 -w0"):read("*a")
  wrk.headers["Authorization"] = "Basic " .. b64
  wrk.body = "grant_type=client_credentials"
else
  wrk.body = "grant_type=client_credentials&client_id=" .. id .. "&client_secret=" .. secret
end

local failures = 0
response = function(status, headers, body)
  if status ~= 200 then failures = failures + 1 end
end
