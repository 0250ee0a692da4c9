// Small page helpers shared by every module: lookups, formatting, messages, delegation.

import { STALE } from "./router.js";

export const $ = (sel, root = document) => root.querySelector(sel);
export const main = () => $("#main");

// ---- money -----------------------------------------------------------------
const formats = new Map();
// "₹1,250.00", "US$ 12.50": always two decimals, grouped the way the currency's people read it.
export function money(v, cur = "INR") {
  if (v == null || v === "") return "";
  if (!formats.has(cur)) {
    let f;
    try {
      f = new Intl.NumberFormat(cur === "INR" ? "en-IN" : "en", {
        style: "currency",
        currency: cur,
        minimumFractionDigits: 2,
        maximumFractionDigits: 2,
      });
    } catch {
      f = { format: (n) => `${cur} ${n.toFixed(2)}` };
    }
    formats.set(cur, f);
  }
  return formats.get(cur).format(Number(v));
}

// ---- dates -----------------------------------------------------------------
// Times from the API are written in the venue's own offset ("2026-11-26T18:30:00+05:30"), so
// the wall-clock part is the venue's time: it is read as written, never converted to the
// visitor's zone.
const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

function parts(iso) {
  const [y, m, d] = iso.slice(0, 10).split("-").map(Number);
  const [hh, mm] = iso.slice(11, 16).split(":").map(Number);
  return { y, m, d, hh, mm, weekday: new Date(Date.UTC(y, m - 1, d)).getUTCDay() };
}

// "2026-11-26": the venue's calendar day, for grouping.
export const dayKey = (iso) => iso.slice(0, 10);

// "Thu 26 Nov" (with the year when it is not this year).
export function day(iso) {
  const p = parts(iso);
  const year = p.y !== new Date().getFullYear() ? ` ${p.y}` : "";
  return `${DAYS[p.weekday]} ${p.d} ${MONTHS[p.m - 1]}${year}`;
}

// "6:30 pm".
export function time(iso) {
  const p = parts(iso);
  const h = p.hh % 12 || 12;
  return `${h}:${String(p.mm).padStart(2, "0")} ${p.hh < 12 ? "am" : "pm"}`;
}

// "Thu 26 Nov, 6:30 pm".
export const when = (iso) => (iso ? `${day(iso)}, ${time(iso)}` : "");

// An instant (a Date or an ISO string) on the visitor's own clock: "6:42 pm".
export const clock = (at) =>
  new Date(at).toLocaleTimeString([], { hour: "numeric", minute: "2-digit" }).toLowerCase();

// Today's date in the visitor's zone, as "YYYY-MM-DD", `plus` days on.
export function isoDay(plus = 0) {
  const d = new Date();
  d.setDate(d.getDate() + plus);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

// ---- colours ---------------------------------------------------------------
// Colours from the API are set through the CSSOM: the Content-Security-Policy allows no inline
// styles, so templates carry `data-colour` instead of a `style` attribute.
export const paint = (root) =>
  root.querySelectorAll("[data-colour]").forEach((el) => {
    el.style.setProperty("--c", el.dataset.colour);
  });

export const newKey = () =>
  crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2);

// ---- messages --------------------------------------------------------------
// A message belongs to the page it was said on: it shows at the top of that page, and goes
// when the visitor navigates, signs in or out (the router and the session clear it). Errors
// stay until then; good news fades after a while.
let fade;
export function toast(message, ok = false) {
  if (message === STALE.message) return;
  const box = $("#msg");
  if (!box) return;
  clearTimeout(fade);
  box.className = ok ? "msg ok" : "msg";
  box.hidden = false;
  box.textContent = "";
  const text = document.createElement("span");
  text.textContent = message;
  const close = document.createElement("button");
  close.type = "button";
  close.className = "close";
  close.setAttribute("aria-label", "Dismiss message");
  close.textContent = "×";
  close.addEventListener("click", clearMessage);
  box.append(text, close);
  if (ok) fade = setTimeout(clearMessage, 8000);
}

export function clearMessage() {
  clearTimeout(fade);
  const box = $("#msg");
  if (box) {
    box.hidden = true;
    box.textContent = "";
  }
}

// A message for the next page this visitor sees (after a navigation this code starts).
const FLASH = "bo.flash";
export function flash(message, ok = false) {
  const user = JSON.parse(localStorage.getItem("bo.user") || "null")?.user_id ?? null;
  sessionStorage.setItem(FLASH, JSON.stringify({ message, ok, user }));
}

// Shows the waiting flash, if it was said to the visitor now signed in.
export function showFlash() {
  const raw = sessionStorage.getItem(FLASH);
  if (!raw) return;
  sessionStorage.removeItem(FLASH);
  try {
    const f = JSON.parse(raw);
    const user = JSON.parse(localStorage.getItem("bo.user") || "null")?.user_id ?? null;
    if (f.user === user) toast(f.message, f.ok);
  } catch {}
}

// One listener on `root` for every element matching `selector` inside it, now or later.
export function delegate(root, type, selector, handler, options) {
  root.addEventListener(
    type,
    (e) => {
      const el = e.target.closest?.(selector);
      if (el && root.contains(el)) handler(e, el);
    },
    options,
  );
}
