import FluxSecurity
import Vapor

/// The small pages that the links Flux hands out open: the staff setup link logged at boot, and the email
/// verification and password reset links it mails. Each reads its token from the URL fragment (browsers
/// never send a fragment to a server or in a Referer), and its own script, allowed by this response's CSP
/// nonce, posts it with a CSRF pair to the matching API route.
enum AccountPages {
    struct Field {
        let id: String
        let label: String
        let type: String
        let autocomplete: String
        let required: Bool
    }

    struct Page {
        let path: [PathComponent]
        let title: String
        let intro: String
        let fields: [Field]
        let button: String
        let endpoint: String
        let success: String
    }

    static let password = Field(id: "password", label: "Password (10 to 128 characters)", type: "password",
                                autocomplete: "new-password", required: true)

    static let pages = [
        Page(path: ["hq-command", "setup"], title: "Create the owner account",
             intro: "This one-time page creates the first staff account.",
             fields: [Field(id: "email", label: "Email", type: "email", autocomplete: "username", required: true),
                      Field(id: "name", label: "Name", type: "text", autocomplete: "name", required: false), password],
             button: "Create account", endpoint: "/api/auth/setup", success: "The owner account exists. Sign in with it."),
        Page(path: ["account", "verify-email"], title: "Confirm your email address",
             intro: "Confirm that this email address is yours.", fields: [],
             button: "Confirm", endpoint: "/api/auth/email/verify", success: "Your email address is confirmed."),
        Page(path: ["account", "reset-password"], title: "Choose a new password",
             intro: "Choose a new password. Every device signed in to your account will be signed out.", fields: [password],
             button: "Set password", endpoint: "/api/auth/password/reset", success: "Your password is set. Sign in with it."),
    ]

    static func register(on root: any RoutesBuilder) {
        for page in pages {
            root.get(page.path) { request in Response.page(html(page, nonce: request.cspNonce)) }
        }
    }

    static func html(_ page: Page, nonce: String) -> String {
        let inputs = page.fields.map { field -> String in
            let limits = field.type == "password" ? #" minlength="10" maxlength="128""# : #" maxlength="254""#
            return """
                <label>\(Sanitize.htmlText(field.label)) <input id="\(field.id)" type="\(field.type)" \
                autocomplete="\(field.autocomplete)"\(limits)\(field.required ? " required" : "")></label>
                """
        }.joined(separator: "\n")
        let ids = page.fields.map { "\"\($0.id)\"" }.joined(separator: ", ")
        return """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Flux: \(Sanitize.htmlText(page.title))</title>
            <style nonce="\(nonce)">
            body { font: 16px/1.5 system-ui, sans-serif; max-width: 28rem; margin: 4rem auto; padding: 0 1rem; }
            label { display: block; margin-top: 1rem; }
            input { width: 100%; padding: .5rem; box-sizing: border-box; }
            button { margin-top: 1.5rem; padding: .6rem 1.2rem; }
            #status { margin-top: 1rem; }
            </style>
            </head>
            <body>
            <h1>\(Sanitize.htmlText(page.title))</h1>
            <p>\(Sanitize.htmlText(page.intro))</p>
            <form id="form">
            \(inputs)
            <button type="submit">\(Sanitize.htmlText(page.button))</button>
            </form>
            <p id="status" role="status"></p>
            <script nonce="\(nonce)">
            document.getElementById("form").addEventListener("submit", async (event) => {
              event.preventDefault();
              const status = document.getElementById("status");
              const body = { token: new URLSearchParams(location.hash.slice(1)).get("token") || "" };
              for (const id of [\(ids)]) { body[id] = document.getElementById(id).value || null; }
              const csrf = await (await fetch("/api/csrf", { credentials: "same-origin" })).json();
              const response = await fetch("\(Sanitize.javaScriptString(page.endpoint))", {
                method: "POST", credentials: "same-origin",
                headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf.token },
                body: JSON.stringify(body),
              });
              if (response.ok) {
                history.replaceState(null, "", location.pathname);
                status.textContent = "\(Sanitize.javaScriptString(page.success))";
                document.getElementById("form").hidden = true;
              } else {
                const failure = (await response.json()).error;
                const fields = Object.entries(failure.fields || {}).map(([k, v]) => k + " " + v).join("; ");
                status.textContent = failure.message + (fields ? " " + fields : "");
              }
            });
            </script>
            </body>
            </html>
            """
    }
}
