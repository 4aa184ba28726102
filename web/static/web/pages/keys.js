// Exchange and broker keys: live and backtest sets per venue. Secrets go to the server and never
// come back; the page shows each set's masked hint, the fields stored and its last test.

import { api, get, post } from "../api.js";
import { badge, field, h, notice, replace, showFieldErrors, table, when } from "../dom.js";
import { withFreshCode } from "../fresh.js";

export async function render(ctx) {
  ctx.title("Keys");
  const [exchanges] = await Promise.all([get("exchanges")]);
  if (!ctx.alive()) return;
  const venues = exchanges.exchanges.filter((x) => x.needs_keys_for_live);
  const listArea = h("div");
  const listStatus = h("div", { role: "status", "aria-live": "polite" });
  replace(
    ctx.main,
    h("div", { class: "page-head" }, h("h1", {}, "Keys")),
    h("p", { class: "muted" }, "Live sets trade real money (once a bot leaves the training bay); backtest sets only read market data. Secrets are stored encrypted and are never shown again."),
    listStatus,
    listArea,
    h("div", { class: "grid2" }, keyForm(ctx, venues, load), angelForm(ctx, load)),
  );

  async function load() {
    const answer = await get("keys?page_size=500");
    if (!ctx.alive()) return;
    const rows = [...answer.credentials].sort((a, b) => a.provider.localeCompare(b.provider) || a.purpose.localeCompare(b.purpose) || a.label.localeCompare(b.label));
    replace(
      listArea,
      table(
        [
          { label: "Venue", cell: (c) => c.provider },
          { label: "Set", cell: (c) => badge(c.purpose, c.purpose === "live" ? "live" : "paper") },
          { label: "Label", cell: (c) => c.label },
          { label: "Key", cell: (c) => h("code", { class: "hint-code" }, c.api_key_hint) },
          { label: "Fields", cell: (c) => (c.fields_set || []).join(", ") },
          { label: "Last test", cell: (c) => (c.last_tested_at ? [badge(c.last_test_ok ? "ok" : "failed", c.last_test_ok ? "ok" : "bad"), " ", when(c.last_tested_at)] : "never") },
          { label: "", cell: (c) => rowActions(c) },
        ],
        rows,
        { key: (c) => c.id, empty: "No keys saved. Paper bots need none; add a set below to trade live.", caption: "Saved key sets" },
      ),
    );
  }

  function rowActions(c) {
    const what = `${c.provider} ${c.purpose} key set "${c.label}"`;
    const test = h("button", { type: "button", "aria-label": `Test the ${what}` }, "Test");
    test.addEventListener("click", async () => {
      test.disabled = true;
      replace(listStatus, notice(`Testing ${c.provider} ${c.purpose} "${c.label}"…`, "info"));
      try {
        const r = await post("keys/test", { credential_id: c.id });
        replace(listStatus, notice(`${c.provider} ${c.purpose} "${c.label}": ${r.ok ? "works" : "failed"} — ${r.message} (${r.latency_ms} ms)`, r.ok ? "info" : "error"));
        await load();
      } catch (error) {
        replace(listStatus, notice(error.message));
      } finally {
        test.disabled = false;
      }
    });
    const remove = h("button", { type: "button", class: "danger", "aria-label": `Delete the ${what}` }, "Delete");
    remove.addEventListener("click", async () => {
      if (!window.confirm(`Delete the ${c.purpose} key set "${c.label}" for ${c.provider}?`)) return;
      try {
        await withFreshCode((headers) => api("DELETE", `keys/${c.id}`, undefined, { headers }), "Deleting keys");
        replace(listStatus, notice(`Deleted the ${c.purpose} key set "${c.label}" for ${c.provider}.`, "info"));
        await load();
      } catch (error) {
        replace(listStatus, notice(error.message));
      }
    });
    return h("div", { class: "row-actions" }, test, " ", remove);
  }

  await load();
  ctx.updated();
}

