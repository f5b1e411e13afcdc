-- wrk script for the requests served while waiters are held: each connection waits 4 ms
-- between its requests (16 connections: at most about 4,000 requests a second, below what
-- either server answers here), so the latencies are the server's and not a queue behind a
-- saturated machine that wrk itself shares. The Origin (not a frontend's) sends the probe
-- through the app's route and hooks like any request (see origin.lua); bare Flask ignores it.
wrk.headers["Origin"] = "https://bench.invalid"
function delay()
  return 4
end
