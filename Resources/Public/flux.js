// Flux's page core, loaded by every page before its own script: API calls with CSRF and silent session renewal,
// the server's field errors beside the fields, dates in the reader's own time zone. Exposed as window.Flux.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);

  // A fresh CSRF token for each unsafe request: the token's cookie is shared by every tab, so one kept by this page
  // would stop matching as soon as another tab fetched its own.
  async function csrf() {
    const response = await fetch("/api/csrf", { credentials: "same-origin" });
    return (await response.json()).token;
  }

  // Access tokens are short; the refresh cookie keeps the session. A renewal rotates the refresh token, so two
  // tabs renewing at once would present the same one twice: the Web Locks API lets one tab renew for all, and the
  // others, finding a renewal newer than their failed request, just retry.
  const renewedKey = "flux.renewedAt";
  let renewTimer = null;
  async function renewNow(after) {
    const renewedAt = Number(localStorage.getItem(renewedKey) || 0);
    if (renewedAt > after) return true;
    const response = await fetch("/api/auth/refresh", { method: "POST", credentials: "same-origin",
                                                       headers: { "X-CSRF-Token": await csrf(), "Accept": "application/json" } });
    if (!response.ok) return false;
    localStorage.setItem(renewedKey, String(Date.now()));
    schedule((await response.json()).expiresIn);
    return true;
  }
  function renew(after = Date.now()) {
    return navigator.locks ? navigator.locks.request("flux-renew", () => renewNow(after)) : renewNow(after);
  }
  // Renew a minute before the access token expires; a sleeping tab's timer may fire late, so waking up checks too.
  let expiresAt = 0;
  function schedule(seconds) {
    expiresAt = Date.now() + seconds * 1000;
    clearTimeout(renewTimer);
    renewTimer = setTimeout(() => renew(), Math.max(5, seconds - 60) * 1000);
  }
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && expiresAt && Date.now() > expiresAt - 60000) renew();
  });

  // A sign-in page opened because the access token had run out (a tab asleep, a bookmark, a new tab) while the
  // session is still alive: renew it from the refresh cookie and go on to `next` without asking for the password.
  async function resume(next) {
    if (await renew()) location.replace(next);
  }

  const safe = (method) => method === "GET" || method === "HEAD";
  // Sends a request; a 401 renews the session once (unless another tab already has) and sends it again.
  async function send(method, path, body, headers) {
    const sentAt = Date.now();
    const request = async () => {
      if (!safe(method)) headers["X-CSRF-Token"] = await csrf();
      return fetch(path, { method, credentials: "same-origin", headers, body });
    };
    const response = await request();
    if (response.status === 401 && !path.startsWith("/api/auth/") && await renew(sentAt)) return request();
    return response;
  }

  // A JSON API call: { ok, status, body }.
  async function call(method, path, body) {
    const headers = { "Accept": "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await send(method, path, body === undefined ? undefined : JSON.stringify(body), headers);
    const text = await response.text();
    let parsed = {};
    try { parsed = text ? JSON.parse(text) : {}; } catch { parsed = { error: { message: text } }; }
    return { ok: response.ok, status: response.status, body: parsed };
  }

  // A multipart upload with progress (fetch reports none): resolves to { ok, status, body }.
  function upload(path, form, onProgress) {
    return new Promise(async (resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", path);
      xhr.setRequestHeader("X-CSRF-Token", await csrf());
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", (event) => { if (event.lengthComputable && onProgress) onProgress(event.loaded / event.total); });
      xhr.addEventListener("load", () => {
        let body = {};
        try { body = JSON.parse(xhr.responseText || "{}"); } catch { body = {}; }
        resolve({ ok: xhr.status >= 200 && xhr.status < 300, status: xhr.status, body });
      });
      xhr.addEventListener("error", () => resolve({ ok: false, status: 0, body: {} }));
      xhr.send(form);
    });
  }

  function say(text, kind) {
    const status = $("status");
    if (!status) return;
    status.textContent = text;
    status.classList.toggle("error", kind === "error");
    status.classList.toggle("success", kind === "success");
  }
  function problem(answer) {
    const error = answer.body.error || {};
    const fields = Object.entries(error.fields || {}).map(([k, v]) => k + " " + v).join("; ");
    return (error.message || "Something went wrong.") + (fields ? " " + fields : "");
  }

  // The server's field errors beside the fields (an input named or identified by the field's key, its error in
  // the element "<id>-error"), the message in the form's notice; what was typed stays.
  function clearErrors(form) {
    for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
    for (const error of form.querySelectorAll(".field-error")) error.textContent = "";
    const notice = form.querySelector(".notice");
    if (notice) { notice.textContent = ""; notice.className = "notice"; }
  }
  function showErrors(form, answer) {
    clearErrors(form);
    const error = answer.body.error || {};
    let first = null, unplaced = [];
    for (const [field, message] of Object.entries(error.fields || {})) {
      const input = form.querySelector("[name='" + CSS.escape(field) + "']") || form.querySelector("#" + CSS.escape(field));
      const slot = input && $(input.id + "-error");
      if (!input || !slot) { unplaced.push(message); continue; }
      input.setAttribute("aria-invalid", "true");
      slot.textContent = message;
      first = first || input;
    }
    notify(form, [error.message || form.dataset.failed || "Something went wrong."].concat(unplaced).join(" "), "error");
    if (first) first.focus();
  }
  function notify(form, text, kind) {
    const notice = form.querySelector(".notice") || $("status");
    if (!notice) return;
    notice.textContent = text;
    notice.className = "notice" + (kind ? " " + kind : "");
  }

  // <time datetime="…"> in the reader's language and time zone.
  function localDates(root = document) {
    const format = new Intl.DateTimeFormat(document.documentElement.lang || undefined, { dateStyle: "medium", timeStyle: "short" });
    for (const time of root.querySelectorAll("time[datetime]")) {
      const date = new Date(time.getAttribute("datetime"));
      if (!isNaN(date)) time.textContent = format.format(date);
    }
  }
  localDates();

  // A wide table scrolls inside itself on a narrow screen (flux.css): keyboard users must be able to reach and scroll it.
  for (const table of document.querySelectorAll("main table")) {
    if (table.scrollWidth > table.clientWidth) table.tabIndex = 0;
  }

  // Passkeys: the server's WebAuthn options (JSON) through the browser's authenticator, and the credential back as JSON.
  const passkeys = Object.freeze({
    supported: () => typeof PublicKeyCredential === "function" && typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function",
    async create(publicKey) {
      return (await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(publicKey) })).toJSON();
    },
    // Signs in with a passkey: alone, or as the second step of the password sign-in `challenge`. An answer with
    // `cancelled` means the person closed the browser's dialog (or no key of theirs was there).
    async signIn(challenge) {
      const options = await call("POST", "/api/auth/passkeys/authentication/options", challenge ? { challenge } : {});
      if (!options.ok) return options;
      let credential;
      try {
        credential = (await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options.body.publicKey) })).toJSON();
      } catch (error) {
        return { ok: false, cancelled: true, body: {} };
      }
      return call("POST", "/api/auth/passkeys/authentication", { challengeId: options.body.challengeId, credential, challenge, useCookies: true });
    },
  });

  window.Flux = Object.freeze({ $, csrf, call, upload, renew, resume, say, problem, showErrors, clearErrors, notify, localDates, passkeys });

  // A signed-in page learns when its access token expires and renews it before then.
  if ($("sign-out")) call("GET", "/api/auth/token-info").then((answer) => {
    if (answer.ok) schedule((new Date(answer.body.expiresAt) - Date.now()) / 1000);
  });

  const signOut = $("sign-out");
  if (signOut) signOut.addEventListener("click", async () => { await call("POST", "/api/auth/logout"); location.assign(signOut.dataset.to); });

  const statusForm = $("status-form");
  if (statusForm) statusForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const answer = await call("PUT", "/api/hq/signals/" + statusForm.dataset.ticket + "/status", { status: $("status-select").value });
    say(answer.ok ? "Status changed to " + $("status-select").value + "." : problem(answer));
  });

  for (const button of document.querySelectorAll("button.revoke")) {
    button.addEventListener("click", async () => {
      const answer = await call("DELETE", "/api/hq/sessions/" + button.dataset.session);
      if (answer.ok) button.closest("tr").remove();
      say(answer.ok ? "Session ended." : problem(answer));
    });
  }

  const setupForm = $("setup-form");
  if (setupForm) setupForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const answer = await call("POST", "/api/portal/setup-request", { templateType: $("templateType").value, contactNumber: $("contactNumber").value });
    if (answer.ok) location.assign("/app/status"); else say(problem(answer));
  });

  const inviteForm = $("invite-form");
  if (inviteForm) inviteForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const answer = await call("POST", "/api/portal/team/invitations", { email: $("invite-email").value, role: $("invite-role").value });
    if (answer.ok) location.reload(); else say(problem(answer));
  });
  for (const button of document.querySelectorAll("button.revoke-invitation")) {
    button.addEventListener("click", async () => {
      const answer = await call("DELETE", "/api/portal/team/invitations/" + button.dataset.invitation);
      if (answer.ok) button.closest("tr").remove();
      say(answer.ok ? "Invitation revoked." : problem(answer));
    });
  }
  for (const button of document.querySelectorAll("button.remove-member")) {
    button.addEventListener("click", async () => {
      const answer = await call("DELETE", "/api/tenants/" + $("members").dataset.tenant + "/members/" + button.dataset.user);
      if (answer.ok) button.closest("tr").remove();
      say(answer.ok ? "Member removed and signed out." : problem(answer));
    });
  }
  // An invitation link: its id and token are in the fragment. A used or expired one says so and what to do next.
  const acceptForm = $("accept-form");
  if (acceptForm) acceptForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(acceptForm);
    const link = new URLSearchParams(location.hash.slice(1));
    const body = { invitationId: link.get("invitation") || "", token: link.get("token") || "" };
    if ($("name").value) body.name = $("name").value;
    if ($("password").value) body.password = $("password").value;
    const answer = await call("POST", "/api/portal/team/accept", body);
    if (answer.ok) { acceptForm.hidden = true; $("accepted").hidden = false; history.replaceState(null, "", location.pathname); }
    else if (answer.body.error?.code === "invalid_token") { acceptForm.hidden = true; $("accept-dead").hidden = false; }
    else showErrors(acceptForm, answer);
  });

  for (const button of document.querySelectorAll("button.setup-status")) {
    button.addEventListener("click", async () => {
      const answer = await call("PUT", "/api/hq/setup-requests/" + button.dataset.request + "/status", { status: button.dataset.status });
      say(answer.ok ? "Setup request " + answer.body.status + "." : problem(answer));
      if (answer.ok) button.closest("tr").children[3].textContent = answer.body.status;
    });
  }

  // Live figures: the server pushes them when they change, no reload needed.
  const live = document.querySelectorAll("[data-live]");
  if (live.length && window.EventSource) {
    const source = new EventSource("/hq-command/live");
    source.addEventListener("figures", (event) => {
      const figures = JSON.parse(event.data);
      for (const element of live) {
        const value = figures[element.dataset.live];
        if (value !== undefined) element.textContent = String(value);
      }
      document.body.dataset.liveUpdated = String(Date.now());
    });
  }
})();
