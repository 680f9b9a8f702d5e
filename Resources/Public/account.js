// The account pages: sign-in (password, then a code or a recovery code), sign-up with the password rules shown as
// the user types, the mailed links, and, signed in, settings, devices and privacy. Words come from the page's
// data-* attributes (the message catalogue); the server's field errors go beside the fields.
(() => {
  "use strict";
  const { $, call, showErrors, clearErrors, notify, say, localDates, resume, passkeys } = window.Flux;
  const values = (form) => Object.fromEntries([...form.querySelectorAll("input[name]")].map((input) => [input.name, input.value]));
  function onSubmit(form, handler) {
    if (!form) return;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      clearErrors(form);
      try { await handler(); } finally { button.disabled = false; }
    });
  }

  // Sign-in: the password, then (when the account has a second factor) a code from the app or a recovery code.
  const signin = $("signin-form"), codeForm = $("code-form");
  if (signin) {
    let challenge = null, recovery = false, passkeyOnly = false;
    const next = signin.dataset.next;
    if (signin.dataset.resume) resume(next);
    onSubmit(signin, async () => {
      const answer = await call("POST", "/api/auth/login", { ...values(signin), useCookies: true });
      if (!answer.ok) return showErrors(signin, answer);
      if (!answer.body.challenge) return location.assign(next);
      if (answer.body.enrollmentRequired) return location.assign("/hq-command?next=" + encodeURIComponent(next));
      challenge = answer.body.challenge;
      signin.hidden = true; codeForm.hidden = false;
      const methods = answer.body.methods || ["totp"];
      $("use-passkey").hidden = !methods.includes("passkey") || !passkeys.supported();
      if (!methods.includes("totp")) {
        // A passkey, or (the device lost) one of the recovery codes that came with it.
        passkeyOnly = true;
        for (const part of codeForm.querySelectorAll(".totp")) part.hidden = true;
        $("use-recovery").parentElement.hidden = !methods.includes("recovery");
        $("passkey-intro").hidden = false; $("use-passkey").textContent = $("use-passkey").dataset.only;
        $("code").required = false;
        $("use-passkey").focus();
      } else {
        $("code").focus();
      }
    });
    const finish = (form, answer) => {
      if (answer.ok) return location.assign(next);
      if (answer.cancelled) return notify(form, form.dataset.cancelled, "error");
      showErrors(form, answer);
    };
    $("use-passkey").addEventListener("click", async () => finish(codeForm, await passkeys.signIn(challenge)));
    const alone = $("passkey-signin");
    if (passkeys.supported()) {
      alone.hidden = false;
      alone.addEventListener("click", async () => { clearErrors(signin); finish(signin, await passkeys.signIn()); });
    }
    $("use-recovery").addEventListener("click", () => {
      if (passkeyOnly) {
        for (const part of codeForm.querySelectorAll(".totp")) part.hidden = false;
        $("use-recovery").parentElement.hidden = true;
        $("code").required = true;
      }
      recovery = !recovery;
      $("code-label").textContent = recovery ? codeForm.dataset.recoveryLabel : codeForm.dataset.codeLabel;
      $("use-recovery").textContent = recovery ? codeForm.dataset.useCode : codeForm.dataset.useRecovery;
      $("code").inputMode = recovery ? "text" : "numeric";
      $("code").value = ""; $("code").focus();
    });
    onSubmit(codeForm, async () => {
      const code = $("code").value.trim();
      const answer = await call("POST", "/api/auth/mfa/verify", recovery ? { challenge, recoveryCode: code } : { challenge, code });
      if (!answer.ok) return showErrors(codeForm, answer);
      location.assign(next);
    });
  }

  // Sign-up: the rules tick as the password meets them; the common-password rule only the server can judge.
  const signup = $("signup-form");
  if (signup) {
    const rules = $("password-rules");
    $("password").addEventListener("input", () => {
      const length = [...$("password").value].length;
      rules.querySelector("[data-rule=length]").classList.toggle("met", length >= 10 && length <= 128);
      rules.querySelector("[data-rule=long]").classList.toggle("met", length >= 16);
    });
    onSubmit(signup, async () => {
      const answer = await call("POST", "/api/auth/register", values(signup));
      if (!answer.ok) return showErrors(signup, answer);
      signup.hidden = true; $("signup-done").hidden = false;
    });
  }

  const forgot = $("forgot-form");
  onSubmit(forgot, async () => {
    const answer = await call("POST", "/api/auth/password/forgot", values(forgot));
    if (!answer.ok) return showErrors(forgot, answer);
    forgot.hidden = true; $("forgot-done").hidden = false;
  });

  // A mailed link: its token is in the fragment. Signed in by it, the person goes on to their work; a dead link
  // says so and offers the next step.
  const link = $("link-form");
  if (link) {
    const token = new URLSearchParams(location.hash.slice(1)).get("token") || "";
    if (!token) { link.hidden = true; $("link-dead").hidden = false; }
    onSubmit(link, async () => {
      const body = { ...values(link), token, useCookies: true };
      if (link.dataset.kind === "email") body.email = new URLSearchParams(location.hash.slice(1)).get("email") || "";
      const answer = await call("POST", link.dataset.endpoint, body);
      if (!answer.ok) {
        if (answer.body.error?.code === "invalid_token") { link.hidden = true; $("link-dead").hidden = false; return; }
        return showErrors(link, answer);
      }
      history.replaceState(null, "", location.pathname);
      if (answer.body.tokenType === "cookie") return location.assign("/account");
      link.hidden = true; $("link-done").hidden = false;
    });
  }

  const profile = $("profile-form");
  onSubmit(profile, async () => {
    const answer = await call("PATCH", "/api/auth/me", values(profile));
    if (!answer.ok) return showErrors(profile, answer);
    notify(profile, profile.dataset.saved, "success");
  });

  const email = $("email-form");
  onSubmit(email, async () => {
    const answer = await call("POST", "/api/auth/email", values(email));
    if (!answer.ok) return showErrors(email, answer);
    email.reset();
    notify(email, email.dataset.sent, "success");
  });

  const resend = $("resend-verification");
  if (resend) resend.addEventListener("click", async () => {
    const answer = await call("POST", "/api/auth/email/verify/resend");
    notify(profile, answer.ok ? resend.dataset.sent : answer.body.error?.message || "", answer.ok ? "success" : "error");
    if (answer.ok) resend.hidden = true;
  });

  const password = $("password-form");
  onSubmit(password, async () => {
    const answer = await call("POST", "/api/auth/password", values(password));
    if (!answer.ok) return showErrors(password, answer);
    password.reset();
    notify(password, password.dataset.saved, "success");
  });

  // Authenticator: the password re-checked, the key shown as a QR code (an image Flux drew) and as text, a first
  // code to confirm, then the recovery codes, once, with a download.
  const setup = $("mfa-setup-form"), confirm = $("mfa-confirm-form");
  onSubmit(setup, async () => {
    const answer = await call("POST", "/api/auth/mfa/totp/setup", values(setup));
    if (!answer.ok) return showErrors(setup, answer);
    $("mfa-qr").src = answer.body.qrCode;
    $("mfa-secret").textContent = answer.body.secret;
    setup.hidden = true; confirm.hidden = false;
    // The code is typed after the picture is scanned: show the picture whole, then put the cursor in the field.
    confirm.scrollIntoView({ block: "start" });
    $("confirm-code").focus({ preventScroll: true });
  });
  onSubmit(confirm, async () => {
    const answer = await call("POST", "/api/auth/mfa/totp/confirm", { code: $("confirm-code").value.trim() });
    if (!answer.ok) return showErrors(confirm, answer);
    confirm.hidden = true;
    showRecoveryCodes(answer.body.recoveryCodes || []);
  });
  // Recovery codes, shown once (with a first second factor), with a download.
  function showRecoveryCodes(codes) {
    for (const code of codes) { const item = document.createElement("li"); item.textContent = code; $("recovery-codes").appendChild(item); }
    $("recovery-download").href = URL.createObjectURL(new Blob([codes.join("\n") + "\n"], { type: "text/plain" }));
    $("recovery").hidden = false;
    $("recovery").scrollIntoView({ block: "start" });
  }
  // Passkeys: added after the password is re-checked, renamed, removed (the password again).
  const addPasskey = $("passkey-add-form");
  onSubmit(addPasskey, async () => {
    if (!passkeys.supported()) return notify(addPasskey, addPasskey.dataset.unsupported, "error");
    const fields = values(addPasskey);
    const options = await call("POST", "/api/auth/passkeys/registration/options", { password: fields.password });
    if (!options.ok) return showErrors(addPasskey, options);
    let credential;
    try { credential = await passkeys.create(options.body.publicKey); } catch (error) { return notify(addPasskey, addPasskey.dataset.cancelled, "error"); }
    const answer = await call("POST", "/api/auth/passkeys", { challengeId: options.body.challengeId, name: fields.name, credential });
    if (!answer.ok) return showErrors(addPasskey, answer);
    if (!answer.body.recoveryCodes) return location.assign("/account/settings?added=passkey#passkeys");
    addPasskey.hidden = true;
    showRecoveryCodes(answer.body.recoveryCodes);
  });
  if (new URLSearchParams(location.search).get("added") === "passkey" && addPasskey) notify(addPasskey, addPasskey.dataset.added, "success");
  const renameForm = $("passkey-rename-form"), removeForm = $("passkey-remove-form");
  let chosen = null;
  const choose = (form, button) => {
    chosen = button.dataset.passkey;
    renameForm.hidden = form !== renameForm; removeForm.hidden = form !== removeForm;
    clearErrors(form);
    return form;
  };
  for (const button of document.querySelectorAll("button.rename-passkey")) {
    button.addEventListener("click", () => { choose(renameForm, button); $("rename-name").value = button.dataset.name; $("rename-name").focus(); });
  }
  for (const button of document.querySelectorAll("button.remove-passkey")) {
    button.addEventListener("click", () => {
      choose(removeForm, button);
      $("remove-question").textContent = $("remove-question").dataset.template.replace("{0}", button.dataset.name);
      (removeForm.querySelector("input") || removeForm.querySelector("button[type=submit]")).focus();
    });
  }
  for (const [cancel, form] of [["rename-cancel", renameForm], ["remove-cancel", removeForm]]) {
    if ($(cancel)) $(cancel).addEventListener("click", () => { form.hidden = true; });
  }
  onSubmit(renameForm, async () => {
    const answer = await call("PATCH", "/api/auth/passkeys/" + chosen, values(renameForm));
    if (!answer.ok) return showErrors(renameForm, answer);
    location.reload();
  });
  onSubmit(removeForm, async () => {
    const answer = await call("DELETE", "/api/auth/passkeys/" + chosen, values(removeForm));
    if (!answer.ok) return showErrors(removeForm, answer);
    location.reload();
  });

  const disable = $("mfa-disable-form");
  onSubmit(disable, async () => {
    const answer = await call("POST", "/api/auth/mfa/totp/disable", values(disable));
    if (!answer.ok) return showErrors(disable, answer);
    location.reload();
  });

  // Devices: end one other session, or all of them.
  for (const button of document.querySelectorAll("button.revoke-device")) {
    button.addEventListener("click", async () => {
      const answer = await call("DELETE", "/api/auth/sessions/" + button.dataset.session);
      if (!answer.ok) return say(answer.body.error?.message || "", "error");
      button.closest("tr").remove();
      say(button.dataset.done, "success");
    });
  }
  const others = $("revoke-others");
  if (others) others.addEventListener("click", async () => {
    const answer = await call("POST", "/api/auth/logout-others");
    if (!answer.ok) return say(answer.body.error?.message || "", "error");
    for (const row of document.querySelectorAll("#devices tr[data-session]")) if (row.querySelector("button.revoke-device")) row.remove();
    others.hidden = true;
    say(others.dataset.done, "success");
  });

  const erase = $("delete-form");
  onSubmit(erase, async () => {
    const answer = await call("DELETE", "/api/account", values(erase));
    if (!answer.ok) return showErrors(erase, answer);
    for (const section of document.querySelectorAll("main section, main nav")) section.hidden = true;
    $("deleted").hidden = false;
  });

  localDates();
})();
