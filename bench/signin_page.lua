-- wrk script: GET /authorize without a session, past the Negotiate probe (the probe
-- cookie says two challenges went unanswered): the sign-in page rendered with a 200.
function init(args)
  wrk.headers["Cookie"] = "ahdapa-negotiate=2"
  wrk.path = "/authorize?" .. os.getenv("QUERY")
end
