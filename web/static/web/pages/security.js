// Account security: two-factor sign-in, personal API tokens, sessions, downloading your data and
// closing the account. Secrets (the TOTP secret, a new token, recovery codes) are shown once,
// from the answer that created them, and never fetched again.

import { api, del, fetchFile, get, post, sessionLost } from "../api.js";
import { badge, field, h, notice, replace, showFieldErrors, table, when } from "../dom.js";
import { shownOnce, withFreshCode } from "../fresh.js";

const SCOPES = [
  ["read", "read — GET requests: bots, trades, events, the streams"],
  ["trade", "trade — start, stop, pause, orders and other writes"],
  ["keys", "keys — save, test and delete exchange keys"],
];

export async function render(ctx) {
  ctx.title("Account security");
  const twoFactorArea = h("section", { class: "card", id: "two-factor", "aria-labelledby": "h-2fa" });
  const tokensArea = h("section", { class: "card", id: "api-tokens", "aria-labelledby": "h-tokens" });
  const sessionsArea = h("section", { class: "card", id: "sessions", "aria-labelledby": "h-sessions" });
  replace(
    ctx.main,
    h("div", { class: "page-head" }, h("h1", {}, "Account security")),
    ctx.query.get("required") ? notice("Staff accounts must turn on two-factor sign-in before anything else.") : null,
    twoFactorArea,
    tokensArea,
    sessionsArea,
    h("div", { class: "grid2" }, exportCard(), closeCard(ctx)),
  );
  await Promise.all([twoFactor(ctx, twoFactorArea), tokens(ctx, tokensArea), sessions(ctx, sessionsArea)]);
  ctx.updated();
}

// Runs a form's submit handler with its button disabled, and shows a refusal at its fields.
function onSubmit(form, general, handler) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const buttons = form.querySelectorAll("button[type=submit]");
    buttons.forEach((b) => (b.disabled = true));
    try {
      await handler();
    } catch (error) {
      if (form.isConnected) showFieldErrors(form, error, general);
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  });
}

const general = () => h("div", { class: "form-general", tabindex: "-1" });

// --- two-factor sign-in --------------------------------------------------------------------
async function twoFactor(ctx, area) {
  const state = await get("auth/2fa");
  if (!ctx.alive()) return;
  const head = h("h2", { id: "h-2fa" }, "Two-factor sign-in");
  if (!state.enabled) {
    const start = h("button", { type: "button", class: "primary", id: "tfa-setup" }, "Set up two-factor sign-in");
    const status = h("div", { role: "status" });
    start.addEventListener("click", async () => {
      start.disabled = true;
      try {
        setup(ctx, area, await post("auth/2fa/setup"));
      } catch (error) {
        replace(status, notice(error.message));
        start.disabled = false;
      }
    });
    replace(area, head, h("p", {}, badge("off", ""), " Sign-in asks only for your password. Add a code from an authenticator app (Aegis, Google Authenticator, 1Password…)."), status, start);
    return;
  }
  const form = h("form", { class: "tfa-disable", novalidate: true });
  const g = general();
  replace(
    form,
    h("h3", {}, "Turn it off"),
    g,
    h("div", { class: "grid2" }, field("Password", h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })), field("Code", h("input", { name: "code", autocomplete: "one-time-code", spellcheck: "false", required: true }), { hint: "From the app, or a recovery code." })),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "danger" }, "Turn off two-factor sign-in")),
  );
  onSubmit(form, g, async () => {
    const data = new FormData(form);
    await post("auth/2fa/disable", { password: data.get("password"), code: String(data.get("code")).trim() });
    await twoFactor(ctx, area);
    area.prepend(notice("Two-factor sign-in is off.", "info"));
  });
  replace(
    area,
    head,
    h("p", { class: "tfa-state" }, badge("on", "ok"), ` Since ${when(state.enabled_at)}. `, h("span", { class: "recovery-left" }, `${state.recovery_codes_left} recovery codes left.`)),
    form,
  );
}

