// The portal's files page: upload as multipart (the browser sets the boundary), share links, deletion, folders.
(() => {
  "use strict";
  const { $, call, csrf, say, problem } = window.Flux;
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
})();
