import FluxSecurity
import Vapor

/// `GET /`: the public page Flux serves itself: the FluxAI chat and the consultation form, plain JS and CSS
/// under the strict CSP (this response's nonce, no inline handlers, text only ever set as text). The
/// visitor's sessionId lives in localStorage, else sessionStorage, else memory (private modes that refuse
/// storage still get a working chat); the CSRF token is fetched before each post.
enum SitePage {
    static func register(on root: any RoutesBuilder) {
        root.get { request in Response.page(html(nonce: request.cspNonce)) }
    }

    static func html(nonce: String) -> String {
        """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Flux: radio-frequency heating and drying</title>
        <style nonce="\(nonce)">
        body { font: 16px/1.5 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; color: #1d2530; }
        section { border: 1px solid #d5dbe3; border-radius: .5rem; padding: 1rem 1.25rem; margin: 1.5rem 0; }
        #messages { min-height: 6rem; max-height: 22rem; overflow-y: auto; }
        .visitor { text-align: right; color: #0b4f8a; } .assistant { color: #1d2530; }
        label { display: block; margin-top: .75rem; } input, select, textarea { width: 100%; padding: .45rem; box-sizing: border-box; }
        button { margin-top: 1rem; padding: .55rem 1.1rem; }
        </style>
        </head>
        <body>
        <h1>Flux</h1>
        <p>Radio-frequency heating and drying for textile, food, rubber, pharma and wood.</p>
        <section aria-labelledby="chat-title">
        <h2 id="chat-title">Ask FluxAI</h2>
        <div id="messages" aria-live="polite"></div>
        <form id="chat-form">
        <label>Your question <input id="chat-input" maxlength="4000" autocomplete="off" required></label>
        <button type="submit">Send</button>
        </form>
        </section>
        <section aria-labelledby="consult-title">
        <h2 id="consult-title">Request a consultation</h2>
        <form id="consult-form">
        <label>Name <input id="name" maxlength="120" required></label>
        <label>Company <input id="company" maxlength="160" required></label>
        <label>Email <input id="email" type="email" maxlength="254" required></label>
        <label>Phone <input id="phone" type="tel" maxlength="32"></label>
        <label>Preferred contact <select id="preferredContact"><option>email</option><option>phone</option><option>whatsapp</option></select></label>
        <label>Message <textarea id="message" maxlength="5000" rows="4"></textarea></label>
        <button type="submit">Send request</button>
        </form>
        <p id="consult-status" role="status"></p>
        </section>
        <script nonce="\(nonce)">
        (() => {
          let memory = null;
          function sessionId() {
            for (const store of [() => window.localStorage, () => window.sessionStorage]) {
              try {
                const storage = store();
                let id = storage.getItem("fluxai-session");
                if (!id) { id = crypto.randomUUID(); storage.setItem("fluxai-session", id); }
                return id;
              } catch (e) { /* storage refused: try the next one */ }
            }
            return memory || (memory = crypto.randomUUID());
          }
          async function send(path, body, accept) {
            const csrf = await (await fetch("/api/csrf", { credentials: "same-origin" })).json();
            return fetch(path, {
              method: "POST", credentials: "same-origin",
              headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf.token, "Accept": accept },
              body: JSON.stringify(body),
            });
          }
          async function post(path, body) {
            const response = await send(path, body, "application/json");
            return { ok: response.ok, body: await response.json() };
          }
          function say(who, text) {
            const line = document.createElement("p");
            line.className = who;
            line.textContent = text;
            const messages = document.getElementById("messages");
            messages.appendChild(line);
            messages.scrollTop = messages.scrollHeight;
            return line;
          }
          // The answer arrives as server-sent events: "delta" pieces shown as they come, then "done".
          async function streamChat(body, line) {
            const response = await send("/api/chat", body, "text/event-stream");
            if (!response.ok) { line.textContent = (await response.json()).error.message; return; }
            const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
            let buffered = "";
            for (;;) {
              const { value, done } = await reader.read();
              if (done) return;
              buffered += value;
              let end;
              while ((end = buffered.indexOf("\\n\\n")) >= 0) {
                const [name, data] = buffered.slice(0, end).split("\\n");
                buffered = buffered.slice(end + 2);
                const payload = JSON.parse(data.slice("data: ".length));
                if (name === "event: delta") line.textContent += payload.text;
                if (name === "event: done") { line.textContent = payload.reply; line.dataset.done = "true"; }
              }
            }
          }
          const locale = (document.documentElement.lang || navigator.language || "en").slice(0, 2);
          document.getElementById("chat-form").addEventListener("submit", async (event) => {
            event.preventDefault();
            const input = document.getElementById("chat-input");
            const text = input.value.trim();
            if (!text) return;
            input.value = "";
            say("visitor", text);
            await streamChat({ sessionId: sessionId(), message: text, locale, pageUrl: location.pathname }, say("assistant", ""));
          });
          document.getElementById("consult-form").addEventListener("submit", async (event) => {
            event.preventDefault();
            const value = (id) => document.getElementById(id).value.trim() || null;
            const answer = await post("/api/consultation", {
              name: value("name") || "", company: value("company") || "", email: value("email") || "", phone: value("phone"),
              preferredContact: value("preferredContact"), message: value("message"), pageUrl: location.href, sessionId: sessionId(),
            });
            const status = document.getElementById("consult-status");
            if (answer.ok) {
              status.textContent = "Thank you: your request is ticket " + answer.body.ticketId + ". An engineer will contact you.";
              document.getElementById("consult-form").hidden = true;
            } else {
              const fields = Object.entries(answer.body.error.fields || {}).map(([k, v]) => k + " " + v).join("; ");
              status.textContent = answer.body.error.message + (fields ? " " + fields : "");
            }
          });
        })();
        </script>
        </body>
        </html>
        """
    }
}