function setup(ctx, area, answer) {
  const g = general();
  const form = h(
    "form",
    { class: "tfa-enable", novalidate: true },
    g,
    field("Code from the app", h("input", { name: "code", inputmode: "numeric", autocomplete: "one-time-code", maxlength: "6", pattern: "[0-9]{6}", required: true })),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Turn on"), h("button", { type: "button", class: "cancel" }, "Cancel")),
  );
  form.querySelector(".cancel").addEventListener("click", () => twoFactor(ctx, area));
  onSubmit(form, g, async () => {
    const code = String(new FormData(form).get("code")).trim();
    const enabled = await post("auth/2fa/enable", { code });
    if (!ctx.alive()) return;
    const done = h("button", { type: "button", class: "primary" }, "I have saved them");
    done.addEventListener("click", () => twoFactor(ctx, area));
    replace(
      area,
      h("h2", { id: "h-2fa" }, "Two-factor sign-in"),
      notice(enabled.message || "Two-factor sign-in is on.", "info"),
      h("p", {}, "Each recovery code signs you in once if the app is lost. Keep them somewhere safe, away from this computer."),
      shownOnce("Recovery codes", enabled.recovery_codes.join("\n"), { cls: "recovery" }),
      h("ol", { class: "recovery-codes" }, enabled.recovery_codes.map((c) => h("li", {}, h("code", {}, c)))),
      done,
    );
  });
  replace(
    area,
    h("h2", { id: "h-2fa" }, "Two-factor sign-in"),
    h(
      "div",
      { class: "tfa-setup" },
      h("img", { class: "qr", src: answer.qr_svg, alt: "QR code to scan with your authenticator app", width: "180", height: "180" }),
      h(
        "div",
        {},
        h("ol", {}, h("li", {}, "Scan the QR code with your authenticator app,"), h("li", {}, "or type this key into it: ", h("code", { class: "tfa-secret" }, answer.secret)), h("li", {}, "then enter the 6-digit code it shows.")),
        form,
      ),
    ),
  );
  form.querySelector("input").focus();
}

// --- personal API tokens -------------------------------------------------------------------
async function tokens(ctx, area) {
  const listArea = h("div");
  const status = h("div", { role: "status", "aria-live": "polite" });
  const once = h("div");
  const g = general();
  const scopes = h("fieldset", { class: "field", dataset: { field: "scopes" } }, h("legend", {}, "Scopes"), SCOPES.map(([value, text]) => h("label", { class: "radio" }, h("input", { type: "checkbox", name: "scopes", value, checked: value === "read" }), " ", text)), h("small", { class: "field-error", role: "alert" }));
  const form = h(
    "form",
    { class: "token-form", novalidate: true },
    h("h3", {}, "New token"),
    g,
    h("div", { class: "grid2" }, field("Name", h("input", { name: "name", maxlength: "100", required: true, placeholder: "e.g. my-script" })), field("Expires", h("input", { name: "expires_at", type: "date" }), { hint: "Optional: the end of that day (UTC). Blank: never." })),
    scopes,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Create token")),
  );
  onSubmit(form, g, async () => {
    const data = new FormData(form);
    const body = { name: String(data.get("name")).trim(), scopes: data.getAll("scopes") };
    if (data.get("expires_at")) body.expires_at = `${data.get("expires_at")}T23:59:59Z`;
    const answer = await withFreshCode((headers) => api("POST", "auth/tokens", body, { headers }), "Creating an API token");
    form.reset();
    showFieldErrors(form, null, g);
    replace(once, shownOnce(`Token "${answer.api_token.name}"`, answer.token, { cls: "token" }), h("p", { class: "muted" }, "Send it as ", h("code", {}, "Authorization: Bearer …"), "."));
    await load();
  });

  async function load() {
    const answer = await get("auth/tokens");
    if (!ctx.alive()) return;
    replace(
      listArea,
      table(
        [
          { label: "Name", cell: (t) => t.name },
          { label: "Token", cell: (t) => h("code", {}, `${t.prefix}…`) },
          { label: "Scopes", cell: (t) => t.scopes.map((s) => badge(s, s === "read" ? "" : "warn")) },
          { label: "Created", cell: (t) => when(t.created_at) },
          { label: "Expires", cell: (t) => (t.expires_at ? when(t.expires_at) : "never") },
          { label: "Last used", cell: (t) => (t.last_used_at ? when(t.last_used_at) : "never") },
          { label: "", cell: (t) => revoke(t) },
        ],
        answer.tokens,
        { key: (t) => t.id, empty: "No API tokens. Scripts use one instead of your password.", caption: "Personal API tokens" },
      ),
    );
  }

  function revoke(t) {
    const button = h("button", { type: "button", class: "danger", "aria-label": `Revoke the token "${t.name}"` }, "Revoke");
    button.addEventListener("click", async () => {
      if (!window.confirm(`Revoke the token "${t.name}"? Scripts using it stop working at once.`)) return;
      button.disabled = true;
      try {
        await del(`auth/tokens/${t.id}`);
        await load();
        replace(status, notice(`Revoked "${t.name}".`, "info"));
      } catch (error) {
        replace(status, notice(error.message));
        button.disabled = false;
      }
    });
    return button;
  }

  replace(area, h("h2", { id: "h-tokens" }, "Personal API tokens"), h("p", { class: "muted" }, "For scripts and tools: each token has only the scopes you give it, and can be revoked without changing your password."), status, listArea, once, form);
  await load();
}

