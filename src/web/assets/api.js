// The JSON API: fetch with the session's tokens, errors in human words, and one token refresh
// at a time across every tab of this origin.

import { STALE, currentGeneration } from "./router.js";

// ---- session ---------------------------------------------------------------
const KEYS = ["bo.access", "bo.refresh", "bo.expires", "bo.user"];
const changes = new Set();
// `fn` runs when the visitor signs in or out here or in another tab.
export const onSessionChange = (fn) => changes.add(fn);
const changed = () => changes.forEach((fn) => fn());

export const session = {
  get access() {
    return localStorage.getItem("bo.access");
  },
  get refresh() {
    return localStorage.getItem("bo.refresh");
  },
  get user() {
    try {
      return JSON.parse(localStorage.getItem("bo.user") || "null");
    } catch {
      return null;
    }
  },
  save(tokens) {
    localStorage.setItem("bo.access", tokens.access_token);
    localStorage.setItem("bo.refresh", tokens.refresh_token);
    localStorage.setItem("bo.expires", String(Date.now() + tokens.expires_in * 1000));
    scheduleRefresh();
  },
  saveUser(user) {
    localStorage.setItem("bo.user", JSON.stringify(user));
    changed();
  },
  clear() {
    KEYS.forEach((k) => localStorage.removeItem(k));
    changed();
  },
};

let refreshTimer = null;
export function scheduleRefresh() {
  clearTimeout(refreshTimer);
  const expires = Number(localStorage.getItem("bo.expires") || 0);
  if (!session.refresh) return;
  // Refresh a minute before the 15-minute access token runs out.
  const wait = Math.max(1000, expires - Date.now() - 60_000);
  refreshTimer = setTimeout(refreshNow, wait);
}

// One refresh at a time across every tab of this origin: a tab that waited for the lock uses
// the token another tab stored meanwhile instead of spending it again. (The server also
// answers a just-spent token with the same successor, so a race without locks is harmless.)
export async function refreshNow() {
  const presented = session.refresh;
  if (!presented) return false;
  const refreshed = () => session.refresh && session.refresh !== presented;
  const run = async () => {
    if (refreshed()) {
      scheduleRefresh();
      return true;
    }
    const res = await fetch("/api/v1/auth/refresh_token", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ refresh_token: presented }),
    });
    if (res.ok) {
      session.save(await res.json());
      return true;
    }
    if (refreshed()) {
      scheduleRefresh();
      return true;
    }
    session.clear();
    return false;
  };
  return navigator.locks ? navigator.locks.request("boxoffice-refresh", run) : run();
}

// Another tab signed in, refreshed or signed out: follow it.
window.addEventListener("storage", (e) => {
  if (e.key === null || e.key === "bo.refresh" || e.key === "bo.expires") scheduleRefresh();
  if (e.key === null || e.key === "bo.user" || (e.key === "bo.refresh" && !e.newValue)) {
    changed();
  }
});

// ---- requests --------------------------------------------------------------
export class ApiError extends Error {
  constructor(body, status) {
    super(body?.message || `Request failed (${status})`);
    this.body = body;
    this.status = status;
  }
}

const encode = (body) => (body === undefined ? undefined : JSON.stringify(body));

// How far the visitor's clock is from the server's, from the answers' `Date` headers (whole
// seconds, so only a gap of more than 2 s counts): a hold's countdown is the server's time.
let skew = 0;
function noteServerTime(res) {
  const at = Date.parse(res.headers.get("date") || "");
  if (Number.isNaN(at)) return;
  const gap = at - Date.now();
  skew = Math.abs(gap) > 2000 ? gap : 0;
}
export const serverNow = () => Date.now() + skew;

// A GET that finishes after the visitor has moved to another page throws STALE.
export async function api(path, { method = "GET", body, headers = {}, auth = true } = {}) {
  const gen = currentGeneration();
  const h = { ...headers };
  if (body !== undefined) h["content-type"] = "application/json";
  if (auth && session.access) h.authorization = `Bearer ${session.access}`;
  // Revalidate cached catalog answers (cheap 304s thanks to ETags): never show stale data.
  let res = await fetch(path, { method, headers: h, cache: "no-cache", body: encode(body) });
  if (res.status === 401 && auth && session.refresh) {
    // A newer access token (another tab refreshed meanwhile) is simply used; else refresh.
    const fresh = h.authorization !== `Bearer ${session.access}` || (await refreshNow());
    if (fresh) {
      h.authorization = `Bearer ${session.access}`;
      res = await fetch(path, { method, headers: h, body: encode(body) });
    }
  }
  noteServerTime(res);
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) throw new ApiError(data, res.status);
  if (method === "GET" && gen !== currentGeneration()) throw STALE;
  return data;
}

// An image the API serves only to the signed-in visitor, as an object URL ("" if refused).
export async function imageUrl(path) {
  const res = await fetch(path, { headers: { authorization: `Bearer ${session.access}` } });
  return res.ok ? URL.createObjectURL(await res.blob()) : "";
}

export const human = (e) =>
  e === STALE
    ? STALE.message
    : e instanceof ApiError
      ? e.message
      : "Something went wrong; please try again.";
