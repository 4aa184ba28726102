// DOM helpers. Every string from the server goes in as a text node or an attribute value:
// nothing here (or anywhere in the app) parses HTML, so a bot named <img onerror=…> is text.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "value" || key === "checked" || key === "disabled" || key === "selected") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

let uid = 0;
export const nextId = (prefix = "f") => `${prefix}-${++uid}`;

// --- numbers and times -------------------------------------------------------------------
const cache = new Map();
function formatter(min, max) {
  const key = `${min}:${max}`;
  if (!cache.has(key)) cache.set(key, new Intl.NumberFormat(undefined, { minimumFractionDigits: min, maximumFractionDigits: max }));
  return cache.get(key);
}

// Crypto quotes (BTC, ETH) need more decimals than fiat-like ones (USDT, INR).
export function digitsFor(currency) {
  return ["USDT", "USD", "USDC", "BUSD", "EUR", "INR", "GBP", "DAI", "TUSD", "FDUSD"].includes(currency) ? 2 : 6;
}

export function money(value, currency = "") {
  if (value === null || value === undefined || Number.isNaN(Number(value))) return "—";
  const digits = digitsFor(currency);
  const text = formatter(digits, digits).format(Number(value));
  return currency ? `${text} ${currency}` : text;
}

export function num(value, max = 8) {
  if (value === null || value === undefined || value === "") return "—";
  return formatter(0, max).format(Number(value));
}

export function pct(value, digits = 1) {
  if (value === null || value === undefined) return "—";
  return `${formatter(digits, digits).format(Number(value))} %`;
}

export function signClass(value) {
  const n = Number(value);
  return n > 0 ? "pos" : n < 0 ? "neg" : "";
}

export function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

export function clock(date = new Date()) {
  return date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const days = Math.floor(s / 86400);
  const hms = [Math.floor((s % 86400) / 3600), Math.floor((s % 3600) / 60), s % 60].map((n) => String(n).padStart(2, "0")).join(":");
  return days ? `${days}d ${hms}` : hms;
}

// --- small building blocks -----------------------------------------------------------------
export function table(columns, rows, { caption, empty = "Nothing yet.", key } = {}) {
  const body = h("tbody");
  for (const row of rows) body.append(tableRow(columns, row, key));
  return h(
    "div",
    { class: "table-wrap" },
    rows.length
      ? h(
          "table",
          {},
          caption ? h("caption", { class: "sr-only" }, caption) : null,
          h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.num ? "num" : "" }, c.label)))),
          body,
        )
      : h("p", { class: "empty" }, empty),
  );
}

export function tableRow(columns, row, key) {
  const tr = h("tr", key ? { dataset: { key: String(key(row)) } } : {});
  for (const c of columns) {
    const value = c.cell(row);
    tr.append(h("td", { class: [c.num ? "num" : "", c.cls ? c.cls(row) : ""].join(" ").trim(), dataset: { label: c.label } }, value));
  }
  return tr;
}

export function badge(text, kind = "") {
  return h("span", { class: `badge ${kind}` }, text);
}

export function statusBadge(bot) {
  const items = [badge(bot.status, `st-${bot.status}`)];
  if (bot.force_paused) items.push(badge("force-paused", "warn"));
  return items;
}

export function notice(text, kind = "error") {
  return h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

export function field(label, input, { hint, error, id } = {}) {
  const fid = id || input.id || nextId();
  input.id = fid;
  const hintId = hint ? `${fid}-hint` : null;
  const errId = `${fid}-error`;
  input.setAttribute("aria-describedby", [hintId, errId].filter(Boolean).join(" "));
  return h(
    "div",
    { class: "field", dataset: { field: input.name || "" } },
    h("label", { for: fid }, label),
    input,
    hint ? h("small", { id: hintId, class: "hint" }, hint) : null,
    h("small", { id: errId, class: "field-error", role: "alert" }, error || ""),
  );
}

// Shows the 400 envelope's details at the fields they name; what names no field goes to `general`.
export function showFieldErrors(form, error, general) {
  for (const el of form.querySelectorAll(".field-error")) el.textContent = "";
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const details = (error && error.details) || {};
  const left = [];
  let first = null;
  const place = (name, messages) => {
    const wrap = form.querySelector(`.field[data-field="${CSS.escape(name)}"]`);
    const text = Array.isArray(messages) ? messages.join(" ") : typeof messages === "string" ? messages : JSON.stringify(messages);
    if (!wrap) return left.push(`${name}: ${text}`);
    wrap.querySelector(":scope > .field-error").textContent = text;
    const input = wrap.querySelector("input, select, textarea");
    if (input) {
      input.setAttribute("aria-invalid", "true");
      first = first || input;
    }
  };
  for (const [name, messages] of Object.entries(details)) {
    if (messages && typeof messages === "object" && !Array.isArray(messages)) {
      for (const [sub, subMessages] of Object.entries(messages)) place(`${name}.${sub}`, subMessages);
    } else place(name, messages);
  }
  const message = left.length ? left.join(" · ") : Object.keys(details).length ? "" : error?.message || "";
  replace(general, message ? notice(message) : "");
  if (first) first.focus();
  else if (message) general.focus?.();
}
