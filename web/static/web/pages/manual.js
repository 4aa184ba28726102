// Acting on a bot by hand (its page): close the position now, place an order (market or
// limit, by base quantity or quote amount), cancel a resting order. Each goes through the
// bot's own rules; a refusal is shown with its reason.

import { del, post } from "../api.js";
import { statusLine } from "../botui.js";
import { field, h, replace, showFieldErrors } from "../dom.js";

const RESTING = new Set(["submitted", "open", "partially_filled"]); // bots/engine/tick.py RESTING

export const isResting = (order) => order.type === "limit" && RESTING.has(order.status);

function outcome(answer, fallback) {
  const order = answer.order;
  return answer.message || (order ? `Order #${order.id}: ${order.side} ${order.type}, ${order.status}.` : fallback);
}

export function manualSection(ctx, bot, { onDone }) {
  const id = bot.id;
  const [statusEl, show] = statusLine(); // said next to the buttons, not at the top of a long page
  const close = h("button", { type: "button", class: "danger", dataset: { action: "close-position" } }, "Close position");
  close.addEventListener("click", async () => {
    if (!window.confirm(`Sell ${bot.name}'s whole position now, at the market?`)) return;
    try {
      show(outcome(await post(`bots/${id}/close`), "Position closed."), "info");
      onDone();
    } catch (error) {
      show(error.message, "error");
    }
  });

  const general = h("div", { class: "form-general", tabindex: "-1" });
  const side = h("select", { name: "side" }, h("option", { value: "buy" }, "Buy"), h("option", { value: "sell" }, "Sell"));
  const type = h("select", { name: "type" }, h("option", { value: "market" }, "Market"), h("option", { value: "limit" }, "Limit"));
  const unit = h("select", { name: "unit", "aria-label": "Amount in" }, h("option", { value: "quote_amount" }, `${bot.quote_currency || "quote"} to spend / receive`), h("option", { value: "quantity" }, `${(bot.symbol || "").split("/")[0] || "base"} quantity`), h("option", { value: "percent" }, "% of capital (buy) or of the position (sell)"));
  const amount = h("input", { type: "number", name: "amount", min: "0", step: "any", inputmode: "decimal", required: true });
  const price = h("input", { type: "number", name: "price", min: "0", step: "any", inputmode: "decimal", disabled: true });
  const submit = h("button", { type: "submit", class: "primary" }, "Place order");
  const form = h(
    "form",
    { class: "order-form", novalidate: true },
    general,
    h("div", { class: "grid3" }, field("Side", side), field("Type", type), field("Limit price", price, { hint: "Limit orders only: they rest until the market reaches it." })),
    h("div", { class: "grid2" }, field("Amount in", unit), field("Amount", amount)),
    h("div", { class: "actions" }, submit),
  );
  type.addEventListener("change", () => {
    price.disabled = type.value !== "limit";
    if (price.disabled) price.value = "";
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { side: side.value, type: type.value, [unit.value]: amount.value === "" ? "" : amount.value };
    if (type.value === "limit") body.price = price.value;
    submit.disabled = true;
    try {
      const answer = await post(`bots/${id}/orders`, body);
      replace(general);
      show(outcome(answer, "Order placed."), "info");
      onDone();
    } catch (error) {
      // A refusal (409) says why in its message; a 400 names fields, the amount under any of its names.
      const details = error.status === 400 ? { ...(error.details || {}) } : {};
      for (const key of ["quantity", "quote_amount", "percent"]) if (details[key]) (details.amount = details[key]), delete details[key];
      if (ctx.alive()) showFieldErrors(form, { message: error.message, details }, general);
    } finally {
      submit.disabled = false;
    }
  });

  return h("section", { class: "card manual" }, h("h2", {}, "Trade by hand"), h("p", { class: "hint" }, "Orders by hand meet the bot's own rules (limits, training bay, overrides); the bot must be running."), statusEl, h("div", { class: "actions manual-close" }, close), form);
}

export function cancelButton(ctx, bot, order, { show, onDone }) {
  if (!isResting(order)) return "";
  return h(
    "button",
    {
      type: "button",
      class: "link",
      dataset: { action: "cancel-order", order: String(order.id) },
      onclick: async () => {
        try {
          show(outcome(await del(`bots/${bot.id}/orders/${order.id}`), `Order #${order.id} canceled.`), "info");
          onDone();
        } catch (error) {
          show(error.message, "error");
        }
      },
    },
    "Cancel",
  );
}
