// The bots list and a platform's drill-down: one row per bot, updated in place from the stream.

import { get, linkPath } from "../api.js";
import { h, replace, table, tableRow } from "../dom.js";
import { botColumns, statusLine } from "../botui.js";

function liveTable(ctx, { columns, rows, empty, caption, refetch, accepts }) {
  const holder = h("div", { class: "bot-table" });
  const byId = new Map(rows.map((b) => [b.id, b]));
  const draw = () => replace(holder, table(columns, [...byId.values()], { key: (b) => b.id, empty, caption }));
  draw();

  function upsert(bot) {
    if (!ctx.alive()) return;
    const known = byId.get(bot.id);
    if (!known) return refetch();
    const merged = { ...known, ...bot };
    byId.set(bot.id, merged);
    const row = holder.querySelector(`tr[data-key="${bot.id}"]`);
    if (!row) return draw();
    const focused = row.contains(document.activeElement) ? document.activeElement.dataset.action : null;
    const fresh = tableRow(columns, merged, (b) => b.id);
    row.replaceWith(fresh);
    if (focused) fresh.querySelector(`[data-action="${focused}"]`)?.focus();
  }

  const pendingTrades = new Set();
  function handle(event) {
    if (event.type === "resync" || event.type === "bot_created") return refetch();
    if (event.type === "bot_deleted" && event.bot) {
      byId.delete(event.bot.id);
      return draw();
    }
    if (event.bot && byId.has(event.bot.id)) {
      if (!accepts || accepts(event.bot)) upsert(event.bot);
      else refetch();
      return;
    }
    const botId = event.bot_id || event.trade?.bot_id;
    if (botId && byId.has(botId) && !pendingTrades.has(botId)) {
      // A trade moves the bot's counters: read them once, however many trades arrive together.
      pendingTrades.add(botId);
      setTimeout(() => {
        pendingTrades.delete(botId);
        get(`bots/${botId}`).then((a) => upsert(a.bot)).catch(() => {});
      }, 150);
    }
  }
  return { holder, upsert, handle };
}

export async function render(ctx) {
  ctx.title("Bots");
  const [statusEl, show] = statusLine();
  const pager = h("nav", { class: "pager", "aria-label": "Pages" });
  const area = h("div");
  replace(ctx.main, h("div", { class: "page-head" }, h("h1", {}, "Bots"), h("a", { class: "button primary", href: "/bots/new" }, "New bot")), statusEl, area, pager);
  const path = ctx.query.get("page") ? `bots?page=${encodeURIComponent(ctx.query.get("page"))}` : "bots";
  let tableApi = null;
  const columns = botColumns({ onDone: (bot) => tableApi?.upsert(bot), status: show });

  async function load() {
    const answer = await get(path);
    if (!ctx.alive()) return;
    ctx.updated();
    tableApi = liveTable(ctx, { columns, rows: answer.bots, empty: emptyBots(), caption: "Your bots", refetch: () => reloadSoon() });
    replace(area, tableApi.holder);
    replace(pager, pageLinks(answer));
  }
  let timer = null;
  const reloadSoon = () => {
    clearTimeout(timer);
    timer = setTimeout(() => load().catch((e) => show(e.message, "error")), 250);
  };
  ctx.cleanup(() => clearTimeout(timer));
  await load();
  ctx.onEvent((event) => tableApi?.handle(event));
}

function emptyBots() {
  return h("span", {}, "No bots yet — ", h("a", { href: "/bots/new" }, "create one"), ".");
}

function pageLinks(answer) {
  const toPage = (url) => {
    const p = linkPath(url);
    const page = p && new URLSearchParams(p.split("?")[1] || "").get("page");
    return page ? `/bots?page=${page}` : "/bots";
  };
  return [
    answer.previous ? h("a", { href: toPage(answer.previous), rel: "prev" }, "← Newer") : null,
    h("span", { class: "muted" }, `${answer.total} bots`),
    answer.next ? h("a", { href: toPage(answer.next), rel: "next" }, "Older →") : null,
  ];
}

export async function platform(ctx) {
  const name = ctx.params.platform;
  const mode = ctx.query.get("mode") === "live" ? "live" : "paper";
  ctx.title(`${name} · ${mode}`);
  const [statusEl, show] = statusLine();
  const area = h("div");
  const tab = (m) => h("a", { href: `/platforms/${encodeURIComponent(name)}?mode=${m}`, class: "tab", "aria-current": m === mode ? "page" : null }, m === "paper" ? "Paper" : "Live");
  replace(
    ctx.main,
    h("p", { class: "crumbs" }, h("a", { href: "/" }, "Overview"), " / ", name),
    h("div", { class: "page-head" }, h("h1", {}, `${name}`), h("nav", { class: "tabs", "aria-label": "Mode" }, tab("paper"), tab("live"))),
    statusEl,
    area,
  );
  let tableApi = null;
  const columns = botColumns({ onDone: (bot) => tableApi?.upsert(bot), status: show });
  async function load() {
    const answer = await get(`platforms/${encodeURIComponent(name)}/bots?mode=${mode}`);
    if (!ctx.alive()) return;
    ctx.updated();
    tableApi = liveTable(ctx, {
      columns,
      rows: answer.bots.map((b) => ({ ...b, exchange: name })),
      empty: h("span", {}, `No ${mode} bots on ${name}.`),
      caption: `${mode} bots on ${name}`,
      refetch: () => load().catch(() => {}),
      accepts: (bot) => !bot.exchange || (bot.exchange === name && bot.trading_mode === mode),
    });
    replace(area, h("p", { class: "muted" }, `${answer.total_bots} ${mode} bot${answer.total_bots === 1 ? "" : "s"}`), tableApi.holder);
  }
  await load();
  ctx.onEvent((event) => tableApi?.handle(event));
}
