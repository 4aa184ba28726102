// The overview: totals, one card per venue (opens its drill-down), the engine's state.

import { get, whoami } from "../api.js";
import { badge, h, money, num, replace, signClass } from "../dom.js";

function debounce(fn, ms) {
  let timer = null;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
}

export async function render(ctx) {
  ctx.title("Overview");
  const totals = h("section", { class: "tiles", "aria-label": "Totals" });
  const cards = h("section", { class: "cards", "aria-label": "Platforms" });
  const engine = h("span", { class: "engine" });
  const banner = h("div");
  const reminder = h("div");
  replace(
    ctx.main,
    h("div", { class: "page-head" }, h("h1", {}, "Overview"), h("div", { class: "head-side" }, "Engine ", engine, " ", h("a", { class: "button primary", href: "/bots/new" }, "New bot"))),
    reminder,
    banner,
    totals,
    h("h2", {}, "Platforms"),
    cards,
  );

  // The totals and the cards first (what the page is for); today's figure and the engine after,
  // so the two requests the first paint needs are not queued behind the others.
  async function load() {
    const [summary, platforms] = await Promise.all([get("analytics/summary"), get("platforms/summary")]);
    if (!ctx.alive()) return;
    const currency = summary.currency;
    const todayTile = tile("Today", "…", "today");
    replace(
      totals,
      tile("Bots running", `${num(summary.active_bots, 0)} / ${num(summary.total_bots, 0)}`, "bots-running"),
      tile("Profit", money(summary.total_pnl, currency), "profit", signClass(summary.total_pnl)),
      tile("Unrealised", money(summary.unrealized_pnl, currency), "unrealized", signClass(summary.unrealized_pnl)),
      todayTile,
      tile("Trades", num(summary.total_trades, 0), "trades"),
    );
    const unconverted = Object.keys(summary.unconverted || {});
    replace(banner, unconverted.length ? h("p", { class: "notice info" }, `Not converted to ${currency} (no price yet): ${unconverted.join(", ")}.`) : "");
    if (!platforms.platforms.length) {
      replace(cards, h("p", { class: "empty" }, "No bots yet — ", h("a", { href: "/bots/new" }, "create one"), "."));
    } else {
      replace(cards, platforms.platforms.map((p) => platformCard(p, platforms.currency)));
    }
    ctx.updated();
    const [bots, status] = await Promise.all([get("bots?page_size=500"), get("status").catch(() => ({ status: "offline" }))]);
    if (!ctx.alive()) return;
    replace(engine, badge(status.status, status.status === "online" ? "ok" : "bad"));
    const today = new Map();
    for (const bot of bots.bots) today.set(bot.quote_currency, (today.get(bot.quote_currency) || 0) + Number(bot.profit_today || 0));
    const todayTotal = [...today.values()].reduce((a, b) => a + b, 0);
    todayTile.replaceWith(tile("Today", [...today.entries()].map(([c, v]) => money(v, c)).join(" · ") || money(0, currency), "today", today.size === 1 ? signClass(todayTotal) : ""));
  }

  whoami()
    .then((user) => ctx.alive() && user.is_verified === false && replace(reminder, h("p", { class: "notice info" }, "Your e-mail is not verified yet. ", h("a", { href: "/verify" }, "Verify it"))))
    .catch(() => {});
  await load();
  const reload = debounce(() => load().catch(() => {}), 300);
  ctx.onEvent((event) => {
    if (event.type === "resync" || event.bot || event.trade || event.bot_id) reload();
  });
  ctx.every(() => get("status").then((s) => ctx.alive() && replace(engine, badge(s.status, s.status === "online" ? "ok" : "bad"))).catch(() => {}), 15_000);
}

function tile(label, value, key, cls = "") {
  return h("div", { class: "tile", dataset: { tile: key } }, h("span", { class: "tile-label" }, label), h("strong", { class: `tile-value ${cls}` }, value));
}

function platformCard(p, currency) {
  const mode = p.by_mode.live && !p.by_mode.paper ? "live" : "paper";
  return h(
    "a",
    { class: "card platform", href: `/platforms/${encodeURIComponent(p.platform)}?mode=${mode}`, dataset: { platform: p.platform } },
    h("h3", {}, p.platform),
    h(
      "dl",
      {},
      h("dt", {}, "Running"),
      h("dd", {}, `${num(p.by_status.running, 0)} of ${num(p.total_bots, 0)}`),
      h("dt", {}, "Paused / error"),
      h("dd", {}, `${num(p.by_status.paused, 0)} / ${num(p.by_status.error, 0)}`),
      h("dt", {}, "Paper / live"),
      h("dd", {}, `${num(p.by_mode.paper, 0)} / ${num(p.by_mode.live, 0)}`),
      h("dt", {}, "Trades"),
      h("dd", {}, num(p.total_trades, 0)),
      h("dt", {}, "Profit"),
      h("dd", { class: signClass(p.total_profit) }, money(p.total_profit, currency)),
    ),
  );
}
