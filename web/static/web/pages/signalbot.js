// A signal bot's parts of its page: the webhook URL (copy, rotate), a box that parses a text
// signal (and can send it to the bot), and the bot's signal history with each outcome.

import { get, post } from "../api.js";
import { badge, field, h, num, replace, table, when } from "../dom.js";

const OUTCOME_KIND = { accepted: "ok", executed: "ok", rejected: "bad", failed: "bad" };
const HISTORY_PAGE = 20;

export function signalSection(ctx, bot, show) {
  const id = bot.id;
  const url = h("input", { type: "text", readonly: true, class: "webhook-url", name: "webhook_url", "aria-label": "Webhook URL", spellcheck: "false" });
  const rotated = h("p", { class: "muted webhook-rotated" });
  const secret = h("code", { class: "webhook-secret" });
  const copy = h("button", { type: "button", dataset: { action: "copy-webhook" } }, "Copy");
  const rotate = h("button", { type: "button", class: "danger", dataset: { action: "rotate-webhook" } }, "Rotate");
  const webhook = h(
    "section",
    { class: "card webhook", "aria-label": "Webhook" },
    h("h2", {}, "Webhook"),
    h("p", { class: "hint" }, "Point TradingView (or any sender) at this URL; a JSON body with action buy, sell or close trades the bot at once."),
    h("div", { class: "webhook-row" }, url, copy, rotate),
    rotated,
    h("details", {}, h("summary", {}, "Signing secret (for senders that can sign, X-Botfleet-Signature)"), secret),
  );

  const draw = (w) => {
    url.value = w.url;
    secret.textContent = w.signing_secret || "";
    rotated.textContent = w.rotated_at ? `Rotated ${when(w.rotated_at)}.` : `Made ${when(w.created_at)}; never rotated.`;
  };

  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(url.value);
      show("Webhook URL copied.", "info");
    } catch {
      url.select(); // no clipboard permission: selected, for the user's own copy
      show("Copying was refused by the browser: the URL is selected, copy it with Ctrl+C.", "error");
    }
  });
  rotate.addEventListener("click", async () => {
    if (!window.confirm("Replace this bot's webhook URL? The old URL stops working at once: update your senders.")) return;
    try {
      draw((await post(`bots/${id}/webhook/rotate`)).webhook);
      show("A new webhook URL is in place; the old one no longer works.", "info");
    } catch (error) {
      show(error.message, "error");
    }
  });

  // --- parse a signal -----------------------------------------------------------------------
  const text = h("textarea", { name: "signal_text", rows: "3", placeholder: "BUY XAUUSD at 1950.00 TP: 1965.00 SL: 1940.00", spellcheck: "false" });
  const parsed = h("div", { class: "parsed", "aria-live": "polite" });
  const send = h("button", { type: "button", dataset: { action: "import-signal" } }, "Send to this bot");
  const parseForm = h(
    "form",
    { class: "card parse-box", novalidate: true },
    h("h2", {}, "Parse a signal"),
    field("Signal text", text, { hint: "A channel's message as written: the fields found are shown, or why it is not a signal." }),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Parse"), send),
    parsed,
  );
  const fields = (s) =>
    h(
      "dl",
      { class: "facts parsed-fields" },
      [
        ["Symbol", s.symbol],
        ["Action", s.action],
        ["Order", s.order_type || "—"],
        ["Entry", s.entry_price === null ? (s.entry_range ? s.entry_range.join(" – ") : "market") : s.entry_price],
        ["Take profit", s.take_profit?.length ? s.take_profit.join(", ") : "—"],
        ["Stop loss", s.stop_loss ?? "—"],
        ["Confidence", s.confidence === null || s.confidence === undefined ? "—" : num(s.confidence, 2)],
      ].map(([k, v]) => [h("dt", {}, k), h("dd", { dataset: { field: k.toLowerCase().replace(/ /g, "_") } }, String(v ?? "—"))]),
    );
  parseForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      replace(parsed, fields((await post("signals/parse", { text: text.value })).signal));
    } catch (error) {
      replace(parsed, h("p", { class: "notice error parse-refused", role: "alert" }, error.message));
    }
  });
  send.addEventListener("click", async () => {
    try {
      const answer = await post("signals/import", { bot_id: id, text: text.value });
      replace(parsed, fields(answer.parsed));
      const s = answer.signal;
      show(s.status === "rejected" ? `Signal refused: ${s.message || s.reason}` : "Signal sent to the bot.", s.status === "rejected" ? "error" : "info");
      loadHistory().catch(() => {});
    } catch (error) {
      replace(parsed, h("p", { class: "notice error parse-refused", role: "alert" }, error.message));
    }
  });

  // --- history ------------------------------------------------------------------------------
  const history = h("div", { class: "signal-history" });
  const columns = [
    { label: "Received", cell: (s) => when(s.received_at) },
    { label: "Source", cell: (s) => s.source },
    { label: "Action", cell: (s) => badge(s.action, s.action === "buy" ? "buy" : s.action === "sell" || s.action === "close" ? "sell" : "") },
    { label: "Symbol", cell: (s) => s.symbol || "—" },
    { label: "Outcome", cell: (s) => badge(s.status, `signal-${s.status} ${OUTCOME_KIND[s.status] || ""}`) },
    { label: "Why / order", cell: (s) => (s.status === "rejected" || s.status === "failed" ? s.message || s.reason || "" : s.order_id ? `order #${s.order_id}` : s.message || "") },
  ];
  async function loadHistory() {
    const answer = await get(`signals/history?bot_id=${id}&page_size=${HISTORY_PAGE}`);
    if (!ctx.alive()) return;
    replace(history, table(columns, answer.signals, { key: (s) => s.id, caption: "Signal history", empty: "No signals yet." }), answer.total > HISTORY_PAGE ? h("p", { class: "muted" }, `The latest ${HISTORY_PAGE} of ${num(answer.total, 0)}.`) : null);
  }
  const historyCard = h("section", { class: "card" }, h("h2", {}, "Signals"), history);

  let timer = null;
  ctx.cleanup(() => clearTimeout(timer));
  ctx.onEvent((event) => {
    const botId = event.bot?.id ?? event.bot_id ?? event.trade?.bot_id;
    // Signal events name the signal, not its bot: any of them may be this bot's.
    if (event.type !== "resync" && botId !== id && !event.type.startsWith("signal_")) return;
    clearTimeout(timer);
    timer = setTimeout(() => loadHistory().catch(() => {}), 300); // an outcome changes with the bot's events
  });

  const load = () => Promise.all([get(`bots/${id}/webhook`).then((a) => ctx.alive() && draw(a.webhook)), loadHistory()]);
  return { element: h("div", { class: "signal-bot" }, webhook, h("div", { class: "grid2" }, parseForm, historyCard)), load };
}
