// What the bots list, a platform's drill-down and a bot's page share: the action buttons
// (enabled from the API's can_*), their messages, and the columns of a bot's row.

import { post } from "./api.js";
import { badge, h, money, num, pct, replace, signClass, statusBadge } from "./dom.js";

const ACTIONS = [
  ["start", "Start", "can_start"],
  ["pause", "Pause", "can_pause"],
  ["resume", "Resume", "can_resume"],
  ["stop", "Stop", "can_stop"],
];

// A button the API says is not allowed stays focusable (aria-disabled) so a keyboard user can
// still reach it; clicking it asks the server anyway, which answers with its reason.
export function actionButtons(bot, { onDone, status }) {
  const group = h("div", { class: "bot-actions", role: "group", "aria-label": `Actions for ${bot.name}` });
  for (const [action, label, flag] of ACTIONS) {
    const allowed = Boolean(bot[flag]);
    const button = h("button", { type: "button", class: `act act-${action}`, dataset: { action }, "aria-disabled": allowed ? null : "true" }, label);
    button.addEventListener("click", async () => {
      if (button.dataset.busy) return;
      button.dataset.busy = "1";
      try {
        const answer = await post(`bots/${bot.id}/${action}`);
        status(answer.message || `${label}: done`, "info", bot.id);
        onDone(answer.bot);
      } catch (error) {
        status(error.message, "error", bot.id);
      } finally {
        delete button.dataset.busy;
      }
    });
    group.append(button);
  }
  return group;
}

export function trainingFlag(bot) {
  if (bot.in_training) return badge("in training", "training");
  if (bot.trading_mode === "live" && bot.promoted_at) return badge("promoted", "live");
  return null;
}

export function botColumns({ onDone, status }) {
  return [
    { label: "Bot", cell: (b) => h("a", { href: `/bots/${b.id}`, class: "bot-name" }, b.name) },
    { label: "Market", cell: (b) => [b.symbol || "", b.exchange ? h("span", { class: "muted" }, ` · ${b.exchange}`) : ""] },
    { label: "Status", cell: (b) => h("span", { class: "status-cell" }, statusBadge(b)) },
    { label: "Mode", cell: (b) => [badge(b.trading_mode || "paper", b.trading_mode === "live" ? "live" : "paper"), " ", trainingFlag(b)] },
    { label: "Profit", num: true, cell: (b) => money(b.total_profit, b.quote_currency || ""), cls: (b) => signClass(b.total_profit) },
    { label: "Today", num: true, cell: (b) => money(b.profit_today, b.quote_currency || ""), cls: (b) => signClass(b.profit_today) },
    { label: "Trades", num: true, cell: (b) => num(b.total_trades, 0) },
    { label: "Win rate", num: true, cell: (b) => pct(b.win_rate) },
    { label: "Actions", cell: (b) => actionButtons(b, { onDone, status }) },
  ];
}

// The line under a list that says what the last action did (or why it was refused).
export function statusLine() {
  const el = h("div", { class: "action-status", role: "status", "aria-live": "polite" });
  const show = (message, kind) => replace(el, h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : null }, message));
  return [el, show];
}

// The performance tiles of a bot or a backtest (the fields of bots/{id}/performance).
export function performanceTiles(p, c) {
  const tile = (label, value, cls = "") => h("div", { class: "tile" }, h("span", { class: "tile-label" }, label), h("strong", { class: `tile-value ${cls}` }, value));
  const ratio = (v) => (v === null || v === undefined ? "—" : num(v, 2));
  return [
    tile("Realised PnL", money(p.total_pnl, c), signClass(p.total_pnl)),
    tile("PnL %", pct(p.total_pnl_percentage, 2), signClass(p.total_pnl_percentage)),
    tile("Unrealised", money(p.unrealized_pnl, c), signClass(p.unrealized_pnl)),
    tile("Trades (won / lost)", `${num(p.total_trades, 0)} (${num(p.winning_trades, 0)} / ${num(p.losing_trades, 0)})`),
    tile("Win rate", pct(p.win_rate)),
    tile("Profit factor", ratio(p.profit_factor)),
    tile("Max drawdown", pct(p.max_drawdown, 2)), // already a percentage of the peak (README, analytics)
    tile("Sharpe / Sortino", `${ratio(p.sharpe_ratio)} / ${ratio(p.sortino_ratio)}`),
    tile("Fees", money(p.total_fees, c)),
  ];
}

// The exits the engine applies (the bot's effective_rules), as a line: "stop-loss 5 %, …".
export function exitsText(rules) {
  if (!rules) return null;
  const percent = (v) => `${Number((Number(v) * 100).toPrecision(6))} %`;
  const parts = [];
  if (rules.stop_loss_pct !== null) parts.push(`stop-loss ${percent(rules.stop_loss_pct)}`);
  if (rules.take_profit_pct !== null) parts.push(`take-profit ${percent(rules.take_profit_pct)}`);
  if (rules.trailing_stop_pct !== null) parts.push(`trailing stop ${percent(rules.trailing_stop_pct)}${Number(rules.trailing_arm_pct) > 0 ? ` once up ${percent(rules.trailing_arm_pct)}` : ""}`);
  const text = parts.length ? parts.join(", ") : "none";
  return rules.overridden?.length ? `${text} (staff override: ${rules.overridden.join(", ")})` : text;
}
