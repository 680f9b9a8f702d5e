-- POST /submit with the CSRF token pair from the environment (the bare route ignores them).
local token = os.getenv("CSRF_TOKEN")
wrk.method = "POST"
wrk.headers["X-CSRF-Token"] = token
wrk.headers["Cookie"] = "csrf=" .. token
wrk.headers["Origin"] = "https://www.example.com"
