// The messages page: channels and a conversation, live over the portal's WebSocket.
(() => {
  "use strict";
  const { $, call, say, problem } = window.Flux;
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
})();
