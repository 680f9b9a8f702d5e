-- GET /api/csrf, each request from the next of ADDRESSES distinct client addresses (X-Forwarded-For,
-- believed because the bench sets TRUSTED_PROXIES=127.0.0.1).
local addresses = tonumber(os.getenv("ADDRESSES") or "100000")
local thread_count = tonumber(os.getenv("THREADS") or "2")
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function request()
  -- Threads interleave, so together they cover every address once per `addresses` requests.
  local n = (counter * thread_count + id) % addresses
  counter = counter + 1
  local address = string.format("10.%d.%d.%d", math.floor(n / 65536), math.floor(n / 256) % 256, n % 256)
  return wrk.format("GET", "/api/csrf", { ["X-Forwarded-For"] = address })
end
