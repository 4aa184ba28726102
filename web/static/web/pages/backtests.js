// Backtests: the form (built from GET strategies and GET candles/coverage), the user's runs
// with their progress (backtest_* events from the stream), and one run's result: performance
// tiles, equity curve, trades on the candles, or a sweep's ranked combinations.

import { del, get, linkPath, post } from "../api.js";
import { performanceTiles, statusLine } from "../botui.js";
import { bucket, candleChart, lineChart } from "../charts.js";
import { badge, field, h, money, num, replace, showFieldErrors, signClass, table, tableRow, when } from "../dom.js";
import { exitsFieldset, exitValues, paramField } from "./botform.js";

const ACTIVE = new Set(["queued", "running"]);
const STATUS_KIND = { finished: "ok", failed: "bad", canceled: "", queued: "warn", running: "warn" };
const METRICS = [
  ["total_pnl", "Realised PnL"],
  ["total_pnl_percentage", "PnL %"],
  ["total_return", "Total return"],
  ["win_rate", "Win rate"],
  ["profit_factor", "Profit factor"],
  ["sharpe_ratio", "Sharpe"],
  ["sortino_ratio", "Sortino"],
  ["calmar_ratio", "Calmar"],
  ["max_drawdown", "Max drawdown (lowest first)"],
  ["total_trades", "Trades"],
];
const PAGE = 500;
const SWEEP_POLL_MS = 1500; // a sweep's own progress has no event: it is read while the sweep runs

const statusBadge = (bt) => badge(bt.status, `bt-status ${STATUS_KIND[bt.status] ?? ""}`);
const market = (bt) => `${bt.symbol} · ${bt.timeframe} · ${bt.exchange}`;
const currency = (bt) => (bt.symbol || "").split("/")[1] || "";
const utc = (iso) => (iso ? `${iso.slice(0, 16).replace("T", " ")} UTC` : "—"); // as the form's inputs read them
const paramsText = (params) =>
  Object.entries(params || {})
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");

export function progressBar(bt) {
  const share = Math.round((bt.progress || 0) * 100);
  return h(
    "div",
    { class: "bt-progress", dataset: { backtest: String(bt.id), status: bt.status } },
    h("progress", { max: "100", value: String(share), "aria-label": `Backtest ${bt.id} progress` }),
    h("span", { class: "bt-progress-text" }, bt.status === "queued" ? "queued" : `${share} %`),
  );
}

// A backtest event's run and what changed: progress events carry the id, the others the run.
function fromEvent(event) {
  if (event.type === "backtest_progress") return { id: event.backtest_id, changes: { progress: event.progress, candles: event.candles } };
  if (event.type === "backtest_finished" || event.type === "backtest_failed") return { id: event.backtest?.id, changes: event.backtest, final: true };
  return null;
}

