// HQ's and the portal's sign-in page: the password, then a TOTP code, or enrolment for a role that requires one.
(() => {
  "use strict";
  const { $, call, say, problem, resume } = window.Flux;
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

})();
