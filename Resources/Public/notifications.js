// The notifications page: opening a notice marks it read, "mark all read", and the unread-mail setting.
(() => {
  "use strict";
  const { $, call, showErrors, clearErrors, notify } = window.Flux;
  const section = $("notifications");
  if (!section) return;
  for (const link of section.querySelectorAll("a[data-notification]")) {
    link.addEventListener("click", async (event) => {
      event.preventDefault();
      await call("POST", "/api/portal/notifications/read", { ids: [link.dataset.notification] });
      location.assign(link.getAttribute("href"));
    });
  }
  const readAll = $("read-all");
  if (readAll) readAll.addEventListener("click", async () => {
    const answer = await call("POST", "/api/portal/notifications/read", {});
    if (!answer.ok) return;
    for (const item of section.querySelectorAll("li.unread-notice")) {
      item.classList.remove("unread-notice");
      const badge = item.querySelector(".badge");
      if (badge) badge.remove();
    }
    readAll.remove();
    for (const badge of document.querySelectorAll("nav.top a[href='/app/notifications'] .badge")) badge.remove();
    window.Flux.say(section.dataset.allRead, "success");
  });
  const form = $("digest-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const answer = await call("PUT", "/api/portal/notifications/settings", { digest: $("digest").value });
    if (answer.ok) notify(form, form.dataset.saved, "success"); else showErrors(form, answer);
  });
})();
