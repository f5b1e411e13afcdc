-- wrk script for the original FastAPI backend's reads. Its slowapi limits are hard-coded
-- (10 a minute for /blogs/all, 20 for /blogs/by-slug, per address; 30 and 60 per X-API-Key,
-- which it never validates) and exceeding them answers 500, not 429. A new X-API-Key every 25
-- requests keeps its limiter running (its Redis round trips stay in the cost) without tripping.
local count, id = 0, ""
local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
function init(args) id = tostring(tid) .. "-" .. tostring(os.time()) end
function request()
  count = count + 1
  return wrk.format(nil, nil, {["X-API-Key"] = "bench-" .. id .. "-" .. math.floor(count / 25)})
end
