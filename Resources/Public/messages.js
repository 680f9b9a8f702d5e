// The messages page: start a direct conversation or a channel, and one conversation live over the portal's
// WebSocket, with attachments, edits and deletions, read receipts, older messages on scroll and drafts that
// survive a reload. Every word it shows comes from the page's data-* attributes (the message catalogue).
(() => {
  "use strict";
  const { $, call, upload, say, problem, showErrors, clearErrors, notify, localDates } = window.Flux;
  const chat = $("chat");
  if (!chat) return;
  const words = chat.dataset, me = words.user, tenant = words.tenant, staff = words.staff === "true";
  const fill = (text, ...values) => values.reduce((out, value, index) => out.replace("{" + index + "}", value), text);
  // A call made in the background while the network may be away (fetch then rejects): a failure is dropped, because
  // the next message, reconnection or refresh repeats it.
  const background = (method, path, body) => call(method, path, body).catch(() => ({ ok: false, status: 0, body: {} }));
  const pageFor = (id) => location.pathname + "?" + (staff ? "tenantId=" + tenant + "&" : "") + "thread=" + id;

  // Starting a conversation: the server's field errors beside the fields, what was typed kept.
  async function start(form, body) {
    clearErrors(form);
    if (staff) body.tenantId = tenant;
    const answer = await call("POST", "/api/portal/conversations", body);
    if (!answer.ok) return showErrors(form, answer);
    location.assign(pageFor(answer.body.id));
  }
  const directForm = $("direct-form");
  if (directForm) directForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const person = $("direct-person").value;
    start(directForm, { kind: "direct", participantIds: person ? [person] : [] });
  });
  const channelForm = $("channel-form");
  if (channelForm) channelForm.addEventListener("submit", (event) => {
    event.preventDefault();
    start(channelForm, { kind: "channel", title: $("channel-title").value });
  });

  // Unread counts: one badge per conversation in the list, and their sum beside "Messages" in the navigation.
  // A badge reads "3 unread" to a screen reader; a count of zero has none.
  function putBadge(holder, count, place) {
    let badge = holder.querySelector(".badge");
    if (!count) { if (badge) badge.remove(); return; }
    if (!badge) { badge = element("span", "badge info"); place(badge); }
    badge.textContent = String(count);
    badge.appendChild(element("span", "visually-hidden", " " + words.unread));
  }
  const setBadge = (link, count) => putBadge(link.parentElement, count, (badge) => link.after(" ", badge));
  const countOf = (link) => Number(link.parentElement.querySelector(".badge")?.firstChild?.textContent || 0);
  function navigationBadge(page, count) {
    const nav = document.querySelector("nav.top a[href='/app/" + page + "']");
    if (nav) putBadge(nav, count, (badge) => nav.append(" ", badge));
  }
  function navigationCount() {
    navigationBadge("messages", [...document.querySelectorAll("#threads a[data-thread]")].reduce((sum, link) => sum + countOf(link), 0));
  }
  const threadLink = (id) => document.querySelector("#threads a[data-thread='" + CSS.escape(id) + "']");

  const thread = words.thread;
  if (!thread) return;
  const list = $("messages"), form = $("message-form"), body = $("message-body");
  const shown = new Map(), present = new Map(), readers = new Map();
  const names = new Map([...document.querySelectorAll("#direct-person option")].map((option) => [option.value, option.textContent]));
  let last = null, attempt = 0, socket = null, typingSent = 0, typingTimer = null, readTimer = null, older = null, loadingOlder = false;
  const state = (name) => { chat.dataset.state = name; const badge = $("connection"); badge.textContent = words["state" + name[0].toUpperCase() + name.slice(1)];
    badge.className = "badge " + (name === "live" ? "good" : "warn"); };
  const nameOf = (userId) => userId === me ? words.you : names.get(userId) || readers.get(userId)?.email || "";

  // Drafts survive a reload: kept per conversation on this device, cleared once sent.
  const draftKey = "flux.draft." + thread;
  body.value = localStorage.getItem(draftKey) || "";
  const sizes = new Intl.NumberFormat(document.documentElement.lang || undefined, { maximumFractionDigits: 1 });
  const size = (bytes) => bytes >= 1e6 ? sizes.format(bytes / 1e6) + " MB" : bytes >= 1e3 ? sizes.format(bytes / 1e3) + " kB" : sizes.format(bytes) + " B";

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function show(message) {
    let item = shown.get(message.seq);
    const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    if (!item) {
      item = element("li");
      item.dataset.seq = String(message.seq);
      shown.set(message.seq, item);
      const after = [...shown.keys()].filter((seq) => seq > message.seq).sort((a, b) => a - b)[0];
      list.insertBefore(item, after === undefined ? null : shown.get(after));
    }
    const mine = message.senderId === me;
    item.dataset.sender = message.senderId;
    item.className = (mine ? "mine" : "") + (message.deletedAt ? " deleted" : "");
    item.replaceChildren();
    const meta = element("p", "meta");
    meta.append(element("strong", "sender", nameOf(message.senderId)), " ");
    const time = element("time");
    time.setAttribute("datetime", message.createdAt);
    meta.appendChild(time);
    if (message.editedAt && !message.deletedAt) meta.append(" ", element("span", "badge", words.edited));
    item.appendChild(meta);
    item.appendChild(element("p", "body", message.deletedAt ? words.deleted : message.body));
    if (message.attachment) {
      const link = element("a", "attachment", fill(words.attachment, message.attachment.name + " (" + size(message.attachment.size) + ")"));
      link.href = "/api/portal/messages/" + message.id + "/attachment";
      item.appendChild(link);
    }
    if (mine && !message.deletedAt) item.appendChild(actions(message, item));
    localDates(item);
    if (message.seq === Math.max(...shown.keys()) && (mine || nearBottom)) list.scrollTop = list.scrollHeight;
    seenBy();
  }

  // Edit and delete, own messages only: inline, by keyboard, and deleting asks once more on the same button.
  function actions(message, item) {
    const row = element("div", "row actions");
    const edit = element("button", "link", words.edit), remove = element("button", "link", words.delete);
    edit.type = remove.type = "button";
    edit.addEventListener("click", () => editing(message, item));
    remove.addEventListener("click", async () => {
      if (!remove.dataset.armed) {
        remove.dataset.armed = "1";
        remove.textContent = words.confirmDelete;
        remove.className = "danger";
        return;
      }
      const answer = await call("DELETE", "/api/portal/messages/" + message.id);
      if (!answer.ok) return say(problem(answer), "error");
      show(Object.assign({}, message, { body: "", deletedAt: new Date().toISOString(), attachment: null }));
    });
    remove.addEventListener("blur", () => { delete remove.dataset.armed; remove.textContent = words.delete; remove.className = "link"; });
    row.append(edit, remove);
    return row;
  }
  function editing(message, item) {
    const editor = element("form", "edit");
    editor.noValidate = true;
    const id = "edit-" + message.seq;
    const field = element("div", "field"), label = element("label", "", words.editLabel), text = element("textarea");
    label.htmlFor = text.id = id;
    text.name = "body";
    text.rows = 3;
    text.maxLength = 4000;
    text.value = message.body;
    const error = element("p", "field-error");
    error.id = id + "-error";
    text.setAttribute("aria-describedby", error.id);
    field.append(label, text, error);
    const save = element("button", "", words.save), cancel = element("button", "secondary", words.cancel);
    save.type = "submit";
    cancel.type = "button";
    const buttons = element("div", "row");
    buttons.append(save, cancel);
    editor.append(element("p", "notice"), field, buttons);
    editor.querySelector(".notice").setAttribute("role", "alert");
    editor.dataset.failed = words.failed;
    item.querySelector(".body").replaceWith(editor);
    item.querySelector(".actions").hidden = true;
    editor.scrollIntoView({ block: "nearest" });
    text.focus();
    cancel.addEventListener("click", () => show(message));
    editor.addEventListener("submit", async (event) => {
      event.preventDefault();
      const answer = await call("PATCH", "/api/portal/messages/" + message.id, { body: text.value });
      if (!answer.ok) return showErrors(editor, answer);
      show(answer.body);
    });
  }

  // Read receipts: under the list, who has read up to my newest message.
  function seenBy() {
    const mine = [...shown.entries()].filter(([, item]) => item.dataset.sender === me && !item.classList.contains("deleted"));
    const newest = mine.length ? Math.max(...mine.map(([seq]) => seq)) : 0;
    const who = newest ? [...readers.entries()].filter(([id, member]) => id !== me && member.lastReadSeq >= newest).map(([id]) => nameOf(id)) : [];
    $("seen").textContent = who.length ? fill(words.seenBy, who.join(", ")) : "";
  }
  async function loadReaders() {
    const answer = await background("GET", "/api/portal/conversations/" + thread);
    if (!answer.ok) return;
    for (const member of answer.body.members) readers.set(member.userId, member);
    seenBy();
  }

  function markRead() {
    clearTimeout(readTimer);
    readTimer = setTimeout(() => {
      const newest = Math.max(0, ...shown.keys());
      if (!newest || document.hidden) return;
      const link = threadLink(thread);
      if (link) { setBadge(link, 0); navigationCount(); }
      // Reading a conversation to its end also reads the notices about it.
      background("POST", "/api/portal/conversations/" + thread + "/read", { seq: newest }).then(async (read) => {
        if (!read.ok || staff) return;
        const notices = await background("GET", "/api/portal/notifications?limit=1");
        if (notices.ok) navigationBadge("notifications", notices.body.unread);
      });
    }, 300);
  }
  async function history() {
    const answer = await background("GET", "/api/portal/conversations/" + thread + "/messages?limit=50");
    if (!answer.ok) return say(problem(answer), "error");
    for (const message of answer.body.messages.slice().reverse()) show(message);
    older = answer.body.nextBefore;
    $("older").hidden = older === null || older === undefined;
    list.scrollTop = list.scrollHeight;
    markRead();
  }
  // Older messages load when the list is scrolled to its top (or by the button, for the keyboard), keeping
  // the message that was in view where it was.
  async function loadOlder() {
    if (loadingOlder || older === null || older === undefined) return;
    loadingOlder = true;
    const answer = await background("GET", "/api/portal/conversations/" + thread + "/messages?limit=50&before=" + older);
    loadingOlder = false;
    if (!answer.ok) return say(problem(answer), "error");
    const height = list.scrollHeight, top = list.scrollTop;
    for (const message of answer.body.messages) show(message);
    list.scrollTop = top + (list.scrollHeight - height);
    older = answer.body.nextBefore;
    $("older").hidden = older === null || older === undefined;
  }
  list.addEventListener("scroll", () => { if (list.scrollTop < 40) loadOlder(); });
  $("older").addEventListener("click", loadOlder);

  // Presence is per person. Past a room size the server sends counts only (counts is then set) and the
  // list on request; a room that shrinks back gets its list asked for again.
  let counts = null;
  function showPresence() {
    const others = counts ? Math.max(0, counts.online - 1)
      : [...present.values()].filter((p) => p.userId !== me && p.status === "online").length;
    $("presence").textContent = others ? (others === 1 ? words.onlineOne : fill(words.onlineMany, String(others))) : "";
  }
  function listPeople(users) {
    present.clear();
    for (const p of users) present.set(p.userId, p);
    counts = null;
  }
  // The other conversations' unread counts, refreshed from the list every half minute and when the tab comes back
  // (subscribing to them would count this reader as present in every one).
  async function otherCounts() {
    if (document.hidden) return;
    const answer = await background("GET", "/api/portal/conversations" + (staff ? "?tenantId=" + tenant : ""));
    if (!answer.ok) return;
    for (const other of answer.body) {
      const link = threadLink(other.id);
      if (link && other.id !== thread) setBadge(link, other.unread);
    }
    navigationCount();
  }
  setInterval(otherCounts, 30000);
  function receive(frame) {
    if (frame.id) last = Math.max(last || 0, frame.id);
    switch (frame.type) {
      case "subscribed":
        attempt = 0;
        state("live");
        for (const room of frame.presence) {
          if (room.threadId !== thread) continue;
          if (room.users) listPeople(room.users); else { present.clear(); counts = room; }
        }
        showPresence();
        if (last === null) { last = frame.last; history(); loadReaders(); } else markRead();
        break;
      case "reset": location.reload(); break;
      case "message.created": case "message.edited": case "message.deleted":
        show(frame.data);
        if (frame.data.senderId !== me) { $("typing").textContent = ""; markRead(); }
        break;
      case "message.read":
        if (!readers.has(frame.data.userId)) { loadReaders(); break; }
        readers.get(frame.data.userId).lastReadSeq = Math.max(readers.get(frame.data.userId).lastReadSeq, frame.data.seq);
        seenBy();
        break;
      case "typing":
        if (frame.data.userId === me) break;
        $("typing").textContent = words.typing;
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
      case "error": say(frame.error.message, "error"); break;
    }
  }
  // The socket reconnects with exponential backoff and jitter, and resumes after the last event it saw, so
  // nothing is lost while it was away; messages are keyed by number, so none shows twice.
  function connect() {
    state(attempt ? "reconnecting" : "connecting");
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
      state("reconnecting");
      setTimeout(connect, delay);
    });
  }
  connect();

  // Sending: an upload first when a file is chosen (with its progress), then the message naming it.
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const send = form.querySelector("button[type=submit]");
    send.disabled = true;
    try {
      let fileId = $("attach-file").value || undefined;
      const chosen = $("attach-upload")?.files[0];
      if (chosen) {
        const data = new FormData();
        data.append("file", chosen);
        const uploaded = await upload("/api/tenants/" + tenant + "/files?visibility=private", data,
                                      (share) => notify(form, fill(words.uploading, String(Math.round(share * 100)))));
        if (!uploaded.ok) {
          const message = uploaded.body.error?.message || words.failed;
          $("attach-upload").setAttribute("aria-invalid", "true");
          $("attach-upload-error").textContent = message;
          return notify(form, message, "error");
        }
        fileId = uploaded.body.id;
      }
      const answer = await call("POST", "/api/portal/conversations/" + thread + "/messages", { body: body.value, fileId });
      if (!answer.ok) return showErrors(form, answer);
      show(answer.body);
      body.value = "";
      localStorage.removeItem(draftKey);
      $("attach-file").value = "";
      if ($("attach-upload")) $("attach-upload").value = "";
      clearErrors(form);
    } catch {
      // The network is away: the message stays in the box (and in the draft) to send again.
      notify(form, words.offline, "error");
    } finally {
      send.disabled = false;
    }
  });
  body.addEventListener("input", () => {
    if (body.value) localStorage.setItem(draftKey, body.value); else localStorage.removeItem(draftKey);
    if (socket && socket.readyState === WebSocket.OPEN && Date.now() - typingSent > 2000) {
      typingSent = Date.now();
      socket.send(JSON.stringify({ type: "typing", threadId: thread }));
    }
  });
  document.addEventListener("visibilitychange", () => {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "presence", status: document.hidden ? "away" : "online" }));
    if (!document.hidden) { markRead(); otherCounts(); }
  });
})();
