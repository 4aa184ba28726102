// The live training bay: each quarantined bot with a countdown that ticks every second, and a
// promote button that says why it is disabled until the bot is eligible.

import { get, post } from "../api.js";
import { badge, duration, h, notice, num, replace, table } from "../dom.js";

export async function render(ctx) {
  ctx.title("Training bay");
  const status = h("div", { role: "status", "aria-live": "polite" });
  const summary = h("p", { class: "muted" });
  const area = h("div");
  replace(
    ctx.main,
    h("div", { class: "page-head" }, h("h1", {}, "Training bay")),
    h("p", { class: "muted" }, "A live bot trades on paper against the live market for its quarantine before it may trade real money. Promotion starts it flat."),
    summary,
    status,
    area,
  );
  let deadlines = new Map();

  async function load() {
    const bay = await get("training/live-bay");
    if (!ctx.alive()) return;
    const now = Date.now();
    deadlines = new Map(bay.quarantine_bots.map((b) => [b.id, now + b.seconds_remaining * 1000]));
    replace(summary, `${bay.total} in quarantine · ${bay.ready_for_promotion} ready · minimum ${num(bay.min_training_hours, 2)} h · real-money trading ${bay.live_mode_active ? "on" : "off (ENABLE_TRADING)"}`);
    replace(
      area,
      table(
        [
          { label: "Bot", cell: (b) => h("a", { href: `/bots/${b.id}` }, b.name) },
          { label: "Venue", cell: (b) => b.exchange },
          { label: "Trained", num: true, cell: (b) => `${num(b.hours_elapsed, 2)} h` },
          { label: "Time left", num: true, cell: (b) => h("span", { class: "countdown", dataset: { bot: String(b.id) } }, duration((deadlines.get(b.id) - Date.now()) / 1000)) },
          { label: "State", cell: (b) => (b.eligible_for_promotion ? badge("eligible", "ok") : badge("training", "training")) },
          { label: "", cell: (b) => promoteButton(b, bay) },
        ],
        bay.quarantine_bots,
        { key: (b) => b.id, empty: "No bot in the training bay. A bot created (or switched) to live mode starts its quarantine here.", caption: "Bots in quarantine" },
      ),
    );
    ctx.updated();
  }

  function promoteButton(b, bay) {
    const reasonId = `why-${b.id}`;
    const why = b.eligible_for_promotion ? "" : `Not yet: it needs ${num(bay.min_training_hours, 2)} h of training; promotion opens when the countdown reaches zero.`;
    const button = h("button", { type: "button", class: "primary", "aria-disabled": b.eligible_for_promotion ? null : "true", "aria-describedby": reasonId, dataset: { bot: String(b.id) } }, "Promote");
    button.addEventListener("click", async () => {
      if (!b.eligible_for_promotion) {
        replace(status, notice(why));
        return;
      }
      if (!window.confirm(`Promote ${b.name}? It will trade real money from its next tick, starting flat.`)) return;
      try {
        const r = await post(`training/${b.id}/promote`);
        replace(status, notice(r.message || `${b.name} promoted.`, "info"));
        await load();
      } catch (error) {
        replace(status, notice(error.message));
      }
    });
    return h("div", {}, button, h("small", { id: reasonId, class: "hint why" }, why));
  }

  await load();
  ctx.every(() => {
    for (const el of ctx.main.querySelectorAll(".countdown")) {
      const left = (deadlines.get(Number(el.dataset.bot)) - Date.now()) / 1000;
      el.textContent = duration(left);
      if (left <= 0 && !el.dataset.done) {
        el.dataset.done = "1";
        load().catch(() => {});
      }
    }
  }, 1000);
  let timer = null;
  ctx.onEvent((event) => {
    if (event.type === "resync" || event.type.startsWith("training_") || event.type === "bot_promoted" || event.type === "bot_deleted" || event.type === "bot_updated" || event.type === "bot_created") {
      clearTimeout(timer);
      timer = setTimeout(() => load().catch(() => {}), 250);
    }
  });
  ctx.cleanup(() => clearTimeout(timer));
}
