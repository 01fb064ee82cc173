-- wrk script: POST /token grant_type=urn:ietf:params:oauth:grant-type:device_code for
-- pending device codes (one per line in DEVICE_CODES, cycled), as a host polls while
-- its person has not approved yet: every answer is 400 authorization_pending or
-- slow_down. CLIENT_ID is the public device client.
function init(args)
  codes = {}
  for line in io.lines(os.getenv("DEVICE_CODES")) do table.insert(codes, line) end
  next_code = 1
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  prefix = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id=" .. os.getenv("CLIENT_ID") .. "&device_code="
end
function request()
  local c = codes[next_code]
  next_code = next_code % #codes + 1
  return wrk.format(nil, nil, nil, prefix .. c)
end
response = function(status, headers, body)
  if status ~= 400 or not (string.find(body, "authorization_pending", 1, true) or string.find(body, "slow_down", 1, true)) then
    io.stderr:write("unexpected poll answer ", status, " ", body, "\n")
    os.exit(1)
  end
end
