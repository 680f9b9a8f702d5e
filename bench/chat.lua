-- POST /api/chat as many visitors: each request from the next of 100000 addresses (X-Forwarded-For, believed
-- because the bench sets TRUSTED_PROXIES=127.0.0.1, so the chat's per-address limit does not bind) and in
-- one of SESSIONS conversations, with the CSRF pair from the environment.
local token = os.getenv("CSRF_TOKEN")
local sessions = tonumber(os.getenv("SESSIONS") or "2000")
local messages = {
  "We dry technical textiles after dyeing",
  "We produce 20 t/day, how much energy could we save?",
  "Do you have a case study?",
  "What power do your machines have?",
}
local counter = 0

function request()
  counter = counter + 1
  local n = counter % 100000
  local address = string.format("10.%d.%d.%d", math.floor(n / 65536), math.floor(n / 256) % 256, n % 256)
  local body = string.format('{"sessionId":"bench-%d","message":"%s","locale":"en"}', counter % sessions,
                             messages[counter % #messages + 1])
  return wrk.format("POST", "/api/chat", {
    ["Content-Type"] = "application/json", ["X-CSRF-Token"] = token, ["Cookie"] = "csrf=" .. token,
    ["X-Forwarded-For"] = address,
  }, body)
end
