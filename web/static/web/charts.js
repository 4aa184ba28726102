// Charts on <canvas>, drawn by hand: candles with the bot's buys and sells marked, and a line
// (the equity curve). No library: both are a few dozen lines and load with the page.

function setup(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || canvas.parentElement.clientWidth || 600;
  const height = canvas.clientHeight || 260;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const g = canvas.getContext("2d");
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, width, height);
  const style = getComputedStyle(canvas);
  return { g, width, height, colors: { text: style.color || "#444", grid: style.getPropertyValue("--grid") || "rgba(128,128,128,.2)", up: style.getPropertyValue("--up") || "#16a34a", down: style.getPropertyValue("--down") || "#dc2626", line: style.getPropertyValue("--accent") || "#2563eb" } };
}

function label(value) {
  const abs = Math.abs(value);
  const digits = abs >= 1000 ? 0 : abs >= 1 ? 2 : abs >= 0.01 ? 4 : 8;
  return value.toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: Math.min(digits, 2) });
}

function axes(c, lo, hi, pad) {
  const { g, width, height, colors } = c;
  g.font = "11px system-ui, sans-serif";
  g.fillStyle = colors.text;
  g.strokeStyle = colors.grid;
  g.lineWidth = 1;
  for (let i = 0; i <= 4; i += 1) {
    const v = lo + ((hi - lo) * i) / 4;
    const y = pad.top + (height - pad.top - pad.bottom) * (1 - i / 4);
    g.beginPath();
    g.moveTo(pad.left, y + 0.5);
    g.lineTo(width - pad.right, y + 0.5);
    g.stroke();
    g.fillText(label(v), width - pad.right + 4, y + 4);
  }
}

// candles: [{time (unix s), open, high, low, close}]; marks: [{time, price, side}]
export function candleChart(canvas, candles, marks = []) {
  const c = setup(canvas);
  const { g, width, height, colors } = c;
  if (!candles.length) {
    g.fillStyle = colors.text;
    g.fillText("No market data yet.", 12, 24);
    return;
  }
  const pad = { left: 8, right: 64, top: 10, bottom: 22 };
  let lo = Math.min(...candles.map((k) => k.low), ...marks.map((m) => m.price));
  let hi = Math.max(...candles.map((k) => k.high), ...marks.map((m) => m.price));
  if (hi === lo) (hi += Math.abs(hi) * 0.001 || 1), (lo -= Math.abs(lo) * 0.001 || 1);
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const step = plotW / candles.length;
  const x = (i) => pad.left + step * i + step / 2;
  const y = (v) => pad.top + plotH * (1 - (v - lo) / (hi - lo));
  axes(c, lo, hi, pad);
  const body = Math.max(1, step * 0.6);
  candles.forEach((k, i) => {
    const up = k.close >= k.open;
    g.strokeStyle = g.fillStyle = up ? colors.up : colors.down;
    g.beginPath();
    g.moveTo(Math.round(x(i)) + 0.5, y(k.high));
    g.lineTo(Math.round(x(i)) + 0.5, y(k.low));
    g.stroke();
    const top = y(Math.max(k.open, k.close));
    g.fillRect(x(i) - body / 2, top, body, Math.max(1, y(Math.min(k.open, k.close)) - top));
  });
  // Each trade sits on the candle that contains its time: ▲ under a buy, ▼ over a sell.
  const times = candles.map((k) => k.time);
  const span = times.length > 1 ? times[1] - times[0] : 60;
  for (const m of marks) {
    if (m.time < times[0] || m.time >= times[times.length - 1] + span) continue;
    let i = times.findIndex((t) => t > m.time) - 1;
    if (i < 0) i = times.length - 1;
    const px = x(i);
    const py = y(m.price);
    const buy = m.side === "buy";
    g.fillStyle = buy ? colors.up : colors.down;
    g.strokeStyle = "#fff";
    g.beginPath();
    if (buy) {
      g.moveTo(px, py + 4);
      g.lineTo(px - 6, py + 14);
      g.lineTo(px + 6, py + 14);
    } else {
      g.moveTo(px, py - 4);
      g.lineTo(px - 6, py - 14);
      g.lineTo(px + 6, py - 14);
    }
    g.closePath();
    g.fill();
    g.stroke();
  }
  g.fillStyle = colors.text;
  const first = new Date(times[0] * 1000);
  const last = new Date(times[times.length - 1] * 1000);
  g.fillText(first.toLocaleString(undefined, { dateStyle: "short", timeStyle: "short" }), pad.left, height - 6);
  const lastText = last.toLocaleString(undefined, { dateStyle: "short", timeStyle: "short" });
  g.fillText(lastText, width - pad.right - g.measureText(lastText).width, height - 6);
}

// points: [{t (ms), v}]
export function lineChart(canvas, points) {
  const c = setup(canvas);
  const { g, width, height, colors } = c;
  if (points.length < 2) {
    g.fillStyle = colors.text;
    g.fillText(points.length ? "One point so far; the curve grows with every tick." : "No equity points yet.", 12, 24);
    return;
  }
  const pad = { left: 8, right: 64, top: 10, bottom: 22 };
  let lo = Math.min(...points.map((p) => p.v));
  let hi = Math.max(...points.map((p) => p.v));
  if (hi === lo) (hi += Math.abs(hi) * 0.001 || 1), (lo -= Math.abs(lo) * 0.001 || 1);
  const t0 = points[0].t;
  const t1 = points[points.length - 1].t;
  const x = (t) => pad.left + (width - pad.left - pad.right) * ((t - t0) / (t1 - t0 || 1));
  const y = (v) => pad.top + (height - pad.top - pad.bottom) * (1 - (v - lo) / (hi - lo));
  axes(c, lo, hi, pad);
  g.strokeStyle = colors.line;
  g.lineWidth = 2;
  g.beginPath();
  points.forEach((p, i) => (i ? g.lineTo(x(p.t), y(p.v)) : g.moveTo(x(p.t), y(p.v))));
  g.stroke();
}

// Candles grouped into at most `max` (open of the first, close of the last, the extremes):
// thousands of candles stay readable, and trades still sit on the group that holds their time.
export function bucket(candles, max = 400) {
  if (candles.length <= max) return candles;
  const size = Math.ceil(candles.length / max);
  const out = [];
  for (let i = 0; i < candles.length; i += size) {
    const part = candles.slice(i, i + size);
    out.push({ time: part[0].time, open: part[0].open, close: part[part.length - 1].close, high: Math.max(...part.map((k) => k.high)), low: Math.min(...part.map((k) => k.low)) });
  }
  return out;
}