function keyForm(ctx, venues, reload) {
  const general = h("div", { class: "form-general", tabindex: "-1" });
  const provider = h("select", { name: "provider" }, venues.filter((v) => v.id !== "angelone").map((v) => h("option", { value: v.id, selected: v.id === "binance" }, v.name)));
  const purpose = h("select", { name: "purpose" }, h("option", { value: "live" }, "Live"), h("option", { value: "backtest" }, "Backtest"));
  const label = h("input", { name: "label", value: "default", maxlength: "64" });
  const key = h("input", { name: "api_key", autocomplete: "off", spellcheck: "false", required: true });
  const secret = h("input", { name: "api_secret", type: "password", autocomplete: "new-password", required: true });
  const passphrase = h("input", { name: "passphrase", type: "password", autocomplete: "new-password" });
  const save = h("button", { type: "submit", class: "primary" }, "Save");
  const test = h("button", { type: "button" }, "Test");
  const form = h(
    "form",
    { class: "card", novalidate: true },
    h("h2", {}, "Add or replace a key set"),
    general,
    h("div", { class: "grid3" }, field("Venue", provider), field("Set", purpose), field("Label", label, { hint: "Same venue, set and label replaces." })),
    field("API key", key),
    field("API secret", secret),
    field("Passphrase", passphrase, { hint: "Only venues that use one (OKX, KuCoin…)." }),
    h("div", { class: "actions" }, save, test),
  );
  const body = () => {
    const b = { provider: provider.value, purpose: purpose.value, label: label.value.trim() || "default", api_key: key.value.trim(), api_secret: secret.value };
    if (passphrase.value) b.passphrase = passphrase.value;
    return b;
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    save.disabled = true;
    try {
      const r = await withFreshCode((headers) => api("POST", "keys/save", body(), { headers }), "Saving keys");
      for (const input of [key, secret, passphrase]) input.value = "";
      showFieldErrors(form, null, general);
      replace(general, notice(`Saved ${r.credential.provider} ${r.credential.purpose} "${r.credential.label}" (${r.credential.api_key_hint}).`, "info"));
      await reload();
    } catch (error) {
      showFieldErrors(form, error, general);
    } finally {
      save.disabled = false;
    }
  });
  test.addEventListener("click", async () => {
    test.disabled = true;
    replace(general, notice("Testing…", "info"));
    try {
      const r = await post("keys/test", body());
      replace(general, notice(`${r.ok ? "Works" : "Failed"}: ${r.message} (${r.latency_ms} ms)`, r.ok ? "info" : "error"));
    } catch (error) {
      showFieldErrors(form, error, general);
    } finally {
      test.disabled = false;
    }
  });
  return form;
}

// Angel One's flat form (API.md: val/update_profile): a live set and a backtest set side by side;
// a blank field keeps what is stored.
function angelForm(ctx, reload) {
  const general = h("div", { class: "form-general", tabindex: "-1" });
  const input = (name, secret = false) => h("input", { name, type: secret ? "password" : "text", autocomplete: secret ? "new-password" : "off", spellcheck: "false" });
  const set = (prefix, title) =>
    h(
      "fieldset",
      {},
      h("legend", {}, title),
      field("API key", input(`${prefix}_api_key`)),
      field("Client code", input(`${prefix}_client_code`)),
      field("Password / PIN", input(`${prefix}_password`, true)),
      field("TOTP secret", input(`${prefix}_totp`, true), { hint: "The base32 secret from the authenticator set-up, not a 6-digit code." }),
    );
  const save = h("button", { type: "submit", class: "primary" }, "Save Angel One keys");
  const form = h("form", { class: "card", novalidate: true }, h("h2", {}, "Angel One"), h("p", { class: "muted" }, "A blank field keeps the stored value."), general, set("angel", "Live set"), set("backtest", "Backtest set"), h("div", { class: "actions" }, save));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {};
    for (const el of form.querySelectorAll("input")) if (el.value.trim()) body[el.name] = el.value.trim();
    if (!Object.keys(body).length) {
      replace(general, notice("Fill in at least one field."));
      return;
    }
    save.disabled = true;
    try {
      const r = await withFreshCode((headers) => api("POST", "val/update_profile", body, { headers }), "Saving keys");
      for (const el of form.querySelectorAll("input")) el.value = "";
      showFieldErrors(form, null, general);
      replace(general, notice(r.message || "Angel One keys saved.", "info"));
      await reload();
    } catch (error) {
      showFieldErrors(form, error, general);
    } finally {
      save.disabled = false;
    }
  });
  return form;
}