// --- sessions ------------------------------------------------------------------------------
async function sessions(ctx, area) {
  const listArea = h("div");
  const status = h("div", { role: "status", "aria-live": "polite" });
  const everywhere = h("button", { type: "button", class: "danger", id: "signout-everywhere" }, "Sign out everywhere");
  everywhere.addEventListener("click", async () => {
    if (!window.confirm("Sign out every device, this one too?")) return;
    try {
      await del("auth/sessions");
      ended(ctx);
    } catch (error) {
      replace(status, notice(error.message));
    }
  });

  async function load() {
    const answer = await get("auth/sessions");
    if (!ctx.alive()) return;
    replace(
      listArea,
      table(
        [
          { label: "Device", cell: (s) => [s.device, s.current ? [" ", badge("this device", "ok")] : null] },
          { label: "IP", cell: (s) => s.ip_address || "—" },
          { label: "Signed in", cell: (s) => when(s.created_at) },
          { label: "Last used", cell: (s) => when(s.last_used_at) },
          { label: "", cell: (s) => end(s) },
        ],
        answer.sessions,
        { key: (s) => s.id, caption: "Sessions" },
      ),
    );
  }

  function end(s) {
    const button = h("button", { type: "button", class: "danger", "aria-label": `End the session on ${s.device}${s.current ? " (this device)" : ""}` }, s.current ? "Sign out" : "End");
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await del(`auth/sessions/${s.id}`);
        if (s.current) return ended(ctx);
        await load();
        replace(status, notice(`Ended the session on ${s.device}.`, "info"));
      } catch (error) {
        replace(status, notice(error.message));
        button.disabled = false;
      }
    });
    return button;
  }

  replace(area, h("div", { class: "page-head" }, h("h2", { id: "h-sessions" }, "Sessions"), everywhere), h("p", { class: "muted" }, "Every sign-in, here and elsewhere. Ending one signs that device out within seconds."), status, listArea);
  await load();
}

// This device's session is over: the app signs out and says why.
function ended(ctx, why = "signedout") {
  sessionLost();
  ctx.navigate(`/signin?${why}=1`, { replace: true });
}

// --- leaving -------------------------------------------------------------------------------
function exportCard() {
  const status = h("div", { role: "status" });
  const button = h("button", { type: "button", id: "export" }, "Download my data");
  button.addEventListener("click", async () => {
    button.disabled = true;
    replace(status, notice("Preparing the archive…", "info"));
    try {
      const { blob, filename } = await fetchFile("auth/me/export");
      const url = URL.createObjectURL(blob);
      const a = h("a", { href: url, download: filename, class: "sr-only" }, filename);
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      replace(status, notice(`Downloaded ${filename}.`, "info"));
    } catch (error) {
      replace(status, notice(error.message));
    } finally {
      button.disabled = false;
    }
  });
  return h("section", { class: "card", "aria-labelledby": "h-export" }, h("h2", { id: "h-export" }, "Your data"), h("p", { class: "muted" }, "A JSON archive of your profile, bots, orders, trades, events and backtests. No key or secret is in it."), status, button);
}

function closeCard(ctx) {
  const g = general();
  const form = h(
    "form",
    { class: "card close-account", novalidate: true, "aria-labelledby": "h-close" },
    h("h2", { id: "h-close" }, "Close the account"),
    h("p", { class: "muted" }, "Your bots stop, your keys and notification channels are erased, every session and token ends. This cannot be undone."),
    g,
    field("Password", h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "danger" }, "Close my account")),
  );
  onSubmit(form, g, async () => {
    const password = String(new FormData(form).get("password"));
    if (!window.confirm("Close your Botfleet account for good?")) return;
    await withFreshCode((headers) => api("DELETE", "auth/me", { password }, { headers }), "Closing the account");
    ended(ctx, "closed");
  });
  return form;
}
