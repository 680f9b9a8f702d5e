// The worker panel (worker-panel.leaf), in the portal's status page and in HQ's worker page: the status kept live
// from the API every two seconds (the pairing QR code appears and goes as the worker reports), and the forms that
// change the desired state: restart (client admin), start / stop / restart with a reason (staff), configuration,
// and staff's settings.
(() => {
  "use strict";
  const { $, call, showErrors, clearErrors, notify, localDates } = window.Flux;
  const panel = $("worker-panel");
  if (!panel) return;
  const staff = panel.dataset.staff === "true";
  const tenant = panel.dataset.tenant;
  const base = staff ? "/api/hq/tenants/" + tenant + "/worker" : "/api/portal/tenant/current";
  const labels = JSON.parse(panel.dataset.labels || "{}");
  const word = (key, value) => (labels[key] || key).replace("{0}", value);
  const badgeClass = { connected: "good", running: "good", starting: "info", pairing: "info", degraded: "warn", stopped: "warn" };
  let dirty = false;
  for (const form of panel.querySelectorAll("form")) form.addEventListener("input", () => { dirty = true; });

  function show(worker, configVersion) {
    const facts = panel.querySelector("dl.worker[data-worker='" + CSS.escape(worker.name) + "']");
    if (!facts) return false;
    const field = (name, root = facts) => root.querySelector("[data-field='" + name + "']");
    const state = field("state");
    state.textContent = word("state." + worker.state, "");
    state.className = "badge " + (badgeClass[worker.state] || "bad");
    field("lastSeen").setAttribute("datetime", worker.lastSeen);
    field("pairedNumber").textContent = worker.pairedNumber || "—";
    field("lastError").textContent = worker.lastError || "—";
    field("version").textContent = worker.version || "—";
    field("config").textContent = worker.configVersion === undefined ? "—"
      : word(worker.configVersion === configVersion ? "config.current" : "config.pending", configVersion);
    const figure = facts.nextElementSibling;
    figure.hidden = !worker.qr;
    if (worker.qr) {
      const image = field("qrImage", figure);
      if (image.getAttribute("src") !== worker.qr.image) image.setAttribute("src", worker.qr.image);
      field("qrExpires", figure).setAttribute("datetime", worker.qr.expiresAt);
    }
    return true;
  }

  async function refresh() {
    if (document.hidden) return;
    const answer = await call("GET", staff ? base : base + "/worker");
    if (!answer.ok) return;
    const desired = $("worker-desired");
    desired.textContent = answer.body.run ? desired.dataset.run : desired.dataset.stop;
    desired.className = "badge " + (answer.body.run ? "good" : "warn");
    const shown = answer.body.workers.map((worker) => show(worker, answer.body.config.version));
    // A worker this page has not drawn yet (the first report): draw the page again, unless someone is typing.
    if (shown.includes(false) && !dirty) { location.reload(); return; }
    localDates(panel);
  }
  setInterval(refresh, 2000);

  function submitted(form, handler) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      const answer = await handler(event.submitter);
      if (!answer.ok) { showErrors(form, answer); return; }
      notify(form, form.dataset.saved || form.dataset.sent, "success");
      dirty = false;
      refresh();
    });
  }

  const command = $("worker-command");
  if (command) submitted(command, (button) => call("POST", base + "/commands", { kind: button.value, reason: $("command-reason").value }));

  const restart = $("worker-restart");
  if (restart) submitted(restart, () => call("POST", base + "/worker/restart", { reason: $("restart-reason").value }));

  const config = $("worker-config");
  if (config) submitted(config, async () => {
    const openingHours = {};
    for (const day of config.querySelectorAll(".day")) {
      const intervals = [];
      for (const interval of day.querySelectorAll(".interval")) {
        const [open, close] = interval.querySelectorAll("input");
        if (open.value || close.value) intervals.push({ open: open.value, close: close.value });
      }
      openingHours[day.dataset.day] = intervals;
    }
    const answer = await call("PUT", base + "/config", {
      templateType: $("config-template").value, businessName: $("config-name").value, language: $("config-language").value,
      openingHours, version: Number(config.dataset.version),
    });
    if (answer.ok) config.dataset.version = answer.body.version;
    return answer;
  });

  const settings = $("worker-settings");
  if (settings) submitted(settings, () => {
    const number = (input) => (input.value === "" ? null : Number(input.value));
    return call("PUT", base + "/settings", { staleAfterSeconds: number($("settings-stale")), logRetentionDays: number($("settings-retention")) });
  });
})();
