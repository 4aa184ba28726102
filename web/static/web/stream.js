// The live stream: the WebSocket at /api/ws (lower latency at scale than SSE, and the token
// travels in the first message, never in a URL or a log). On a drop it reconnects with
// exponential backoff and full jitter and resumes from the last seq it handed on, so the app
// sees every event once, in order; a `resync_required` (the gap was purged) or a reconnect
// with nothing to resume from asks the pages to reload their snapshot instead.

import { accessToken, onSession, refresh, sessionLost } from "./api.js";

const BASE_DELAY = 500;
const MAX_DELAY = 30_000;
const SILENCE_LIMIT = 75_000; // the server pings every 30 s: this long without a word is a dead socket

let socket = null;
let wanted = false;
let state = "offline";
let lastSeq = null;
let attempt = 0;
let retryTimer = null;
let lastMessageAt = 0;
let lastEventAt = null;
let authenticated = false;
const eventHandlers = new Set();
const stateHandlers = new Set();

export const streamState = () => state;
export const lastSeqSeen = () => lastSeq;
export const lastUpdate = () => lastEventAt;

export function onEvent(fn) {
  eventHandlers.add(fn);
  return () => eventHandlers.delete(fn);
}

export function onState(fn) {
  stateHandlers.add(fn);
  fn(state);
  return () => stateHandlers.delete(fn);
}

function setState(next) {
  if (next === state) return;
  state = next;
  document.documentElement.dataset.stream = next;
  stateHandlers.forEach((fn) => fn(next));
}

function dispatch(event) {
  lastEventAt = new Date();
  for (const fn of eventHandlers) {
    try {
      fn(event);
    } catch (error) {
      console.error("event handler failed", error);
    }
  }
}

export function start() {
  if (wanted) return;
  wanted = true;
  connect();
}

export function stop() {
  wanted = false;
  clearTimeout(retryTimer);
  lastSeq = null;
  attempt = 0;
  if (socket) socket.close(1000);
  socket = null;
  setState("offline");
}

function connect() {
  clearTimeout(retryTimer);
  if (!wanted || !accessToken()) return;
  setState("connecting");
  authenticated = false;
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/ws`);
  socket = ws;
  ws.onopen = () => {
    const hello = { type: "auth", token: accessToken() };
    if (lastSeq !== null) hello.last_seq = lastSeq;
    ws.send(JSON.stringify(hello));
  };
  ws.onmessage = (message) => {
    if (ws !== socket) return;
    lastMessageAt = Date.now();
    let data;
    try {
      data = JSON.parse(message.data);
    } catch {
      return;
    }
    receive(data);
  };
  ws.onclose = (close) => {
    if (ws !== socket) return;
    socket = null;
    authenticated = false;
    if (!wanted) return;
    setState("offline");
    if (close.code === 4401) {
      // The token lapsed or was revoked: a fresh one, then straight back (or the app signs out).
      refresh().then((ok) => (ok ? schedule(true) : sessionLost()));
      return;
    }
    schedule(false);
  };
}

function schedule(soon) {
  if (!wanted) return;
  const ceiling = soon ? BASE_DELAY : Math.min(MAX_DELAY, BASE_DELAY * 2 ** attempt);
  attempt += 1;
  const delay = soon ? ceiling : ceiling / 2 + Math.random() * (ceiling / 2);
  retryTimer = setTimeout(connect, delay);
}

function receive(data) {
  switch (data.type) {
    case "connection": {
      authenticated = true;
      attempt = 0;
      setState("live");
      // Nothing to resume from (first connection, or no event seen yet): the pages' snapshot is the truth.
      if (lastSeq === null) dispatch({ type: "resync", reason: "connected" });
      return;
    }
    case "ping":
    case "pong":
    case "resumed":
    case "subscribed":
      return;
    case "resync_required":
      lastSeq = null;
      dispatch({ type: "resync", reason: "resync_required" });
      return;
    case "error":
      console.warn("stream:", data.code, data.message);
      return;
    default:
      break;
  }
  if (typeof data.seq === "number") {
    if (lastSeq !== null && data.seq <= lastSeq) return; // already handed on
    lastSeq = data.seq;
  }
  dispatch(data);
}

// A renewed access token extends the open socket past the old one's expiry.
onSession((what) => {
  if (what === "token" && socket && authenticated && socket.readyState === WebSocket.OPEN) {
    socket.send(JSON.stringify({ type: "auth", token: accessToken() }));
  }
  if (what === "signout") stop();
});

setInterval(() => {
  if (socket && authenticated && Date.now() - lastMessageAt > SILENCE_LIMIT) socket.close(4000);
}, 10_000);

window.addEventListener("online", () => {
  if (wanted && !socket) {
    attempt = 0;
    connect();
  }
});

// For the browser tests and the bench: what the stream handed on, observable without reload.
window.__botfleetStream = { state: () => state, lastSeq: () => lastSeq, drop: () => socket && socket.close(4000) };
