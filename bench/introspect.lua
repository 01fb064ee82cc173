-- wrk script: POST /introspect with client_secret_basic (CLIENT_ID/CLIENT_SECRET) for TOKEN.
function init(args)
  local b64 = io.popen("printf '%s' '" .. os.getenv("CLIENT_ID") .. ":" .. os.getenv("CLIENT_SECRET") .. "' | base64 -w0"):read("*a")
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Basic " .. b64
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.body = "token=" .. os.getenv("TOKEN")
end
