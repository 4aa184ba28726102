// Notifications: the user's channels (e-mail, Telegram, signed webhooks), which events each
// one gets, a test button, and the delivery log. A webhook's secret and a Telegram link code
// are shown once, from the answer that made them.

import { del, get, linkPath, patch, post } from "../api.js";
import { badge, field, h, notice, replace, showFieldErrors, table, when } from "../dom.js";
import { shownOnce } from "../fresh.js";

const KINDS = [
  ["email", "E-mail"],
  ["telegram", "Telegram"],
  ["webhook", "Webhook (signed JSON POST)"],
];
const STATUS_KIND = { delivered: "ok", pending: "warn", sending: "warn", failed: "bad" };

export async function render(ctx) {
  ctx.title("Notifications");
  const channelsArea = h("div", { class: "channels" });
  const status = h("div", { role: "status", "aria-live": "polite" });
  const deliveriesArea = h("div");
  const refresh = h("button", { type: "button", id: "deliveries-refresh" }, "Refresh");
  let info = { channels: [], event_types: [], default_events: [] };
  const once = new Map(); // channel id → what its last answer showed once
  let watching = false; // a delivery is on its way: the log refreshes until it settles
  let deliveriesPath = "notifications/deliveries?page_size=25";

  replace(
    ctx.main,
    h("div", { class: "page-head" }, h("h1", {}, "Notifications")),
    h("p", { class: "muted" }, "Tell me when a bot pauses, errs, becomes eligible for promotion or is promoted, when the fleet halts or an engine stops: by e-mail, Telegram or a signed webhook."),
    status,
    h("section", { "aria-labelledby": "h-channels" }, h("h2", { id: "h-channels" }, "Channels"), channelsArea),
    createForm(),
    h("section", { class: "card", "aria-labelledby": "h-deliveries" }, h("div", { class: "page-head" }, h("h2", { id: "h-deliveries" }, "Delivery log"), refresh), deliveriesArea),
  );
  refresh.addEventListener("click", () => loadDeliveries());

  async function loadChannels() {
    info = await get("notifications/channels");
    if (!ctx.alive()) return;
    replace(channelsArea, info.channels.length ? info.channels.map(channelCard) : h("p", { class: "empty" }, "No channels yet: add one below."));
  }

  async function loadDeliveries(path = deliveriesPath) {
    const answer = await get(path);
    if (!ctx.alive()) return;
    deliveriesPath = path;
    const names = new Map(info.channels.map((c) => [c.id, c.name]));
    watching = answer.deliveries.some((d) => d.status === "pending" || d.status === "sending");
    const pager = h(
      "div",
      { class: "pager" },
      answer.previous ? pageButton("Newer", answer.previous) : null,
      answer.next ? pageButton("Older", answer.next) : null,
    );
    replace(
      deliveriesArea,
      table(
        [
          { label: "Created", cell: (d) => when(d.created_at) },
          { label: "Channel", cell: (d) => names.get(d.channel_id) || `#${d.channel_id}` },
          { label: "Event", cell: (d) => [d.event_type, d.events > 1 ? ` ×${d.events}` : ""] },
          { label: "Status", cell: (d) => badge(d.status, STATUS_KIND[d.status] || "") },
          { label: "Attempts", num: true, cell: (d) => d.attempts },
          { label: "Detail", cell: (d) => detail(d) },
        ],
        answer.deliveries,
        { key: (d) => d.id, empty: "Nothing sent yet.", caption: "Deliveries" },
      ),
      pager,
    );
  }

  function pageButton(text, url) {
    const button = h("button", { type: "button" }, text);
    button.addEventListener("click", () => loadDeliveries(linkPath(url)));
    return button;
  }

  function detail(d) {
    if (d.status === "delivered") return `${d.response_status ? `HTTP ${d.response_status}, ` : ""}${when(d.delivered_at)}`;
    if (d.status === "failed") return [d.last_error || "gave up", " ", when(d.failed_at)];
    if (d.next_attempt_at && d.attempts) return [d.last_error || "", ` — next try ${when(d.next_attempt_at)}`];
    return "queued";
  }

  async function act(fn, done) {
    try {
      const answer = await fn();
      if (done) replace(status, notice(done, "info"));
      return answer;
    } catch (error) {
      replace(status, notice(error.message));
      return null;
    }
  }

  function channelCard(c) {
    const ready = c.verified && c.enabled;
    const target = c.kind === "email" ? c.address : c.kind === "webhook" ? c.url : c.telegram_linked ? "chat linked" : "not linked yet";
    const state = c.verified ? badge(c.kind === "telegram" ? "linked" : "verified", "ok") : badge(c.kind === "telegram" ? "waiting for the code" : "unverified", "warn");
    const enabled = h("input", { type: "checkbox", name: "enabled", checked: c.enabled });
    enabled.addEventListener("change", async () => {
      if (!(await act(() => patch(`notifications/channels/${c.id}`, { enabled: enabled.checked }), `"${c.name}" ${enabled.checked ? "enabled" : "disabled"}.`))) enabled.checked = !enabled.checked;
      await loadChannels();
    });
    const test = h("button", { type: "button", class: "test", "aria-label": `Send a test message to "${c.name}"` }, "Test");
    test.addEventListener("click", async () => {
      test.disabled = true;
      if (await act(() => post(`notifications/channels/${c.id}/test`), `Test message queued for "${c.name}"; its delivery shows below.`)) await loadDeliveries();
      test.disabled = false;
    });
    const remove = h("button", { type: "button", class: "danger", "aria-label": `Delete the channel "${c.name}"` }, "Delete");
    remove.addEventListener("click", async () => {
      if (!window.confirm(`Delete the ${c.kind} channel "${c.name}"?`)) return;
      if (await act(() => del(`notifications/channels/${c.id}`), `Deleted "${c.name}".`)) await loadChannels();
    });
    const extra = [];
    if (c.kind === "webhook") {
      const rotate = h("button", { type: "button", class: "rotate" }, "New secret");
      rotate.addEventListener("click", async () => {
        if (!window.confirm("Make a new signing secret? The old one stops verifying at once.")) return;
        const answer = await act(() => patch(`notifications/channels/${c.id}`, { rotate_secret: true }));
        if (answer) remember(c.id, answer);
      });
      extra.push(rotate);
    }
    if (c.kind === "telegram" && !c.verified) {
      const check = h("button", { type: "button", class: "primary link-check" }, "I sent it: link");
      check.addEventListener("click", async () => {
        check.disabled = true;
        if (await act(() => post(`notifications/channels/${c.id}/link`), `"${c.name}" is linked.`)) {
          once.delete(c.id);
          await loadChannels();
        }
        check.disabled = false;
      });
      const fresh = h("button", { type: "button" }, "New link code");
      fresh.addEventListener("click", async () => {
        const answer = await act(() => patch(`notifications/channels/${c.id}`, { new_link_code: true }));
        if (answer) remember(c.id, answer);
      });
      extra.push(check, fresh);
    }
    return h(
      "article",
      { class: "card channel", dataset: { channel: String(c.id), kind: c.kind } },
      h("div", { class: "page-head" }, h("h3", {}, c.name), badge(c.kind, "ev"), state, c.ops ? badge("operations", "live") : null),
      h("p", { class: "muted target" }, target),
      once.get(c.id) || null,
      c.kind === "email" && !c.verified ? verifyForm(c) : null,
      h("div", { class: "actions" }, h("label", { class: "radio" }, enabled, " Enabled"), test, extra, remove),
      ready ? null : h("p", { class: "hint" }, c.enabled ? (c.kind === "telegram" ? "Link it to send anything." : "Verify it to send anything.") : "Disabled: nothing is sent."),
      eventsForm(c),
    );
  }

  function remember(id, answer) {
    const shown = [];
    if (answer.secret) shown.push(shownOnce("Signing secret", answer.secret, { cls: "secret" }), h("p", { class: "hint" }, "Each POST carries X-Botfleet-Timestamp and X-Botfleet-Signature: v1=HMAC-SHA256(secret, timestamp + \".\" + body), and an Idempotency-Key."));
    if (answer.link_code)
      shown.push(
        shownOnce("Link code", answer.link_code, { cls: "link-code" }),
        h("p", { class: "hint" }, "Send this code to the Telegram bot (as a message, or /start followed by the code), then press “I sent it: link”."),
      );
    if (answer.verification === "sent") shown.push(notice("A verification code was sent to the address.", "info"));
    once.set(id, shown.length ? h("div", { class: "once-area" }, shown) : null);
    return loadChannels();
  }

  function verifyForm(c) {
    const g = h("div", { class: "form-general" });
    const form = h("form", { class: "verify-form", novalidate: true }, g, field("Code from the e-mail", h("input", { name: "code", autocomplete: "one-time-code", required: true, spellcheck: "false" })), h("div", { class: "actions" }, h("button", { type: "submit" }, "Verify")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await post(`notifications/channels/${c.id}/verify`, { code: String(new FormData(form).get("code")).trim() });
        once.delete(c.id);
        replace(status, notice(`"${c.name}" is verified.`, "info"));
        await loadChannels();
      } catch (error) {
        showFieldErrors(form, error, g);
      }
    });
    return form;
  }

  function eventsForm(c) {
    const g = h("div", { class: "form-general" });
    const types = [...new Set([...info.event_types, ...c.events])];
    const form = h(
      "form",
      { class: "events-form", novalidate: true },
      g,
      h("div", { class: "event-choices field", dataset: { field: "events" } }, types.map((t) => h("label", { class: "radio" }, h("input", { type: "checkbox", name: "events", value: t, checked: c.events.includes(t) }), " ", t, info.default_events.includes(t) ? h("span", { class: "muted" }, " (default)") : null)), h("small", { class: "field-error", role: "alert" })),
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Save events")),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await patch(`notifications/channels/${c.id}`, { events: new FormData(form).getAll("events") });
        replace(status, notice(`Saved the events of "${c.name}".`, "info"));
        await loadChannels();
      } catch (error) {
        showFieldErrors(form, error, g);
      }
    });
    return h("details", { class: "prefs" }, h("summary", {}, `Events (${c.events.length})`), form);
  }

  function createForm() {
    const g = h("div", { class: "form-general", tabindex: "-1" });
    const kind = h("select", { name: "kind" }, KINDS.map(([value, text]) => h("option", { value }, text)));
    const per = {
      email: field("Address", h("input", { name: "address", type: "email", autocomplete: "email" }), { hint: "Blank: your account's address. An address not verified yet is sent a code." }),
      webhook: field("URL", h("input", { name: "url", type: "url", placeholder: "https://example.com/hooks/botfleet" }), { hint: "Receives a signed JSON POST per event; the secret is shown once." }),
      telegram: field("Bot token", h("input", { name: "bot_token", type: "password", autocomplete: "off" }), { hint: "Optional: your own bot's token from @BotFather; blank uses this server's bot." }),
    };
    const slot = h("div");
    const show = () => replace(slot, per[kind.value]);
    kind.addEventListener("change", show);
    show();
    const button = h("button", { type: "submit", class: "primary" }, "Add channel");
    const form = h("form", { class: "card channel-form", novalidate: true }, h("h2", {}, "Add a channel"), g, h("div", { class: "grid2" }, field("Kind", kind), field("Name", h("input", { name: "name", maxlength: "100", placeholder: "e.g. My phone" }))), slot, h("p", { class: "hint" }, "It gets the default events; choose others on its card."), h("div", { class: "actions" }, button));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      button.disabled = true;
      const data = new FormData(form);
      const body = { kind: kind.value, name: String(data.get("name") || "").trim() };
      for (const name of ["address", "url", "bot_token"]) if (data.get(name)) body[name] = String(data.get(name)).trim();
      try {
        const answer = await post("notifications/channels", body);
        form.reset();
        show();
        showFieldErrors(form, null, g);
        replace(status, notice(`Added "${answer.channel.name}".`, "info"));
        await remember(answer.channel.id, answer);
      } catch (error) {
        showFieldErrors(form, error, g);
      } finally {
        button.disabled = false;
      }
    });
    return form;
  }

  await loadChannels();
  await loadDeliveries();
  ctx.every(() => {
    if (watching) loadDeliveries().catch(() => {});
  }, 2000);
  ctx.updated();
}
