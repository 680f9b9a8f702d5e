(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  async function csrf() {
    const response = await fetch("/api/csrf", { credentials: "same-origin" });
    return (await response.json()).token;
  }
  async function call(method, path, body) {
    const headers = { "X-CSRF-Token": await csrf(), "Accept": "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, { method, credentials: "same-origin", headers,
                                         body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await response.text();
    return { ok: response.ok, status: response.status, body: text ? JSON.parse(text) : {} };
  }
  function say(text) { const status = $("status"); if (status) status.textContent = text; }
  function problem(answer) {
    const error = answer.body.error || {};
    const fields = Object.entries(error.fields || {}).map(([k, v]) => k + " " + v).join("; ");
    return (error.message || "Something went wrong.") + (fields ? " " + fields : "");
  }

  // Sign-in: password, then a TOTP code (or enrolment for a role that requires one).
  const signin = $("signin-form");
  if (signin) {
    let challenge = null, enrolling = false;
    const next = $("status").dataset.next;
    const done = (answer) => {
      if (answer.body.recoveryCodes) {
        $("code-form").hidden = true; $("recovery").hidden = false; $("continue").href = next;
        for (const code of answer.body.recoveryCodes) { const li = document.createElement("li"); li.textContent = code; $("recovery-codes").appendChild(li); }
      } else { location.assign(next); }
    };
    signin.addEventListener("submit", async (event) => {
      event.preventDefault();
      const answer = await call("POST", "/api/auth/login", { email: $("email").value, password: $("password").value, useCookies: true });
      if (!answer.ok) return say(problem(answer));
      if (!answer.body.challenge) return done(answer);
      challenge = answer.body.challenge;
      signin.hidden = true; $("code-form").hidden = false;
      if (answer.body.enrollmentRequired) {
        enrolling = true;
        const setup = await call("POST", "/api/auth/mfa/totp/setup", { challenge });
        if (!setup.ok) return say(problem(setup));
        $("secret").textContent = setup.body.secret; $("enrol").hidden = false;
      }
      $("code").focus();
    });
    $("code-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const path = enrolling ? "/api/auth/mfa/totp/confirm" : "/api/auth/mfa/verify";
      const answer = await call("POST", path, { challenge, code: $("code").value.trim() });
      if (!answer.ok) return say(problem(answer));
      done(answer);
    });
  }

  const signOut = $("sign-out");
  if (signOut) signOut.addEventListener("click", async () => { await call("POST", "/api/auth/logout"); location.assign(signOut.dataset.to); });

  // Access tokens last 15 minutes: renew from the refresh cookie while a page stays open.
  if (signOut) setInterval(() => call("POST", "/api/auth/refresh"), 10 * 60 * 1000);

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
  const acceptForm = $("accept-form");
  if (acceptForm) acceptForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const link = new URLSearchParams(location.hash.slice(1));
    const body = { invitationId: link.get("invitation") || "", token: link.get("token") || "" };
    if ($("accept-name").value) body.name = $("accept-name").value;
    if ($("accept-password").value) body.password = $("accept-password").value;
    const answer = await call("POST", "/api/portal/team/accept", body);
    if (answer.ok) { acceptForm.hidden = true; $("accepted").hidden = false; history.replaceState(null, "", location.pathname); }
    else say(problem(answer));
  });

  for (const button of document.querySelectorAll("button.setup-status")) {
    button.addEventListener("click", async () => {
      const answer = await call("PUT", "/api/hq/setup-requests/" + button.dataset.request + "/status", { status: button.dataset.status });
      say(answer.ok ? "Setup request " + answer.body.status + "." : problem(answer));
      if (answer.ok) button.closest("tr").children[3].textContent = answer.body.status;
    });
  }

  // Files: upload as multipart (the browser sets the boundary), share links, deletion, folders.
  const filesPanel = $("files");
  if (filesPanel) {
    const base = "/api/tenants/" + filesPanel.dataset.tenant;
    $("upload-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const form = new FormData();
      form.append("file", $("upload-file").files[0]);
      const query = new URLSearchParams({ visibility: $("upload-visibility").value });
      if (filesPanel.dataset.folder) query.set("folderId", filesPanel.dataset.folder);
      const response = await fetch(base + "/files?" + query, { method: "POST", credentials: "same-origin", body: form,
                                                                headers: { "X-CSRF-Token": await csrf(), "Accept": "application/json" } });
      if (response.ok) return location.reload();
      say(problem({ body: await response.json() }));
    });
    for (const button of document.querySelectorAll("button.share-file")) {
      button.addEventListener("click", async () => {
        const answer = await call("POST", base + "/files/" + button.dataset.file + "/shares", { expiresInHours: 24 });
        if (answer.ok) { $("share-url").value = answer.body.url; say("Share link ready: it works for 24 hours."); } else say(problem(answer));
      });
    }
    for (const button of document.querySelectorAll("button.delete-file")) {
      button.addEventListener("click", async () => {
        const answer = await call("DELETE", base + "/files/" + button.dataset.file);
        if (answer.ok) button.closest("tr").remove();
        say(answer.ok ? "File deleted." : problem(answer));
      });
    }
    const folderForm = $("folder-form");
    if (folderForm) folderForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const answer = await call("POST", base + "/folders", { name: $("folder-name").value });
      if (answer.ok) location.reload(); else say(problem(answer));
    });
  }

  const channelForm = $("channel-form");
  if (channelForm) channelForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { kind: "channel", title: $("channel-title").value };
    const staff = new URLSearchParams(location.search).has("tenantId");
    if (staff) body.tenantId = channelForm.dataset.tenant;
    const answer = await call("POST", "/api/portal/conversations", body);
    if (!answer.ok) return say(problem(answer));
    location.assign(location.pathname + "?" + (staff ? "tenantId=" + body.tenantId + "&" : "") + "thread=" + answer.body.id);
  });

  // A conversation, live: history over REST, then every change over the portal's WebSocket. The socket
  // reconnects with exponential backoff and jitter, and resumes after the last event it saw, so
  // nothing is lost while it was away; messages are keyed by number, so none shows twice.
  const chat = $("chat");
  if (chat && chat.dataset.thread) {
    const thread = chat.dataset.thread, me = chat.dataset.user, list = $("messages");
    const shown = new Map(), present = new Map();
    let last = null, attempt = 0, socket = null, typingSent = 0, typingTimer = null, readTimer = null;
    const state = (name, text) => { chat.dataset.state = name; $("connection").textContent = text; };
    function show(message) {
      let item = shown.get(message.seq);
      if (!item) {
        item = document.createElement("li");
        item.dataset.seq = String(message.seq);
        shown.set(message.seq, item);
        const after = [...shown.keys()].filter((seq) => seq > message.seq).sort((a, b) => a - b)[0];
        list.insertBefore(item, after === undefined ? null : shown.get(after));
      }
      item.className = (message.senderId === me ? "mine" : "") + (message.deletedAt ? " deleted" : "");
      item.textContent = message.deletedAt ? "(deleted)" : message.body + (message.editedAt ? " (edited)" : "");
      if (message.attachment) {
        const link = document.createElement("a");
        link.href = "/api/portal/messages/" + message.id + "/attachment";
        link.textContent = " [" + message.attachment.name + "]";
        item.appendChild(link);
      }
      list.scrollTop = list.scrollHeight;
    }
    function markRead() {
      clearTimeout(readTimer);
      readTimer = setTimeout(() => {
        const newest = Math.max(0, ...shown.keys());
        if (newest && !document.hidden) call("POST", "/api/portal/conversations/" + thread + "/read", { seq: newest });
      }, 300);
    }
    async function history() {
      const answer = await call("GET", "/api/portal/conversations/" + thread + "/messages?limit=100");
      if (!answer.ok) return say(problem(answer));
      for (const message of answer.body.messages.slice().reverse()) show(message);
      markRead();
    }
    // Presence is per person. Past a room size the server sends counts only (counts is then set) and the
    // list on request; a room that shrinks back gets its list asked for again.
    let counts = null;
    function showPresence() {
      const others = counts ? Math.max(0, counts.online - 1)
        : [...present.values()].filter((p) => p.userId !== me && p.status === "online").length;
      $("presence").textContent = others ? others + " other" + (others > 1 ? "s" : "") + " online" : "";
    }
    function listPeople(users) {
      present.clear();
      for (const p of users) present.set(p.userId, p);
      counts = null;
    }
    function receive(frame) {
      if (frame.id) last = Math.max(last || 0, frame.id);
      switch (frame.type) {
        case "subscribed":
          attempt = 0;
          state("live", "Live.");
          for (const room of frame.presence) {
            if (room.threadId !== thread) continue;
            if (room.users) listPeople(room.users); else { present.clear(); counts = room; }
          }
          showPresence();
          if (last === null) { last = frame.last; history(); }
          break;
        case "reset": location.reload(); break;
        case "message.created": case "message.edited": case "message.deleted":
          show(frame.data);
          if (frame.data.senderId !== me) { $("typing").textContent = ""; markRead(); }
          break;
        case "typing":
          if (frame.data.userId === me) break;
          $("typing").textContent = "Someone is typing…";
          clearTimeout(typingTimer);
          typingTimer = setTimeout(() => { $("typing").textContent = ""; }, 4000);
          break;
        case "presence":
          if (!frame.data.changes) counts = frame.data;
          else if (counts) socket.send(JSON.stringify({ type: "presence.list", threadId: thread }));
          else for (const change of frame.data.changes) {
            if (change.status === "offline") present.delete(change.userId); else present.set(change.userId, change);
          }
          showPresence();
          break;
        case "presence.list": listPeople(frame.users); showPresence(); break;
        case "error": say(frame.error.message); break;
      }
    }
    function connect() {
      state("connecting", "Connecting…");
      socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/portal/realtime");
      socket.addEventListener("open", () => {
        const command = { type: "subscribe", threadIds: [thread] };
        if (last !== null) command.after = last;
        socket.send(JSON.stringify(command));
      });
      socket.addEventListener("message", (event) => receive(JSON.parse(event.data)));
      socket.addEventListener("close", () => {
        present.clear(); counts = null; showPresence();
        const delay = Math.min(30000, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
        attempt += 1;
        state("reconnecting", "Reconnecting…");
        setTimeout(connect, delay);
      });
    }
    connect();
    $("message-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const answer = await call("POST", "/api/portal/conversations/" + thread + "/messages", { body: $("message-body").value });
      if (!answer.ok) return say(problem(answer));
      show(answer.body);
      $("message-body").value = "";
    });
    $("message-body").addEventListener("input", () => {
      if (socket && socket.readyState === WebSocket.OPEN && Date.now() - typingSent > 2000) {
        typingSent = Date.now();
        socket.send(JSON.stringify({ type: "typing", threadId: thread }));
      }
    });
    document.addEventListener("visibilitychange", () => {
      if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "presence", status: document.hidden ? "away" : "online" }));
      if (!document.hidden) markRead();
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
