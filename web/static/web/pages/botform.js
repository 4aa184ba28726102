// Create and edit a bot. The form is built from the API's own descriptions: GET strategies
// (a JSON Schema per strategy's params), GET exchanges and GET exchanges/{id}/symbols.

import { get, patch, post } from "../api.js";
import { field, h, nextId, replace, showFieldErrors } from "../dom.js";

const EXITS = [
  ["stop_loss_pct", "Stop-loss", "Sell when the price falls this far below the average cost."],
  ["take_profit_pct", "Take-profit", "Sell when the price rises this far above the average cost."],
  ["trailing_stop_pct", "Trailing stop", "Sell when the price falls this far below its high since the position opened."],
  ["trailing_arm_pct", "Trailing stop arms after", "The trail starts once the price rose this far above the average cost (empty or 0: at once)."],
];
const EXIT_KEYS = new Set(EXITS.map(([key]) => key));
const TIMEFRAMES = ["1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d"];

export async function render(ctx) {
  const editing = ctx.params.id ? Number(ctx.params.id) : null;
  ctx.title(editing ? "Edit bot" : "New bot");
  const [strategies, exchanges, keys, existing] = await Promise.all([
    get("strategies"),
    get("exchanges"),
    get("keys?page_size=500").catch(() => ({ credentials: [] })),
    editing ? get(`bots/${editing}`) : Promise.resolve(null),
  ]);
  if (!ctx.alive()) return;
  const bot = existing?.bot;
  const byStrategy = new Map(strategies.strategies.map((s) => [s.id, s]));

  const general = h("div", { class: "form-general", tabindex: "-1" });
  const name = h("input", { name: "name", required: true, maxlength: "100", value: bot?.name || "", autocomplete: "off" });
  const exchange = h("select", { name: "exchange" }, exchanges.exchanges.map((x) => h("option", { value: x.id, selected: (bot?.exchange || "simulated") === x.id }, x.id === x.name ? x.id : `${x.name} (${x.id})`)));
  const listId = nextId("symbols");
  const symbols = h("datalist", { id: listId });
  const symbolHint = h("span");
  const symbol = h("input", { name: "symbol", required: true, list: listId, value: bot?.symbol || "BTC/USDT", autocomplete: "off", spellcheck: "false" });
  const strategy = h("select", { name: "strategy" }, strategies.strategies.map((s) => h("option", { value: s.id, selected: (bot?.strategy || "sma_cross") === s.id }, s.name)));
  const strategyHelp = h("p", { class: "hint" });
  const params = h("fieldset", { class: "params field", dataset: { field: "params" } });
  const timeframe = h("select", { name: "timeframe" }, TIMEFRAMES.map((t) => h("option", { value: t, selected: (bot?.timeframe || "1m") === t }, t)));
  const interval = h("input", { name: "interval_seconds", type: "number", min: "1", max: "86400", step: "1", value: bot?.interval_seconds ?? 60 });
  const capital = h("input", { name: "capital", type: "number", min: "0", step: "any", required: true, value: bot?.capital ?? 1000, inputmode: "decimal" });
  const modeName = nextId("mode");
  const modeInputs = ["paper", "live"].map((m) => h("label", { class: "radio" }, h("input", { type: "radio", name: "trading_mode", value: m, checked: (bot?.trading_mode || "paper") === m }), m === "paper" ? " Paper (simulated fills)" : " Live (enters the training bay first)"));
  const mode = h("fieldset", { class: "field", dataset: { field: "trading_mode" } }, h("legend", {}, "Trading mode"), modeInputs, h("small", { class: "field-error", role: "alert", id: modeName }));
  const credential = h("select", { name: "credential_id" });
  const exits = exitsFieldset(bot, "Staff overrides win where they are stricter; the bot's page shows the rules in force.");

  function fillCredentials() {
    const venue = exchange.value;
    const sets = keys.credentials.filter((c) => c.provider === venue && c.purpose === "live");
    replace(credential, h("option", { value: "" }, sets.length ? "— the venue's default live key set —" : "— none saved for this venue —"), sets.map((c) => h("option", { value: String(c.id), selected: bot?.credential_id === c.id }, `${c.label} (${c.api_key_hint})`)));
  }

  let symbolsFor = null;
  async function loadSymbols() {
    const venue = exchange.value;
    symbolsFor = venue;
    replace(symbolHint, "Loading the venue's markets…");
    try {
      const answer = await get(`exchanges/${encodeURIComponent(venue)}/symbols`);
      if (symbolsFor !== venue || !ctx.alive()) return;
      replace(symbols, answer.symbols.slice(0, 2000).map((s) => h("option", { value: s })));
      replace(symbolHint, answer.verified ? `${answer.total} markets on ${venue}.` : `Markets of ${venue} could not be loaded; the symbol is checked at the first tick.`);
    } catch (error) {
      if (symbolsFor === venue) replace(symbolHint, error.message);
    }
  }

  function drawParams() {
    const spec = byStrategy.get(strategy.value);
    const values = bot && bot.strategy === strategy.value ? bot.params : spec?.defaults || {};
    replace(strategyHelp, spec?.description || "", spec?.rules?.length ? ` Rules: ${spec.rules.join("; ")}.` : "");
    const props = spec?.params_schema?.properties || {};
    const required = new Set(spec?.params_schema?.required || []);
    replace(
      params,
      h("legend", {}, "Strategy parameters"),
      Object.keys(props).length ? "" : h("p", { class: "muted" }, "This strategy has no parameters."),
      Object.entries(props).map(([key, schema]) => paramField(key, schema, values[key], required.has(key))),
      h("small", { class: "field-error", role: "alert" }),
    );
  }

  exchange.addEventListener("change", () => {
    loadSymbols();
    fillCredentials();
  });
  strategy.addEventListener("change", drawParams);
  drawParams();
  fillCredentials();
  loadSymbols();

  const submit = h("button", { type: "submit", class: "primary" }, editing ? "Save changes" : "Create bot");
  const form = h(
    "form",
    { class: "card bot-form", novalidate: true },
    h("h1", {}, editing ? `Edit ${bot.name}` : "New bot"),
    editing && bot.status !== "stopped" ? h("p", { class: "notice info" }, "While the bot runs only its name, parameters and tick interval may change; stop it to change the venue, symbol or mode.") : null,
    general,
    h("div", { class: "grid2" }, field("Name", name), field("Exchange", exchange)),
    h("div", { class: "grid2" }, field("Symbol", symbol, { hint: symbolHint }), field("Strategy", strategy)),
    strategyHelp,
    params,
    h("div", { class: "grid3" }, field("Timeframe", timeframe), field("Tick every (seconds)", interval), field("Capital (quote currency)", capital)),
    exits,
    mode,
    field("Live key set", credential, { hint: "Only live bots use keys; paper bots need none." }),
    symbols,
    h("div", { class: "actions" }, submit, h("a", { href: editing ? `/bots/${editing}` : "/bots", class: "button" }, "Cancel")),
  );

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = collect();
    if (editing) for (const key of Object.keys(body)) if (JSON.stringify(body[key]) === JSON.stringify(bot[key]) || (EXIT_KEYS.has(key) && body[key] !== null && bot[key] !== null && Number(body[key]) === Number(bot[key]))) delete body[key];
    submit.disabled = true;
    try {
      const answer = editing ? await patch(`bots/${editing}`, body) : await post("bots", body);
      ctx.navigate(`/bots/${answer.bot.id}`);
    } catch (error) {
      if (ctx.alive()) showFieldErrors(form, error, general);
    } finally {
      submit.disabled = false;
    }
  });

  function collect() {
    const values = {};
    for (const input of params.querySelectorAll("[data-param]")) {
      if (input.value === "") continue;
      values[input.dataset.param] = input.type === "number" ? Number(input.value) : input.type === "checkbox" ? input.checked : input.value;
    }
    const body = {
      name: name.value.trim(),
      exchange: exchange.value,
      symbol: symbol.value.trim(),
      strategy: strategy.value,
      params: values,
      timeframe: timeframe.value,
      interval_seconds: interval.value === "" ? undefined : Number(interval.value),
      capital: capital.value === "" ? "" : Number(capital.value),
      trading_mode: form.querySelector("input[name=trading_mode]:checked")?.value || "paper",
    };
    Object.assign(body, exitValues(exits, editing ? bot : null));
    if (credential.value) body.credential_id = Number(credential.value);
    else if (editing && bot.credential_id) body.credential_id = null;
    for (const key of Object.keys(body)) if (body[key] === undefined) delete body[key];
    return body;
  }

  replace(ctx.main, h("p", { class: "crumbs" }, h("a", { href: "/bots" }, "Bots"), " / ", editing ? bot.name : "New"), form);
  name.focus();
}