// --- the list and the form ----------------------------------------------------------------
export async function render(ctx) {
  ctx.title("Backtests");
  const [statusEl, show] = statusLine();
  const list = h("div", { class: "bt-list" });
  const pager = h("nav", { class: "pager", "aria-label": "Backtest pages" });
  const formCard = await buildForm(ctx, show);
  if (!ctx.alive()) return;
  replace(ctx.main, h("div", { class: "page-head" }, h("h1", {}, "Backtests")), statusEl, formCard, h("section", { class: "card" }, h("h2", {}, "Your backtests"), list, pager));

  let rows = [];
  let path = "backtests?page_size=20";
  const columns = [
    { label: "Run", cell: (b) => h("a", { href: `/backtests/${b.id}`, class: "bt-link" }, `#${b.id}`) },
    { label: "Strategy", cell: (b) => [b.strategy, b.sweep ? [" ", badge("sweep", "ev")] : "", h("span", { class: "muted" }, ` ${b.sweep ? "" : paramsText(b.params)}`)] },
    { label: "Market", cell: (b) => market(b) },
    { label: "Range", cell: (b) => `${utc(b.since)} → ${utc(b.until)}` },
    { label: "Status", cell: (b) => [statusBadge(b), ACTIVE.has(b.status) ? progressBar(b) : ""] },
    { label: "PnL", num: true, cell: (b) => (b.performance ? money(b.performance.total_pnl, currency(b)) : "—"), cls: (b) => signClass(b.performance?.total_pnl) },
    { label: "Actions", cell: (b) => runActions(b, { show, onChange: () => load().catch((e) => show(e.message, "error")) }) },
  ];

  async function load(next = path) {
    const answer = await get(next);
    if (!ctx.alive()) return;
    path = next;
    rows = answer.backtests;
    replace(list, table(columns, rows, { key: (b) => b.id, caption: "Your backtests", empty: "No backtests yet: run one with the form above." }));
    const button = (url, text) => h("button", { type: "button", class: "link", onclick: () => load(linkPath(url)).catch((e) => show(e.message, "error")) }, text);
    replace(pager, answer.previous ? button(answer.previous, "← Newer") : null, answer.next ? button(answer.next, "Older →") : null);
  }

  function update(id, changes) {
    const i = rows.findIndex((b) => b.id === id);
    if (i < 0) return false;
    rows[i] = { ...rows[i], ...changes, status: changes.status || (rows[i].status === "queued" ? "running" : rows[i].status) };
    list.querySelector(`tr[data-key="${id}"]`)?.replaceWith(tableRow(columns, rows[i], (b) => b.id));
    return true;
  }

  ctx.onEvent((event) => {
    if (event.type === "resync") return void load().catch(() => {});
    const found = fromEvent(event);
    if (!found) return;
    if (!update(found.id, found.changes) && found.final) load().catch(() => {}); // a run started elsewhere
  });
  ctx.every(() => {
    const sweeps = rows.filter((b) => b.sweep && ACTIVE.has(b.status));
    for (const b of sweeps) get(`backtests/${b.id}`).then((a) => ctx.alive() && update(b.id, a.backtest)).catch(() => {});
  }, SWEEP_POLL_MS);
  await load();
  ctx.updated();
}

function runActions(bt, { show, onChange, onDeleted }) {
  const group = h("div", { class: "bot-actions", role: "group", "aria-label": `Actions for backtest ${bt.id}` });
  if (ACTIVE.has(bt.status)) {
    group.append(
      h(
        "button",
        {
          type: "button",
          dataset: { action: "cancel" },
          onclick: async () => {
            try {
              await post(`backtests/${bt.id}/cancel`);
              show(`Backtest #${bt.id} canceled; what it had done is kept.`, "info");
              onChange();
            } catch (error) {
              show(error.message, "error");
            }
          },
        },
        "Cancel",
      ),
    );
  }
  if (!bt.parent_id) {
    group.append(
      h(
        "button",
        {
          type: "button",
          class: "danger",
          dataset: { action: "delete" },
          onclick: async () => {
            if (!window.confirm(`Delete backtest #${bt.id} and its results?`)) return;
            try {
              await del(`backtests/${bt.id}`);
              show(`Backtest #${bt.id} deleted.`, "info");
              (onDeleted || onChange)();
            } catch (error) {
              show(error.message, "error");
            }
          },
        },
        "Delete",
      ),
    );
  }
  return group;
}

// datetime-local values are shown and read as UTC (the label says so).
const toLocalInput = (iso) => (iso ? iso.replace(/(:\d\d)?(\.\d+)?Z$/, "").slice(0, 16) : "");
const fromLocalInput = (value) => (value ? `${value.length === 16 ? `${value}:00` : value}Z` : "");

