import Vapor

/// `GET /hq-command/setup`: the page the boot-time setup link opens. The token travels in the URL fragment,
/// which browsers never send to a server or put in a Referer; the page's own script (allowed by this
/// request's CSP nonce) reads it and posts it to `POST /api/auth/setup` with a CSRF pair.
enum StaffSetupPage {
    static func register(on root: any RoutesBuilder) {
        root.get("hq-command", "setup") { request -> Response in
            let nonce = request.cspNonce ?? ""
            let response = Response(status: .ok, body: .init(string: html(nonce: nonce)))
            response.headers.contentType = .html
            response.headers.replaceOrAdd(name: .cacheControl, value: "no-store")
            return response
        }
    }

    private static func html(nonce: String) -> String {
        """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Flux: create the owner account</title>
        <style nonce="\(nonce)">
        body { font: 16px/1.5 system-ui, sans-serif; max-width: 28rem; margin: 4rem auto; padding: 0 1rem; }
        label { display: block; margin-top: 1rem; }
        input { width: 100%; padding: .5rem; box-sizing: border-box; }
        button { margin-top: 1.5rem; padding: .6rem 1.2rem; }
        #status { margin-top: 1rem; }
        </style>
        </head>
        <body>
        <h1>Create the owner account</h1>
        <p>This one-time page creates the first staff account. Passwords need 10 to 128 characters.</p>
        <form id="setup">
        <label>Email <input id="email" type="email" autocomplete="username" required></label>
        <label>Name <input id="name" autocomplete="name" maxlength="120"></label>
        <label>Password <input id="password" type="password" autocomplete="new-password" minlength="10" maxlength="128" required></label>
        <button type="submit">Create account</button>
        </form>
        <p id="status" role="status"></p>
        <script nonce="\(nonce)">
        document.getElementById("setup").addEventListener("submit", async (event) => {
          event.preventDefault();
          const status = document.getElementById("status");
          const token = new URLSearchParams(location.hash.slice(1)).get("token") || "";
          const csrf = await (await fetch("/api/csrf", { credentials: "same-origin" })).json();
          const response = await fetch("/api/auth/setup", {
            method: "POST", credentials: "same-origin",
            headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf.token },
            body: JSON.stringify({
              token, email: document.getElementById("email").value,
              name: document.getElementById("name").value || null,
              password: document.getElementById("password").value,
            }),
          });
          if (response.ok) {
            history.replaceState(null, "", location.pathname);
            status.textContent = "The owner account exists. Sign in with it.";
            document.getElementById("setup").hidden = true;
          } else {
            const body = await response.json();
            const fields = Object.entries(body.error.fields || {}).map(([k, v]) => k + " " + v).join("; ");
            status.textContent = body.error.message + (fields ? " " + fields : "");
          }
        });
        </script>
        </body>
        </html>
        """
    }
}
