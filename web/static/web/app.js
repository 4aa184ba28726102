// The app's shell: routes real URLs (History API) to pages, keeps the nav and the connection
// indicator, and hands each page the stream's events until the user leaves it.

import { currentUser, onSession, restore, signedIn, signOut } from "./api.js";
import { clock, h, replace } from "./dom.js";
import * as stream from "./stream.js";

const pages = {
  overview: () => import("./pages/overview.js"),
  auth: () => import("./pages/auth.js"),
  bots: () => import("./pages/bots.js"),
  form: () => import("./pages/botform.js"),
  detail: () => import("./pages/botdetail.js"),
  keys: () => import("./pages/keys.js"),
  training: () => import("./pages/training.js"),
  backtests: () => import("./pages/backtests.js"),
  security: () => import("./pages/security.js"),
  notifications: () => import("./pages/notifications.js"),
};

const routes = [
  [/^\/$/, "overview", "render"],
  [/^\/signin$/, "auth", "signin", { public: true }],
  [/^\/register$/, "auth", "register", { public: true }],
  [/^\/verify$/, "auth", "verify"],
  [/^\/account\/password$/, "auth", "password"],
  [/^\/bots$/, "bots", "render"],
  [/^\/bots\/new$/, "form", "render"],
  [/^\/bots\/(?<id>\d+)$/, "detail", "render"],
  [/^\/bots\/(?<id>\d+)\/edit$/, "form", "render"],
  [/^\/platforms\/(?<platform>[\w-]+)$/, "bots", "platform"],
  [/^\/keys$/, "keys", "render"],
  [/^\/training$/, "training", "render"],
  [/^\/backtests$/, "backtests", "render"],
  [/^\/backtests\/(?<id>\d+)$/, "backtests", "detail"],
  [/^\/forgot-password$/, "auth", "forgot", { public: true }],
  [/^\/reset-password$/, "auth", "reset", { public: true }],
  [/^\/account\/security$/, "security", "render"],
  [/^\/notifications$/, "notifications", "render"],
];

const main = document.getElementById("main");
let current = null; // the page's cleanup bag
let generation = 0;

export function navigate(url, { replace: replaceEntry = false } = {}) {
  if (replaceEntry) history.replaceState({}, "", url);
  else history.pushState({}, "", url);
  route();
}

function leave() {
  if (!current) return;
  for (const fn of current.cleanups) {
    try {
      fn();
    } catch (error) {
      console.error(error);
    }
  }
  current = null;
}

async function route() {
  const mine = ++generation;
  leave();
  const path = location.pathname;
  const match = routes.map(([re, ...rest]) => [path.match(re), ...rest]).find(([m]) => m);
  renderNav();
  if (!match) {
    replace(main, h("h1", {}, "Not found"), h("p", {}, "There is no page here. ", h("a", { href: "/" }, "Back to the overview")));
    return;
  }
  const [m, module, fn, options = {}] = match;
  if (!options.public && !signedIn()) {
    navigate(`/signin?next=${encodeURIComponent(path + location.search)}`, { replace: true });
    return;
  }
  if (options.public && signedIn()) {
    navigate("/", { replace: true });
    return;
  }
  const bag = { cleanups: [] };
  current = bag;
  const ctx = {
    main,
    params: { ...(m.groups || {}) },
    query: new URLSearchParams(location.search),
    navigate,
    alive: () => current === bag && mine === generation,
    onEvent(handler) {
      bag.cleanups.push(stream.onEvent(handler));
    },
    every(handler, ms) {
      const id = setInterval(handler, ms);
      bag.cleanups.push(() => clearInterval(id));
    },
    cleanup(handler) {
      bag.cleanups.push(handler);
    },
    updated: () => markUpdated(),
    title(text) {
      document.title = text ? `${text} · Botfleet` : "Botfleet";
    },
  };
  replace(main, h("p", { class: "loading", role: "status" }, "Loading…"));
  try {
    const page = await pages[module]();
    if (!ctx.alive()) return;
    await page[fn](ctx);
  } catch (error) {
    if (!ctx.alive()) return;
    if (error.code === "TWO_FACTOR_REQUIRED" && path !== "/account/security") {
      navigate("/account/security?required=1", { replace: true }); // staff policy: 2FA before anything else
      return;
    }
    console.error(error);
    replace(main, h("h1", {}, "Something went wrong"), h("p", { class: "notice error", role: "alert" }, error.message || String(error)), h("button", { type: "button", onclick: () => route() }, "Try again"));
  }
  if (ctx.alive() && !main.contains(document.activeElement)) main.focus({ preventScroll: true });
}

function renderNav() {
  const nav = document.getElementById("nav");
  const user = currentUser();
  const link = (href, text) => {
    const active = href === "/" ? location.pathname === "/" : location.pathname.startsWith(href);
    return h("a", { href, "aria-current": active ? "page" : null }, text);
  };
  if (!signedIn()) {
    replace(nav, link("/signin", "Sign in"), link("/register", "Register"));
    return;
  }
  replace(
    nav,
    link("/", "Overview"),
    link("/bots", "Bots"),
    link("/training", "Training bay"),
    link("/backtests", "Backtests"),
    link("/keys", "Keys"),
    user?.is_staff ? h("a", { href: "/admin/", "data-external": "1" }, "Admin") : null,
    h(
      "details",
      { class: "menu" },
      h("summary", {}, user?.email || user?.username || "Account"),
      h(
        "div",
        { class: "menu-body" },
        user?.is_verified === false ? h("a", { href: "/verify" }, "Verify e-mail") : null,
        h("a", { href: "/account/password" }, "Change password"),
        h("a", { href: "/account/security" }, "Security"),
        h("a", { href: "/notifications" }, "Notifications"),
        h("button", { type: "button", id: "signout", onclick: onSignOut }, "Sign out"),
      ),
    ),
  );
}

async function onSignOut() {
  await signOut();
  navigate("/signin");
}

// Links inside the app navigate without a reload; /api/, /admin/ and /static/ stay real page loads.
document.addEventListener("click", (event) => {
  const a = event.target.closest("a[href]");
  if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  if (a.target || a.dataset.external || a.hasAttribute("download")) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || /^\/(api|admin|static)\//.test(url.pathname)) return;
  event.preventDefault();
  for (const menu of document.querySelectorAll("details.menu[open]")) menu.open = false;
  if (url.pathname + url.search !== location.pathname + location.search) navigate(url.pathname + url.search);
});

window.addEventListener("popstate", () => route());

// --- connection indicator and last update ----------------------------------------------------
const connText = document.getElementById("conn-text");
const updated = document.getElementById("updated");
stream.onState((state) => {
  connText.textContent = state;
  document.getElementById("conn").dataset.state = state;
});
stream.onEvent(() => {
  const at = stream.lastUpdate();
  updated.textContent = `updated ${clock(at)}`;
  updated.setAttribute("datetime", at.toISOString());
});
function markUpdated() {
  updated.textContent = `updated ${clock()}`;
}

onSession((what) => {
  if (what === "signin") stream.start();
  if (what === "signout") {
    renderNav();
    if (!/^\/(signin|register|forgot-password|reset-password)$/.test(location.pathname)) navigate("/signin", { replace: true });
  }
  if (what === "user") renderNav();
});

(async () => {
  if (await restore()) stream.start();
  route();
})();
