// The REST client. The access token lives in this module's memory only; the refresh token is
// an HttpOnly, SameSite=Strict cookie on /api/auth/ that this code never sees ("cookie": true).

let access = null;
let user = null;
let refreshTimer = null;
let refreshing = null;
const listeners = new Set();

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || (status ? `The server answered ${status}.` : "The server could not be reached."));
    this.status = status;
    this.code = error.code || "NETWORK";
    this.details = error.details || {};
    this.retryAfter = null;
  }
}

export const currentUser = () => user;
export const signedIn = () => access !== null;
let userLoading = null;
// The signed-in user, read once after a restore (the page does not wait for it to start loading).
export const whoami = () => (user ? Promise.resolve(user) : userLoading || refreshUser());
export const accessToken = () => access;
export function onSession(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
const emit = (what) => listeners.forEach((fn) => fn(what));

async function send(method, path, body, auth = true, extraHeaders = {}) {
  const headers = { Accept: "application/json", ...extraHeaders };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (auth && access) headers.Authorization = `Bearer ${access}`;
  let response;
  try {
    response = await fetch(`/api/${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch {
    return { status: 0, data: null };
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  return { status: response.status, data, headers: response.headers };
}

// `headers`: extra request headers (e.g. X-2FA-Code, see fresh.js).
export async function api(method, path, body, { headers = {} } = {}) {
  let answer = await send(method, path, body, true, headers);
  if (answer.status === 401 && access) {
    if (await refresh()) answer = await send(method, path, body, true, headers);
    else signedOut();
  }
  if (answer.status < 200 || answer.status >= 300 || !answer.data || answer.data.success === false) {
    const error = new ApiError(answer.status, answer.data);
    if (answer.headers) error.retryAfter = answer.headers.get("Retry-After");
    throw error;
  }
  return answer.data;
}

export const get = (path) => api("GET", path);
export const post = (path, body = {}) => api("POST", path, body);
export const patch = (path, body) => api("PATCH", path, body);
export const del = (path) => api("DELETE", path);

// A `next`/`previous` link from a list answer, as a path for api().
export function linkPath(url) {
  if (!url) return null;
  const u = new URL(url, location.origin);
  return u.pathname.replace(/^\/api\//, "") + u.search;
}

function setSession(data) {
  access = data.access_token || data.token;
  if (data.user) user = data.user;
  clearTimeout(refreshTimer);
  // Renewed a minute before it expires (never sooner than 10 s), so requests and the stream never see it lapse.
  const seconds = Math.max(10, (data.expires_in || 900) - 60);
  refreshTimer = setTimeout(() => refresh().then((ok) => ok || signedOut()), seconds * 1000);
  emit("token");
}

// One refresh at a time: the cookie's token is single-use (rotated), so two at once would lose.
// Another tab may have just rotated it: a 401 is retried once, with the cookie that tab received.
export function refresh() {
  if (!refreshing) {
    const attempt = () => send("POST", "auth/refresh", { cookie: true }, false);
    refreshing = attempt()
      .then((answer) => (answer.status === 401 ? new Promise((ok) => setTimeout(ok, 400)).then(attempt) : answer))
      .then(({ status, data }) => {
        if (status === 200 && data && data.success) {
          setSession(data);
          return true;
        }
        return false;
      })
      .finally(() => {
        refreshing = null;
      });
  }
  return refreshing;
}

// The session cannot be renewed (revoked elsewhere, expired): the app signs out.
export function sessionLost() {
  signedOut();
}

function signedOut() {
  const was = access !== null;
  access = null;
  user = null;
  clearTimeout(refreshTimer);
  if (was) emit("signout");
}

export async function restore() {
  if (!(await refresh())) return false;
  refreshUser().catch(() => {});
  return true;
}

// The user, or (two-factor sign-in on) `{ challenge }` for verifyTwoFactor: no session yet.
export async function signIn(identifier, password) {
  const data = await authCall("auth/login", { identifier, password, cookie: true });
  if (data.two_factor_required) return { challenge: data.challenge, expiresIn: data.expires_in };
  setSession(data);
  emit("signin");
  return data.user;
}

// The sign-in's second step: the challenge and `{ code }` or `{ recovery_code }`.
export async function verifyTwoFactor(challenge, codes) {
  const data = await authCall("auth/2fa/verify", { challenge, ...codes, cookie: true });
  setSession(data);
  emit("signin");
  return data.user;
}

// A request that needs no session (password reset); errors as api() throws them.
export const publicPost = (path, body) => authCall(path, body);

// A file from the API (the account export), for a download link; the token stays in memory.
export async function fetchFile(path) {
  const go = () => fetch(`/api/${path}`, { headers: { Authorization: `Bearer ${access}` }, credentials: "same-origin", cache: "no-store" });
  let response = await go();
  if (response.status === 401 && (await refresh())) response = await go();
  if (!response.ok) {
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    throw new ApiError(response.status, data);
  }
  const name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
  return { blob: await response.blob(), filename: name ? name[1] : "download" };
}

export async function register(fields) {
  const data = await authCall("auth/register", { ...fields, cookie: true });
  setSession(data);
  emit("signin");
  return data.user;
}

async function authCall(path, body) {
  const { status, data, headers } = await send("POST", path, body, false);
  if (status < 200 || status >= 300 || !data || !data.success) {
    const error = new ApiError(status, data);
    error.retryAfter = headers && headers.get("Retry-After");
    throw error;
  }
  return data;
}

export async function changePassword(oldPassword, newPassword) {
  const data = await post("auth/change-password", { old_password: oldPassword, new_password: newPassword, cookie: true });
  setSession(data);
  return data;
}

export function refreshUser() {
  userLoading = get("auth/me")
    .then((answer) => {
      user = answer.user;
      emit("user");
      return user;
    })
    .finally(() => {
      userLoading = null;
    });
  return userLoading;
}

export async function signOut() {
  try {
    await send("POST", "auth/logout", {});
  } finally {
    signedOut();
  }
}
