/* Sign in; a one-time password is changed here before anything else. */
(function () {
  "use strict";
  const CK = window.CK;
  const t = CK.t;
  const loginForm = document.getElementById("login-form");
  const changeForm = document.getElementById("change-form");

  function next() {
    const target = new URLSearchParams(location.search).get("next") || "/overview";
    // Only a path on this server (never //host or a scheme).
    return /^\/(?!\/)/.test(target) && !target.includes("\\") ? target : "/overview";
  }

  function fail(box, message) {
    box.textContent = message;
    box.hidden = false;
  }

  async function post(path, body) {
    const response = await fetch(path, { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body) });
    let detail = null;
    if (!response.ok) {
      try { detail = (await response.json()).detail; } catch (e) { detail = response.statusText; }
    }
    return { ok: response.ok, status: response.status, detail: detail, response: response };
  }

  function askForNewPassword(old) {
    loginForm.hidden = true;
    changeForm.hidden = false;
    if (old) document.getElementById("change-old").value = old;
    document.getElementById(old ? "change-new" : "change-old").focus();
  }

  loginForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const box = document.getElementById("login-error");
    box.hidden = true;
    const password = document.getElementById("login-password").value;
    const result = await post("/api/login", { name: document.getElementById("login-name").value,
      password: password });
    if (!result.ok) { fail(box, t("login.failed") + ": " + result.detail); return; }
    const data = await result.response.json();
    if (data.user && data.user.must_change_password) askForNewPassword(password);
    else location.assign(next());
  });

  changeForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const box = document.getElementById("change-error");
    box.hidden = true;
    const fresh = document.getElementById("change-new").value;
    if (fresh !== document.getElementById("change-repeat").value) { fail(box, t("login.mismatch")); return; }
    const result = await post("/api/me/password",
      { old: document.getElementById("change-old").value, new: fresh });
    if (!result.ok) { fail(box, result.detail); return; }
    location.assign(next());
  });

  // Already signed in (the server says so in the page), with a one-time password to change?
  const me = CK.boot.user;
  if (me && me.must_change_password) askForNewPassword(null);
  else if (me && new URLSearchParams(location.search).get("next")) location.assign(next());
})();