// The exits, fractions as the API takes them (0.05 = 5 %); empty = none. Shared with the backtest form.
export function exitsFieldset(values, note) {
  const inputs = EXITS.map(([key, label, hint]) => {
    const input = h("input", { name: key, type: "number", min: "0", step: "any", inputmode: "decimal", placeholder: "none", dataset: { exit: key } });
    input.value = values?.[key] ?? "";
    return field(label, input, { hint });
  });
  return h("fieldset", { class: "field exits" }, h("legend", {}, "Exits (fractions: 0.05 = 5 %)"), h("div", { class: "grid2" }, inputs), note ? h("p", { class: "hint" }, note) : null);
}

// The exits filled in; with `saved` (an edit), an emptied one that was set becomes null (cleared).
export function exitValues(fieldset, saved = null) {
  const out = {};
  for (const input of fieldset.querySelectorAll("[data-exit]")) {
    if (input.value !== "") out[input.name] = input.value;
    else if (saved && saved[input.name] !== null && saved[input.name] !== undefined) out[input.name] = null;
  }
  return out;
}

export function paramField(key, schema, value, required) {
  const label = schema.title || key.replace(/_/g, " ");
  let input;
  if (schema.enum) {
    input = h("select", {}, schema.enum.map((v) => h("option", { value: String(v), selected: v === value }, String(v))));
  } else if (schema.type === "boolean") {
    input = h("input", { type: "checkbox", checked: Boolean(value ?? schema.default) });
  } else if (schema.type === "integer" || schema.type === "number") {
    const min = schema.minimum ?? schema.exclusiveMinimum;
    const max = schema.maximum ?? schema.exclusiveMaximum;
    input = h("input", { type: "number", step: schema.type === "integer" ? "1" : "any", min: min ?? null, max: max ?? null, inputmode: schema.type === "integer" ? "numeric" : "decimal", required });
    input.value = value ?? schema.default ?? "";
  } else {
    input = h("input", { type: "text", required });
    input.value = value ?? schema.default ?? "";
  }
  input.dataset.param = key;
  input.name = `params.${key}`;
  const bounds = [];
  if (schema.minimum !== undefined) bounds.push(`≥ ${schema.minimum}`);
  if (schema.exclusiveMinimum !== undefined) bounds.push(`> ${schema.exclusiveMinimum}`);
  if (schema.maximum !== undefined) bounds.push(`≤ ${schema.maximum}`);
  if (schema.exclusiveMaximum !== undefined) bounds.push(`< ${schema.exclusiveMaximum}`);
  const hint = [schema.description, bounds.join(", "), schema.default !== undefined ? `default ${schema.default}` : "", required ? "required" : ""].filter(Boolean).join(" · ");
  return field(label, input, { hint });
}
