-- POST /api/auth/login with the CSRF pair from CSRF_TOKEN, every request a new unknown email from a new
-- client address: neither the per-address bucket nor the per-account delay answers, so each one costs a
-- full bcrypt check (the dummy hash), the most expensive thing a stranger can make Flux do.
local token = os.getenv("CSRF_TOKEN")
local counter = 0

function init(args)
  counter = math.random(0, 1000000000)
end

function request()
  counter = counter + 1
  local n = counter % 16000000
  local address = string.format("10.%d.%d.%d", math.floor(n / 65536), math.floor(n / 256) % 256, n % 256)
  local body = string.format('{"email":"flood-%d@example.com","password":"wrong password %d"}', counter, counter)
  return wrk.format("POST", "/api/auth/login", {
    ["Content-Type"] = "application/json",
    ["X-CSRF-Token"] = token,
    ["Cookie"] = "csrf=" .. token,
    ["X-Forwarded-For"] = address,
  }, body)
end
