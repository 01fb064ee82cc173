-- wrk script: GET an identity API path with a Bearer TOKEN (the path is wrk's URL).
function init(args)
  wrk.method = "GET"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
  wrk.headers["Accept"] = "application/json"
end
