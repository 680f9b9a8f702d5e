-- GET the path wrk is given with a Bearer token (ACCESS_TOKEN), each request from the next of ADDRESSES
-- distinct client addresses (X-Forwarded-For, believed because the bench sets TRUSTED_PROXIES=127.0.0.1),
-- so the per-address rate limit is exercised on every request but never the thing measured.
local token = os.getenv("ACCESS_TOKEN")
local addresses = tonumber(os.getenv("ADDRESSES") or "100000")
local counter = 0

function init(args)
  counter = math.random(0, addresses)
end

function request()
  counter = counter + 1
  local n = counter % addresses
  local address = string.format("10.%d.%d.%d", math.floor(n / 65536), math.floor(n / 256) % 256, n % 256)
  return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. token, ["X-Forwarded-For"] = address })
end

function done(summary, latency, requests)
  -- wrk's --latency table has no 95th percentile.
  io.write(string.format("p95 %.2fms\n", latency:percentile(95) / 1000))
end
