// A bot's page: what it sees (candles with its buys and sells), its equity curve, its numbers,
// positions, orders, trades (paged) and its event history — kept current by the stream.

import { del, get, linkPath } from "../api.js";
import { badge, h, money, num, replace, signClass, statusBadge, table, tableRow, when } from "../dom.js";
import { actionButtons, exitsText, performanceTiles, statusLine, trainingFlag } from "../botui.js";
import { candleChart, lineChart } from "../charts.js";
import { cancelButton, manualSection } from "./manual.js";
import { signalSection } from "./signalbot.js";

const TRADE_PAGE = 20;

export async function render(ctx) {
  const id = Number(ctx.params.id);
  let bot = (await get(`bots/${id}`)).bot;
  if (!ctx.alive()) return;
  ctx.title(bot.name);
  const cur = () => bot.quote_currency || "";
  const [statusEl, show] = statusLine();
  const head = h("div", { class: "page-head" });
  const facts = h("dl", { class: "facts" });
  const metrics = h("section", { class: "tiles", "aria-label": "Performance" });
  const candleCanvas = h("canvas", { class: "chart", role: "img", "aria-label": "Candles the bot trades on, with its buys (▲) and sells (▼)" });
  const equityCanvas = h("canvas", { class: "chart small", role: "img", "aria-label": "Equity curve" });
  const chartNote = h("p", { class: "muted" });
  const positions = h("div");
  const orders = h("div");
  const trades = h("div", { class: "trades-list" });
  const tradePager = h("nav", { class: "pager", "aria-label": "Trade pages" });
  const events = h("ol", { class: "events", "aria-label": "Event history" });
  const eventMore = h("div");
  let tradePage = "first";
  let tradeTotal = 0;
  const knownTrades = new Set(); // ids already counted and marked: a replayed event adds nothing
  // The newest trades the stream brought: a first page fetched before one of them committed
  // (a resync after a reconnect) must not drop it from the table.
  const liveTrades = new Map();
  const tradeCount = h("span", { class: "muted trade-count" });
  let tradeRows = [];
  let candles = [];
  let marks = [];
  let equity = [];

  const signals = bot.strategy === "signal" ? signalSection(ctx, bot, show) : null; // only a signal bot has a webhook

  replace(
    ctx.main,
    h("p", { class: "crumbs" }, h("a", { href: "/bots" }, "Bots"), " / ", h("span", { class: "crumb-name" }, bot.name)),
    head,
    statusEl,
    facts,
    metrics,
    signals?.element,
    h("section", { class: "card" }, h("h2", {}, "Market"), chartNote, candleCanvas),
    h("section", { class: "card" }, h("h2", {}, "Equity"), equityCanvas),
    h("div", { class: "grid2" }, h("section", { class: "card" }, h("h2", {}, "Positions"), positions), h("section", { class: "card" }, h("h2", {}, "Orders"), orders)),
    manualSection(ctx, bot, { onDone: () => refreshSoon() }),
    h("section", { class: "card" }, h("h2", {}, "Trades"), trades, tradePager),
    h("section", { class: "card" }, h("h2", {}, "Event history"), events, eventMore),
  );

  function drawHead() {
    replace(
      head,
      h("h1", { class: "bot-title" }, bot.name),
      h("div", { class: "head-side" }, statusBadge(bot), " ", badge(bot.trading_mode, bot.trading_mode === "live" ? "live" : "paper"), " ", trainingFlag(bot)),
      actionButtons(bot, { onDone: (b) => ((bot = b), drawHead(), drawFacts()), status: show }),
      h("div", { class: "head-links" }, h("a", { class: "button", href: `/bots/${id}/edit` }, "Edit"), bot.strategy === "signal" ? null : h("a", { class: "button", href: `/backtests?bot=${id}` }, "Backtest"), deleteButton()),
    );
  }

  function deleteButton() {
    const button = h("button", { type: "button", class: "danger", "aria-disabled": bot.status === "stopped" ? null : "true", title: bot.status === "stopped" ? "" : "Stop the bot before deleting it." }, "Delete");
    button.addEventListener("click", async () => {
      if (!window.confirm(`Delete ${bot.name}? Its trade history is kept.`)) return;
      try {
        await del(`bots/${id}`);
        ctx.navigate("/bots");
      } catch (error) {
        show(error.message, "error");
      }
    });
    return button;
  }

  function drawFacts() {
    const items = [
      ["Market", `${bot.symbol} on ${bot.exchange}`],
      ["Strategy", `${bot.strategy} ${Object.entries(bot.params || {}).map(([k, v]) => `${k}=${v}`).join(", ")}`],
      ["Timeframe / tick", `${bot.timeframe} / every ${bot.interval_seconds} s`],
      ["Capital", money(bot.capital, cur())],
      ["Cash", money(bot.cash_balance, cur())],
      ["Last price", bot.last_price === null ? "—" : num(bot.last_price)],
      ["Last tick", when(bot.last_tick_at)],
      bot.in_training ? ["Training", `${num(bot.training_hours_remaining, 2)} h left`] : null,
      bot.effective_rules ? ["Exits in force", exitsText(bot.effective_rules)] : null,
      bot.paused_reason ? ["Paused because", bot.paused_reason] : null,
      bot.last_error ? ["Last error", bot.last_error] : null,
    ].filter(Boolean);
    replace(facts, items.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
  }

  async function loadMetrics() {
    const p = await get(`bots/${id}/performance`);
    if (!ctx.alive()) return;
    replace(metrics, performanceTiles(p, p.currency || cur()));
  }

  async function loadCharts() {
    const [c, e] = await Promise.all([get(`bots/${id}/candles`), get(`bots/${id}/equity`)]);
    if (!ctx.alive()) return;
    candles = c.candles;
    equity = e.points.map((p) => ({ t: Date.parse(p.timestamp), v: Number(p.equity) }));
    replace(chartNote, `${c.symbol} · ${c.timeframe} · ${c.exchange} — ▲ buys, ▼ sells`);
    if (candles.length) {
      const since = new Date(candles[0].time * 1000).toISOString();
      const t = await get(`bots/${id}/trades?since=${encodeURIComponent(since)}&page_size=500`);
      if (!ctx.alive()) return;
      marks = t.trades.map((x) => ({ time: Date.parse(x.executed_at) / 1000, price: Number(x.price), side: x.side }));
      for (const x of t.trades) knownTrades.add(x.id);
    }
    drawCharts();
  }

  const drawCharts = () => {
    candleChart(candleCanvas, candles, marks);
    lineChart(equityCanvas, equity);
  };
  const onResize = () => drawCharts();
  window.addEventListener("resize", onResize);
  ctx.cleanup(() => window.removeEventListener("resize", onResize));

  async function loadPositions() {
    const [p, o] = await Promise.all([get(`bots/${id}/positions`), get(`bots/${id}/orders?page_size=10`)]);
    if (!ctx.alive()) return;
    replace(
      positions,
      table(
        [
          { label: "Symbol", cell: (x) => x.symbol },
          { label: "Quantity", num: true, cell: (x) => num(x.quantity) },
          { label: "Avg cost", num: true, cell: (x) => num(x.average_cost) },
          { label: "Price", num: true, cell: (x) => (x.market_price === null ? "—" : num(x.market_price)) },
          { label: "Unrealised", num: true, cell: (x) => money(x.unrealized_pnl, cur()), cls: (x) => signClass(x.unrealized_pnl) },
        ],
        p.positions.filter((x) => Number(x.quantity) !== 0),
        { empty: "Flat: no open position." },
      ),
    );
    replace(
      orders,
      table(
        [
          { label: "Time", cell: (x) => when(x.created_at) },
          { label: "Side", cell: (x) => badge(x.side, x.side) },
          { label: "Type", cell: (x) => x.type },
          { label: "Qty", num: true, cell: (x) => num(x.quantity) },
          { label: "Filled", num: true, cell: (x) => num(x.filled_quantity) },
          { label: "Status", cell: (x) => x.status },
          { label: "", cell: (x) => cancelButton(ctx, bot, x, { show, onDone: () => refreshSoon() }) },
        ],
        o.orders,
        { empty: "No orders yet." },
      ),
    );
  }

  const tradeColumns = [
    { label: "Time", cell: (t) => when(t.executed_at) },
    { label: "Side", cell: (t) => badge(t.side, t.side) },
    { label: "Quantity", num: true, cell: (t) => num(t.quantity) },
    { label: "Price", num: true, cell: (t) => num(t.price) },
    { label: "Value", num: true, cell: (t) => money(t.notional, cur()) },
    { label: "Fee", num: true, cell: (t) => `${num(t.fee)} ${t.fee_currency || ""}` },
    { label: "Realised", num: true, cell: (t) => (t.realized_pnl === null ? "—" : money(t.realized_pnl, cur())), cls: (t) => signClass(t.realized_pnl) },
  ];

  async function loadTrades(path = tradePage) {
    const answer = await get(path === "first" ? `bots/${id}/trades?page_size=${TRADE_PAGE}` : path);
    if (!ctx.alive()) return;
    tradePage = path;
    tradeRows = answer.trades;
    tradeTotal = answer.total;
    if (path === "first") {
      const newest = Math.max(0, ...tradeRows.map((t) => t.id));
      const missed = [...liveTrades.values()].filter((t) => t.id > newest);
      tradeRows = [...missed, ...tradeRows].sort((a, b) => b.id - a.id).slice(0, TRADE_PAGE);
      tradeTotal += missed.length;
    }
    for (const x of tradeRows) knownTrades.add(x.id);
    tradeCount.textContent = `${tradeTotal} trades`;
    replace(trades, table(tradeColumns, tradeRows, { key: (t) => t.id, empty: "No trades yet — the first one appears here as it happens.", caption: "Trades" }));
    const button = (url, text) => {
      const b = h("button", { type: "button", class: "link" }, text);
      b.addEventListener("click", () => loadTrades(linkPath(url)).catch((e) => show(e.message, "error")));
      return b;
    };
    replace(tradePager, answer.previous ? button(answer.previous, "← Newer") : null, tradeCount, answer.next ? button(answer.next, "Older →") : null);
  }

  function addTrade(trade) {
    liveTrades.set(trade.id, trade);
    if (liveTrades.size > TRADE_PAGE) liveTrades.delete(liveTrades.keys().next().value);
    if (knownTrades.has(trade.id)) return;
    knownTrades.add(trade.id);
    tradeTotal += 1;
    tradeCount.textContent = `${tradeTotal} trades`;
    marks.push({ time: Date.parse(trade.executed_at) / 1000, price: Number(trade.price), side: trade.side });
    drawCharts();
    if (tradePage !== "first") return;
    if (trades.querySelector(`tr[data-key="${trade.id}"]`)) return;
    let body = trades.querySelector("tbody");
    if (!body) {
      replace(trades, table(tradeColumns, [trade], { key: (t) => t.id, caption: "Trades" }));
    } else {
      body.prepend(tableRow(tradeColumns, trade, (t) => t.id));
      while (body.children.length > TRADE_PAGE) body.lastElementChild.remove();
    }
  }

  function eventItem(e) {
    return h("li", { dataset: { seq: String(e.seq), type: e.type } }, h("time", { datetime: e.timestamp }, when(e.timestamp)), " ", badge(e.type.replace(/_/g, " "), "ev"), " ", h("span", {}, e.message || ""));
  }

  let eventsNext = null;
  async function loadEvents(path = `bots/${id}/events?page_size=25`, append = false) {
    const answer = await get(path);
    if (!ctx.alive()) return;
    const items = answer.events.map(eventItem);
    if (append) events.append(...items);
    else replace(events, items.length ? items : h("li", { class: "empty" }, "No events yet."));
    eventsNext = answer.next;
    const more = h("button", { type: "button", class: "link" }, "Older events");
    more.addEventListener("click", () => loadEvents(linkPath(eventsNext), true));
    replace(eventMore, eventsNext ? more : "");
  }

  drawHead();
  drawFacts();
  await Promise.all([loadMetrics(), loadCharts(), loadPositions(), loadTrades(), loadEvents(), signals?.load()]);
  ctx.updated();

  let refreshTimer = null;
  const refreshSoon = () => {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => {
      Promise.all([loadMetrics(), loadPositions(), get(`bots/${id}`).then((a) => ((bot = a.bot), drawHead(), drawFacts())), get(`bots/${id}/equity`).then((e) => ((equity = e.points.map((p) => ({ t: Date.parse(p.timestamp), v: Number(p.equity) }))), drawCharts()))]).catch(() => {});
    }, 400);
  };
  ctx.cleanup(() => clearTimeout(refreshTimer));

  ctx.onEvent((event) => {
    if (event.type === "resync") {
      Promise.all([loadMetrics(), loadCharts(), loadPositions(), loadTrades(), loadEvents(), get(`bots/${id}`).then((a) => ((bot = a.bot), drawHead(), drawFacts()))]).catch(() => {});
      return;
    }
    const botId = event.bot?.id ?? event.bot_id ?? event.trade?.bot_id;
    if (botId !== id) return;
    if (event.seq && !events.querySelector(`li[data-seq="${event.seq}"]`)) {
      events.querySelector("li.empty")?.remove();
      events.prepend(eventItem(event));
    }
    if (event.type === "bot_deleted") {
      show("This bot was deleted.", "info");
      return;
    }
    if (event.bot && event.bot.id === id && event.type !== "trade_executed") {
      bot = { ...bot, ...event.bot };
      drawHead();
      drawFacts();
    }
    if (event.trade) addTrade(event.trade);
    refreshSoon();
  });
}
