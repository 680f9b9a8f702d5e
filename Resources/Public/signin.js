// HQ's and the portal's sign-in page: the password, then a TOTP code or a passkey, or enrolment for a role that
// requires a second factor; or a passkey alone.
(() => {
  "use strict";
  const { $, call, say, problem, resume, passkeys } = window.Flux;
  const signin = $("signin-form");
  if (signin) {
    let challenge = null, enrolling = false;
    const next = $("status").dataset.next;
    if ($("status").dataset.resume) resume(next);
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
      const methods = answer.body.methods || ["totp"];
      $("use-passkey").hidden = !methods.includes("passkey") || !passkeys.supported();
      if (!answer.body.enrollmentRequired && !methods.includes("totp")) {
        for (const part of $("code-form").querySelectorAll(".totp")) part.hidden = true;
        $("passkey-intro").hidden = false; $("use-passkey").textContent = $("use-passkey").dataset.only;
        $("code").required = false;
        return $("use-passkey").focus();
      }
      if (answer.body.enrollmentRequired) {
        enrolling = true;
        const setup = await call("POST", "/api/auth/mfa/totp/setup", { challenge });
        if (!setup.ok) return say(problem(setup));
        $("secret").textContent = setup.body.secret; $("enrol").hidden = false;
      }
      $("code").focus();
    });
    const withPasskey = async (answer) => {
      if (answer.cancelled) return say($("status").dataset.cancelled, "error");
      if (!answer.ok) return say(problem(answer), "error");
      done(answer);
    };
    $("use-passkey").addEventListener("click", async () => withPasskey(await passkeys.signIn(challenge)));
    if (passkeys.supported()) {
      $("passkey-signin").hidden = false;
      $("passkey-signin").addEventListener("click", async () => withPasskey(await passkeys.signIn()));
    }
    $("code-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const path = enrolling ? "/api/auth/mfa/totp/confirm" : "/api/auth/mfa/verify";
      const answer = await call("POST", path, { challenge, code: $("code").value.trim() });
      if (!answer.ok) return say(problem(answer));
      done(answer);
    });
  }

})();
