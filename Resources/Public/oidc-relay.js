// The relay page of a form_post sign-in (Apple): the provider's answer arrived cross-site, without the flow cookie;
// posted again from this page it is same-site, so the cookie comes with it. The button does the same without script.
(() => {
  "use strict";
  window.Flux.$("oidc-relay").submit();
})();