async function buildForm(ctx, show) {
  const [strategies, coverage, bots] = await Promise.all([get("strategies"), get("candles/coverage"), get("bots?page_size=500").catch(() => ({ bots: [] }))]);
  const specs = strategies.strategies.filter((s) => s.params_schema?.properties && !s.external && s.id !== "signal"); // a signal bot decides nothing itself
  const byStrategy = new Map(specs.map((s) => [s.id, s]));
  const markets = coverage.coverage;
  bots.bots = bots.bots.filter((b) => byStrategy.has(b.strategy)); // a signal bot's decisions come from outside
  const general = h("div", { class: "form-general", tabindex: "-1" });

  const sourceName = "source";
  const sources = [
    ["strategy", " A strategy on stored candles"],
    ["bot", " One of my bots' configuration"],
  ].map(([value, text]) => h("label", { class: "radio" }, h("input", { type: "radio", name: sourceName, value, checked: value === "strategy" }), text));
  const source = () => sources.map((l) => l.querySelector("input")).find((i) => i.checked)?.value || "strategy";

  const bot = h("select", { name: "bot_id" }, bots.bots.map((b) => h("option", { value: String(b.id) }, `${b.name} (${b.strategy}, ${b.symbol} ${b.timeframe} on ${b.exchange})`)));
  const strategy = h("select", { name: "strategy" }, specs.map((s) => h("option", { value: s.id }, s.name)));
  const strategyHelp = h("p", { class: "hint" });
  const params = h("fieldset", { class: "params field", dataset: { field: "params" } });
  const sweep = h("input", { type: "checkbox", name: "sweep" });
  const grid = h("fieldset", { class: "params field bt-grid", dataset: { field: "params_grid" }, hidden: true });
  const marketSelect = h(
    "select",
    { name: "market" },
    markets.map((m, i) => h("option", { value: String(i) }, `${m.symbol} · ${m.timeframe} · ${m.exchange}`)),
  );
  const marketHint = h("span");
  const botHint = h("span");
  const since = h("input", { type: "datetime-local", name: "since", step: "60", required: true });
  const until = h("input", { type: "datetime-local", name: "until", step: "60", required: true });
  const capital = h("input", { type: "number", name: "capital", min: "0", step: "any", value: "1000", inputmode: "decimal", required: true });
  const fee = h("input", { type: "number", name: "fee_pct", min: "0", max: "0.1", step: "any", inputmode: "decimal", placeholder: "the paper venue's" });
  const slippage = h("input", { type: "number", name: "slippage_pct", min: "0", max: "0.1", step: "any", inputmode: "decimal", placeholder: "the paper venue's" });
  const strategyPart = h("div", { class: "bt-strategy" });
  const exits = exitsFieldset(null, "Optional: the same exits a bot's owner sets.");

  // What the store holds of a market, and the whole of it as the range.
  function showCoverage(m, hint, none) {
    if (!m) return replace(hint, none);
    replace(hint, `${num(m.candles, 0)} candles from ${utc(m.since)} to ${utc(m.until)}${m.gaps ? `, ${num(m.gaps, 0)} missing` : ", no gaps"}.`);
    since.value = toLocalInput(m.since);
    until.value = toLocalInput(m.until);
  }
  const drawMarket = () => showCoverage(markets[Number(marketSelect.value)], marketHint, "No stored candles yet: import or download some (manage.py candles).");
  function drawBot() {
    const b = bots.bots.find((x) => String(x.id) === bot.value);
    if (!b) return replace(botHint, "You have no bots yet.");
    const m = markets.find((x) => x.exchange === b.exchange && x.symbol === b.symbol && x.timeframe === b.timeframe);
    showCoverage(m, botHint, `No stored ${b.timeframe} candles of ${b.symbol} on ${b.exchange}: import or download some (manage.py candles).`);
  }

  function drawParams() {
    const spec = byStrategy.get(strategy.value);
    const props = spec?.params_schema?.properties || {};
    const required = new Set(spec?.params_schema?.required || []);
    replace(strategyHelp, spec?.description || "", spec?.rules?.length ? ` Rules: ${spec.rules.join("; ")}.` : "");
    replace(
      params,
      h("legend", {}, "Strategy parameters"),
      Object.keys(props).length ? "" : h("p", { class: "muted" }, "This strategy has no parameters."),
      Object.entries(props).map(([key, schema]) => paramField(key, schema, spec.defaults?.[key], required.has(key))),
      h("small", { class: "field-error", role: "alert" }),
    );
    replace(
      grid,
      h("legend", {}, "Sweep: values to try (comma-separated; each combination is one run)"),
      Object.entries(props).map(([key, schema]) => {
        const input = h("input", { type: "text", name: `grid.${key}`, dataset: { grid: key, kind: schema.type || "string" }, placeholder: "e.g. 5, 10, 20", autocomplete: "off" });
        return field(schema.title || key.replace(/_/g, " "), input, { hint: "Empty: the value above only." });
      }),
      h("small", { class: "field-error", role: "alert" }),
    );
  }

  function drawSource() {
    const fromBot = source() === "bot";
    strategyPart.hidden = fromBot;
    bot.closest(".field").hidden = !fromBot;
    if (fromBot) drawBot();
    else drawMarket();
  }

  marketSelect.addEventListener("change", drawMarket);
  bot.addEventListener("change", drawBot);
  strategy.addEventListener("change", drawParams);
  sweep.addEventListener("change", () => (grid.hidden = !sweep.checked));
  for (const label of sources) label.querySelector("input").addEventListener("change", drawSource);

  replace(
    strategyPart,
    h("div", { class: "grid2" }, field("Strategy", strategy), field("Market (stored candles)", marketSelect, { hint: marketHint })),
    strategyHelp,
    params,
    h("label", { class: "radio" }, sweep, " Sweep parameters (a grid of values, ranked by a metric)"),
    grid,
    h("div", { class: "grid3" }, field("Capital (quote currency)", capital), field("Fee (fraction, 0.001 = 0.1 %)", fee), field("Slippage (fraction)", slippage)),
    exits,
  );
  const submit = h("button", { type: "submit", class: "primary" }, "Run backtest");
  const form = h(
    "form",
    { class: "card bt-form", novalidate: true },
    h("h2", {}, "New backtest"),
    general,
    h("fieldset", { class: "field" }, h("legend", {}, "What to test"), sources),
    field("Bot", bot, { hint: h("span", {}, "Its strategy, parameters, market, capital and overrides. ", botHint) }),
    strategyPart,
    h("div", { class: "grid2" }, field("From (UTC)", since), field("Until (UTC)", until)),
    h("div", { class: "actions" }, submit),
  );
  const wanted = ctx.query.get("bot"); // "Backtest" on a bot's page: its configuration, preselected
  if (wanted && bots.bots.some((b) => String(b.id) === wanted)) {
    bot.value = wanted;
    sources[1].querySelector("input").checked = true;
  }
  drawParams();
  drawSource();

  function collect() {
    const range = { since: fromLocalInput(since.value), until: fromLocalInput(until.value) };
    if (source() === "bot") return { bot_id: Number(bot.value), ...range };
    const m = markets[Number(marketSelect.value)] || {};
    const values = {};
    for (const input of params.querySelectorAll("[data-param]")) {
      if (input.value === "") continue;
      values[input.dataset.param] = input.type === "number" ? Number(input.value) : input.type === "checkbox" ? input.checked : input.value;
    }
    const body = { strategy: strategy.value, params: values, exchange: m.exchange, symbol: m.symbol, timeframe: m.timeframe, capital: capital.value === "" ? "" : Number(capital.value), ...range };
    if (fee.value !== "") body.fee_pct = Number(fee.value);
    if (slippage.value !== "") body.slippage_pct = Number(slippage.value);
    Object.assign(body, exitValues(exits));
    if (sweep.checked) {
      const chosen = {};
      for (const input of grid.querySelectorAll("[data-grid]")) {
        const parts = input.value.split(",").map((v) => v.trim()).filter(Boolean);
        if (parts.length) chosen[input.dataset.grid] = parts.map((v) => (["integer", "number"].includes(input.dataset.kind) && !Number.isNaN(Number(v)) ? Number(v) : v));
      }
      if (Object.keys(chosen).length) body.params_grid = chosen;
    }
    return body;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      const answer = await post("backtests", collect());
      ctx.navigate(`/backtests/${answer.backtest.id}`);
    } catch (error) {
      if (!ctx.alive()) return;
      // Params errors name the params (shown at their fields); the message also names a grid's combination.
      const details = error.code === "INVALID_PARAMS" ? { params: error.details } : error.details?.coverage ? {} : error.details;
      showFieldErrors(form, { message: error.message, details }, general);
      if (error.code === "INVALID_PARAMS" || error.code === "GRID_TOO_LARGE") replace(general, h("p", { class: "notice error", role: "alert" }, error.message));
      if (error.retryAfter) show(`${error.message} Try again in ${error.retryAfter} s.`, "error");
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

// --- one run -------------------------------------------------------------------------------
export async function detail(ctx) {
  const id = Number(ctx.params.id);
  let missed = false;
  let bt = null;
  let handler = () => (missed = true); // an event before the first answer: read it again after
  ctx.onEvent((event) => handler(event));
  bt = (await get(`backtests/${id}`)).backtest;
  if (!ctx.alive()) return;
  if (missed) bt = (await get(`backtests/${id}`)).backtest;
  ctx.title(`Backtest #${id}`);

  const [statusEl, show] = statusLine();
  const head = h("div", { class: "page-head" });
  const facts = h("dl", { class: "facts" });
  const progress = h("div", { class: "bt-progress-wrap" });
  const results = h("div", { class: "bt-results" });
  replace(
    ctx.main,
    h("p", { class: "crumbs" }, h("a", { href: "/backtests" }, "Backtests"), " / ", bt.parent_id ? [h("a", { href: `/backtests/${bt.parent_id}` }, `Sweep #${bt.parent_id}`), " / "] : "", `#${id}`),
    head,
    statusEl,
    progress,
    facts,
    results,
  );

  function drawHead() {
    replace(
      head,
      h("h1", { class: "bt-title" }, bt.sweep ? `Sweep #${id}` : `Backtest #${id}`),
      h("div", { class: "head-side" }, statusBadge(bt)),
      runActions(bt, { show, onChange: reload, onDeleted: () => ctx.navigate("/backtests") }),
    );
    replace(progress, ACTIVE.has(bt.status) ? progressBar(bt) : "");
  }

  function drawFacts() {
    const items = [
      ["Strategy", `${bt.strategy} ${paramsText(bt.params)}`],
      bt.sweep ? ["Grid", Object.entries(bt.params_grid || {}).map(([k, v]) => `${k}: ${v.join(", ")}`).join(" · ")] : null,
      bt.bot_id ? ["From bot", h("a", { href: `/bots/${bt.bot_id}` }, `#${bt.bot_id}`)] : null,
      ["Market", market(bt)],
      ["Range", `${utc(bt.since)} → ${utc(bt.until)}`],
      ["Capital", money(bt.capital, currency(bt))],
      ["Fee / slippage", `${num(bt.fee_pct)} / ${num(bt.slippage_pct)}`],
      Object.keys(bt.rules || {}).length ? ["Rules", Object.entries(bt.rules).map(([k, v]) => `${k.replace(/_pct$/, "").replace(/_/g, " ")} ${v}`).join(", ")] : null,
      ["Candles", num(bt.candles, 0)],
      ["Started", when(bt.started_at)],
      ["Finished", when(bt.finished_at)],
      bt.error ? ["Error", bt.error] : null,
    ].filter(Boolean);
    replace(facts, items.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
  }

  let shown = null; // which result is drawn (status), so events do not redraw it twice
  async function drawResults() {
    if (ACTIVE.has(bt.status)) return replace(results, h("p", { class: "muted" }, "The results appear here when the run ends."));
    if (shown === bt.status) return;
    shown = bt.status;
    if (bt.sweep) return sweepResults(ctx, bt, results, show);
    if (!bt.candles) return replace(results, h("p", { class: "empty bt-nothing" }, bt.status === "failed" ? "The run failed before it tested a candle: no results." : "The run was canceled before it started: no results."));
    return runResults(ctx, bt, results, show);
  }

  async function reload() {
    const answer = await get(`backtests/${id}`);
    if (!ctx.alive()) return;
    bt = answer.backtest;
    drawHead();
    drawFacts();
    await drawResults();
  }

  handler = (event) => {
    if (event.type === "resync") return void reload().catch(() => {});
    const found = fromEvent(event);
    if (!found || found.id !== id) return;
    bt = { ...bt, ...found.changes };
    if (!found.final && bt.status === "queued") bt.status = "running";
    drawHead();
    drawFacts();
    if (found.final) drawResults().catch((e) => show(e.message, "error"));
  };
  ctx.every(() => {
    if ((bt.sweep || bt.parent_id) && ACTIVE.has(bt.status)) reload().catch(() => {}); // a sweep and its runs send no progress events
  }, SWEEP_POLL_MS);

  drawHead();
  drawFacts();
  await drawResults();
  ctx.updated();
}

// Every row of a paged list, up to `pages` pages of PAGE (evenly spread when there are more).
async function rowsOf(path, key, pages = 12) {
  const first = await get(`${path}?page_size=${PAGE}`);
  const count = Math.ceil(first.total / PAGE);
  let numbers = Array.from({ length: Math.max(0, count - 1) }, (_, i) => i + 2);
  const sampled = numbers.length > pages - 1;
  if (sampled) numbers = Array.from({ length: pages - 1 }, (_, i) => Math.round(2 + ((count - 2) * i) / (pages - 2)));
  const rest = await Promise.all([...new Set(numbers)].map((n) => get(`${path}?page_size=${PAGE}&page=${n}`)));
  return { rows: first[key].concat(...rest.map((r) => r[key])), total: first.total, sampled };
}

async function runResults(ctx, bt, el, show) {
  const tiles = h("section", { class: "tiles", "aria-label": "Performance" });
  const equityCanvas = h("canvas", { class: "chart small bt-equity", role: "img", "aria-label": "Equity curve of the run" });
  const candleCanvas = h("canvas", { class: "chart bt-candles", role: "img", "aria-label": "The run's candles with its buys (▲) and sells (▼)" });
  const chartNote = h("p", { class: "muted" });
  const equityNote = h("p", { class: "muted" });
  const trades = h("div", { class: "trades-list" });
  const pager = h("nav", { class: "pager", "aria-label": "Trade pages" });
  replace(
    el,
    bt.performance ? tiles : null,
    h("section", { class: "card" }, h("h2", {}, "Equity"), equityNote, equityCanvas),
    h("section", { class: "card" }, h("h2", {}, "Trades on the candles"), chartNote, candleCanvas),
    h("section", { class: "card" }, h("h2", {}, "Trades"), trades, pager),
  );
  if (bt.performance) replace(tiles, performanceTiles(bt.performance, bt.performance.currency || currency(bt)));
  const range = `exchange=${encodeURIComponent(bt.exchange)}&symbol=${encodeURIComponent(bt.symbol)}&timeframe=${encodeURIComponent(bt.timeframe)}&since=${encodeURIComponent(bt.since)}&until=${encodeURIComponent(bt.until)}`;
  const [equity, marks, stored] = await Promise.all([rowsOf(`backtests/${bt.id}/equity`, "points"), rowsOf(`backtests/${bt.id}/trades`, "trades", 4), get(`candles?${range}`)]);
  if (!ctx.alive()) return;
  const points = equity.rows.map((p) => ({ t: Date.parse(p.time), v: Number(p.equity) }));
  const candles = bucket(
    stored.candles.map((k) => ({ time: Date.parse(k.time) / 1000, open: k.open, high: k.high, low: k.low, close: k.close })),
    400,
  );
  const tradeMarks = marks.rows.map((t) => ({ time: Date.parse(t.executed_at) / 1000, price: Number(t.price), side: t.side }));
  replace(equityNote, `${num(equity.total, 0)} points${equity.sampled ? " (a sample of them)" : ""}.`);
  replace(chartNote, `${market(bt)} — ▲ buys, ▼ sells${stored.truncated ? ` (the first ${num(stored.limit, 0)} candles)` : ""}${candles.length < stored.candles.length ? "; candles grouped to fit" : ""}.`);
  const draw = () => {
    lineChart(equityCanvas, points);
    candleChart(candleCanvas, candles, tradeMarks);
    equityCanvas.dataset.points = String(points.length);
    candleCanvas.dataset.marks = String(tradeMarks.length);
  };
  draw();
  window.addEventListener("resize", draw);
  ctx.cleanup(() => window.removeEventListener("resize", draw));

  const cur = currency(bt);
  const columns = [
    { label: "Time", cell: (t) => when(t.executed_at) },
    { label: "Side", cell: (t) => badge(t.side, t.side) },
    { label: "Quantity", num: true, cell: (t) => num(t.quantity) },
    { label: "Price", num: true, cell: (t) => num(t.price) },
    { label: "Fee", num: true, cell: (t) => num(t.fee) },
    { label: "Realised", num: true, cell: (t) => (t.realized_pnl === null ? "—" : money(t.realized_pnl, cur)), cls: (t) => signClass(t.realized_pnl) },
    { label: "Reason", cell: (t) => t.reason || "" },
  ];
  async function page(path) {
    const answer = await get(path);
    if (!ctx.alive()) return;
    replace(trades, table(columns, answer.trades, { caption: "Trades of the run", empty: "The run made no trades." }));
    const button = (url, text) => h("button", { type: "button", class: "link", onclick: () => page(linkPath(url)).catch((e) => show(e.message, "error")) }, text);
    replace(pager, answer.previous ? button(answer.previous, "← Earlier") : null, h("span", { class: "muted" }, `${num(answer.total, 0)} trades`), answer.next ? button(answer.next, "Later →") : null);
  }
  await page(`backtests/${bt.id}/trades?page_size=20`);
}

async function sweepResults(ctx, bt, el, show) {
  const metric = h("select", { name: "metric" }, METRICS.map(([value, text]) => h("option", { value }, text)));
  const ranked = h("div", { class: "bt-ranked" });
  const pager = h("nav", { class: "pager", "aria-label": "Result pages" });
  replace(el, h("section", { class: "card" }, h("h2", {}, "Combinations, ranked"), h("div", { class: "bt-metric" }, field("Rank by", metric)), ranked, pager));
  const cur = currency(bt);
  async function load(path) {
    const answer = await get(path);
    if (!ctx.alive()) return;
    const label = METRICS.find(([v]) => v === metric.value)?.[1] || metric.value;
    const columns = [
      { label: "Rank", num: true, cell: (r) => num(r.rank, 0) },
      { label: "Params", cell: (r) => h("a", { href: `/backtests/${r.id}` }, paramsText(r.params)) },
      { label, num: true, cell: (r) => (r.value === null || r.value === undefined ? "—" : num(r.value, 4)) },
      { label: "PnL", num: true, cell: (r) => money(r.performance?.total_pnl, cur), cls: (r) => signClass(r.performance?.total_pnl) },
      { label: "Trades", num: true, cell: (r) => num(r.performance?.total_trades, 0) },
      { label: "Status", cell: (r) => [statusBadge(r), r.error ? h("span", { class: "muted" }, ` ${r.error}`) : ""] },
    ];
    replace(ranked, table(columns, answer.results, { key: (r) => r.id, caption: "Combinations ranked", empty: "No combinations." }));
    ranked.dataset.metric = metric.value;
    const button = (url, text) => h("button", { type: "button", class: "link", onclick: () => load(linkPath(url)).catch((e) => show(e.message, "error")) }, text);
    replace(pager, answer.previous ? button(answer.previous, "← Better") : null, answer.next ? button(answer.next, "Worse →") : null);
  }
  const first = () => load(`backtests/${bt.id}/results?metric=${metric.value}&page_size=50`).catch((e) => show(e.message, "error"));
  metric.addEventListener("change", first);
  await first();
}
