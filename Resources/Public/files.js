// The portal's files page: uploads (drag and drop or the file input; one row per file with a progress bar, the
// server's refusal in the row, Retry and Cancel), previews of images and PDFs, share links (create with an expiry,
// copy, revoke), who can see each file, and folders and files renamed, moved and deleted (after a confirmation).
// After a change the listing is fetched again as HTML from the server, so the page never renders a row itself.
(() => {
  "use strict";
  const { $, call, csrf, say, problem, showErrors, clearErrors, notify, localDates } = window.Flux;
  const panel = $("files");
  if (!panel) return;
  const base = "/api/tenants/" + panel.dataset.tenant;
  const folder = panel.dataset.folder;
  const maxBytes = Number(panel.dataset.maxBytes);
  const text = (key, ...values) => values.reduce((t, v, i) => t.replace("{" + i + "}", v), panel.dataset["t" + key] || "");

  // MARK: - the listing, fetched again after every change

  async function refresh() {
    const response = await fetch(location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } });
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    for (const id of ["listing", "usage"]) {
      const replacement = fresh.getElementById(id);
      if (replacement) $(id).replaceWith(document.importNode(replacement, true));
    }
    localDates($("listing"));
  }

  // MARK: - uploads

  // A browser cannot pick up an upload where it stopped without a chunked upload API on the server, which Flux
  // does not have: Retry sends the whole file again, from the File the row keeps (nobody picks it again).
  const queue = [];
  let sending = false;

  let rows = 0;
  function uploadRow(file, visibility) {
    const item = { file, visibility, xhr: null, li: document.createElement("li") };
    item.li.className = "upload";
    const name = document.createElement("span");
    name.className = "upload-name";
    name.id = "upload-" + ++rows;
    name.textContent = file.name;
    const progress = document.createElement("progress");
    progress.max = 100;
    progress.value = 0;
    progress.setAttribute("aria-label", text("Progress", file.name));
    const state = document.createElement("span");
    state.className = "upload-state";
    const actions = document.createElement("span");
    actions.className = "row-actions";
    item.li.append(name, progress, state, actions);
    // A new state rebuilds the row's buttons; progress within a state only changes its words.
    item.set = (kind, message, buttons = []) => {
      item.li.dataset.state = kind;
      state.textContent = message;
      state.classList.toggle("error", kind === "failed");
      actions.replaceChildren(...buttons.map(([label, action, style]) => {
        const button = document.createElement("button");
        button.type = "button";
        button.className = style ?? "secondary";
        button.textContent = label;
        button.setAttribute("aria-describedby", name.id);
        button.addEventListener("click", action);
        return button;
      }));
    };
    item.progress = (fraction) => {
      const percent = Math.min(100, Math.floor(fraction * 100));
      progress.value = percent;
      const message = percent >= 100 ? text("Finishing") : text("Sending", percent);
      if (item.li.dataset.state === "sending") state.textContent = message;
      else item.set("sending", message, item.cancelButton);
    };
    item.cancelButton = [[text("Cancel"), () => item.xhr ? item.xhr.abort() : cancel(item)]];
    item.fail = (message) => {
      progress.value = 0;
      item.set("failed", text("Failed", message), [[text("Retry"), () => enqueue(item), ""], [text("Remove"), () => item.li.remove()]]);
      if (document.activeElement === document.body) item.li.querySelector("button")?.focus();
    };
    return item;
  }

  function cancel(item) {
    item.cancelled = true;
    const index = queue.indexOf(item);
    if (index >= 0) queue.splice(index, 1);
    item.set("cancelled", text("Cancelled"), [[text("Retry"), () => enqueue(item), ""], [text("Remove"), () => item.li.remove()]]);
  }

  function enqueue(item) {
    item.set("waiting", text("Waiting"), item.cancelButton);
    queue.push(item);
    pump();
  }

  async function pump() {
    if (sending) return;
    sending = true;
    while (queue.length) {
      const item = queue.shift();
      if (await send(item)) await refresh();
    }
    sending = false;
  }

  // Resolves to whether the file was stored.
  async function send(item) {
    if (item.file.size > maxBytes) {
      item.fail(text("TooLarge"));
      return false;
    }
    item.progress(0);
    // A cheap signed-in call first: it renews an expired access token before a large body is sent for nothing.
    item.cancelled = false;
    await call("GET", "/api/auth/token-info");
    if (item.cancelled) return false;
    for (let attempt = 0; attempt < 2; attempt++) {
      const answer = await post(item, await csrf(attempt > 0));
      if (answer.ok) {
        item.li.querySelector("progress").value = 100;
        item.set("done", text("Done"));
        return true;
      }
      if (answer.aborted) { cancel(item); return false; }
      // A CSRF token the server no longer takes (the session changed): once more with a fresh one.
      if (answer.status === 403 && answer.body.error?.code === "csrf_failed" && attempt === 0) continue;
      item.fail(answer.status === 0 ? text("Interrupted") : (answer.body.error?.message || text("FailedGeneric")));
      return false;
    }
    return false;
  }

  function post(item, token) {
    return new Promise((resolve) => {
      const form = new FormData();
      form.append("file", item.file);
      const query = new URLSearchParams({ visibility: item.visibility });
      if (folder) query.set("folderId", folder);
      const xhr = new XMLHttpRequest();
      item.xhr = xhr;
      xhr.open("POST", base + "/files?" + query);
      xhr.setRequestHeader("X-CSRF-Token", token);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", (event) => { if (event.lengthComputable) item.progress(event.loaded / event.total); });
      const done = (result) => { item.xhr = null; resolve(result); };
      xhr.addEventListener("load", () => {
        let body = {};
        try { body = JSON.parse(xhr.responseText || "{}"); } catch { body = {}; }
        done({ ok: xhr.status >= 200 && xhr.status < 300, status: xhr.status, body });
      });
      xhr.addEventListener("error", () => done({ ok: false, status: 0, body: {} }));
      xhr.addEventListener("abort", () => done({ ok: false, status: 0, body: {}, aborted: true }));
      xhr.send(form);
    });
  }

  function add(files) {
    const visibility = $("upload-visibility").value;
    for (const file of files) {
      const item = uploadRow(file, visibility);
      $("uploads").append(item.li);
      enqueue(item);
    }
  }

  const uploadForm = $("upload-form");
  uploadForm.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(uploadForm);
    const input = $("upload-file");
    if (!input.files.length) {
      return showErrors(uploadForm, { body: { error: { message: text("Choose"), fields: { file: text("Choose") } } } });
    }
    add(Array.from(input.files));
    input.value = "";
  });
  const dropzone = $("dropzone");
  for (const kind of ["dragenter", "dragover"]) {
    dropzone.addEventListener(kind, (event) => { event.preventDefault(); dropzone.classList.add("over"); });
  }
  for (const kind of ["dragleave", "drop"]) dropzone.addEventListener(kind, () => dropzone.classList.remove("over"));
  dropzone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer?.files.length) add(Array.from(event.dataTransfer.files));
  });

  // MARK: - dialogs

  let opener = null;
  function open(dialog) {
    opener = document.activeElement;
    for (const form of dialog.querySelectorAll("form")) clearErrors(form);
    dialog.showModal();
  }
  function close(dialog) {
    dialog.close();
  }
  for (const dialog of document.querySelectorAll("dialog")) {
    dialog.addEventListener("close", () => {
      if (dialog.id === "preview-dialog") $("preview-body").replaceChildren();
      if (opener && document.contains(opener)) opener.focus();
    });
    for (const button of dialog.querySelectorAll(".close-dialog")) button.addEventListener("click", () => close(dialog));
  }

  // What the open dialog acts on: { kind: "file" | "folder", id, name }.
  let subject = null;
  function subjectOf(button) {
    if (button.dataset.folder) return { kind: "folder", id: button.dataset.folder, name: button.dataset.name };
    const row = button.closest("tr");
    return { kind: "file", id: row.dataset.file, name: row.dataset.name, preview: row.dataset.preview };
  }
  const path = (s) => base + (s.kind === "file" ? "/files/" : "/folders/") + s.id;

  async function submitChange(form, body, dialog, message) {
    const answer = await call("PATCH", path(subject), body);
    if (!answer.ok) return showErrors(form, answer);
    close(dialog);
    say(message || text("Saved"), "success");
    await refresh();
  }

  const renameForm = $("rename-form");
  renameForm.addEventListener("submit", (event) => {
    event.preventDefault();
    submitChange(renameForm, { name: $("rename-name").value }, $("rename-dialog"));
  });

  const moveForm = $("move-form");
  moveForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const target = $("move-target").value;
    const key = subject.kind === "file" ? "folderId" : "parentId";
    submitChange(moveForm, target ? { [key]: target } : { toTopLevel: true }, $("move-dialog"));
  });

  const deleteForm = $("delete-form");
  deleteForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const answer = await call("DELETE", path(subject));
    if (!answer.ok) return showErrors(deleteForm, answer);
    close($("delete-dialog"));
    say(text("Deleted"), "success");
    await refresh();
  });

  // MARK: - share links

  function linkItem(share) {
    const li = document.createElement("li");
    const id = "share-" + share.id;
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = text("Until", new Intl.DateTimeFormat(document.documentElement.lang || undefined,
      { dateStyle: "medium", timeStyle: "short" }).format(new Date(share.expiresAt)));
    const input = document.createElement("input");
    input.id = id;
    input.readOnly = true;
    input.value = share.url;
    input.className = "share-url";
    const copy = document.createElement("button");
    copy.type = "button";
    copy.className = "secondary copy-link";
    copy.dataset.for = id;
    copy.textContent = text("Copy");
    const revoke = document.createElement("button");
    revoke.type = "button";
    revoke.className = "danger revoke-link";
    revoke.dataset.share = share.id;
    revoke.textContent = text("Revoke");
    revoke.setAttribute("aria-describedby", id);
    const row = document.createElement("div");
    row.className = "row";
    row.append(input, copy, revoke);
    li.append(label, row);
    return li;
  }

  async function loadShares() {
    const list = $("share-list");
    const answer = await call("GET", path(subject) + "/shares");
    if (!answer.ok) return notify($("share-form"), problem(answer), "error");
    list.replaceChildren(...answer.body.shares.map(linkItem));
    if (!answer.body.shares.length) {
      const none = document.createElement("li");
      none.className = "muted";
      none.textContent = text("None");
      list.append(none);
    }
  }

  const shareForm = $("share-form");
  shareForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(shareForm);
    const answer = await call("POST", path(subject) + "/shares", { expiresInHours: Number($("share-hours").value) });
    if (!answer.ok) return showErrors(shareForm, answer);
    $("share-new").hidden = false;
    $("share-url").value = answer.body.url;
    notify(shareForm, text("LinkReady"), "success");
    $("share-url").select();
    await loadShares();
  });
  $("share-dialog").addEventListener("click", async (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    if (button.classList.contains("copy-link")) {
      const input = $(button.dataset.for);
      input.select();
      try { await navigator.clipboard.writeText(input.value); } catch { document.execCommand("copy"); }
      notify(shareForm, text("Copied"), "success");
    } else if (button.classList.contains("revoke-link")) {
      const answer = await call("DELETE", path(subject) + "/shares/" + button.dataset.share);
      if (!answer.ok) return notify(shareForm, problem(answer), "error");
      if ($("share-url").value.includes(button.dataset.share)) { $("share-url").value = ""; $("share-new").hidden = true; }
      notify(shareForm, text("Revoked"), "success");
      await loadShares();
      $("share-hours").focus();
    }
  });

  // MARK: - actions on the listing (delegated: the listing is replaced after each change)

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("#listing button");
    if (!button) return;
    subject = subjectOf(button);
    const classes = button.classList;
    if (classes.contains("rename-file") || classes.contains("rename-folder")) {
      open($("rename-dialog"));
      $("rename-name").value = subject.name;
      $("rename-name").maxLength = subject.kind === "file" ? 200 : 100;
      $("rename-name").select();
    } else if (classes.contains("move-file") || classes.contains("move-folder")) {
      const select = $("move-target");
      select.name = subject.kind === "file" ? "folderId" : "parentId";
      select.replaceChildren(document.importNode($("move-targets").content, true));
      // A folder goes neither into itself nor into one of its own subfolders (the server refuses that too).
      if (subject.kind === "folder") {
        for (const option of Array.from(select.options)) {
          if ((option.dataset.ancestors || "").split(" ").includes(subject.id)) option.remove();
        }
      }
      select.value = folder;
      $("move-what").textContent = subject.name;
      open($("move-dialog"));
    } else if (classes.contains("delete-file") || classes.contains("delete-folder")) {
      const kind = subject.kind === "file" ? "File" : "Folder";
      $("delete-title").textContent = deleteForm.dataset[kind.toLowerCase() + "Title"];
      $("delete-text").textContent = deleteForm.dataset[kind.toLowerCase() + "Text"].replace("{0}", subject.name);
      open($("delete-dialog"));
      deleteForm.querySelector("button.close-dialog").focus();
    } else if (classes.contains("share-file")) {
      $("share-what").textContent = subject.name;
      $("share-new").hidden = true;
      $("share-url").value = "";
      $("share-list").replaceChildren();
      open($("share-dialog"));
      $("share-hours").focus();
      await loadShares();
    } else if (classes.contains("preview-file")) {
      const url = path(subject) + "/content";
      const body = $("preview-body");
      let shown;
      if (subject.preview === "image") {
        shown = document.createElement("img");
        shown.alt = subject.name;
      } else {
        shown = document.createElement("iframe");
        shown.title = subject.name;
      }
      shown.src = url + "?inline=true";
      body.replaceChildren(shown);
      $("preview-title").textContent = subject.name;
      $("preview-open").href = url + "?inline=true";
      $("preview-download").href = url;
      open($("preview-dialog"));
    }
  });

  document.addEventListener("change", async (event) => {
    const select = event.target.closest("select.file-visibility");
    if (!select) return;
    const answer = await call("PATCH", base + "/files/" + select.dataset.file, { visibility: select.value });
    if (answer.ok) {
      select.dataset.value = select.value;
      say(text("Visibility"), "success");
    } else {
      select.value = select.dataset.value;
      say(problem(answer), "error");
    }
  });

  const folderForm = $("folder-form");
  folderForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { name: $("folder-name").value };
    if (folder) body.parentId = folder;
    const answer = await call("POST", base + "/folders", body);
    if (!answer.ok) return showErrors(folderForm, answer);
    clearErrors(folderForm);
    $("folder-name").value = "";
    notify(folderForm, text("Saved"), "success");
    await refresh();
  });
})();
