// Small page helpers shared by every module: lookups, formatting, the toast, delegation.

import { STALE } from "./router.js";

export const $ = (sel, root = document) => root.querySelector(sel);
export const main = () => $("#main");

export const money = (v, cur) =>
  v == null ? "" : `${cur === "INR" ? "₹" : cur + " "}${Number(v).toLocaleString("en-IN")}`;

export const when = (iso) => `${iso.slice(0, 10)} ${iso.slice(11, 16)}`;

// Colours from the API are set through the CSSOM: the Content-Security-Policy allows no inline
// styles, so templates carry `data-colour` instead of a `style` attribute.
export const paint = (root) =>
  root.querySelectorAll("[data-colour]").forEach((el) => {
    el.style.setProperty("--c", el.dataset.colour);
  });

export const newKey = () =>
  crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2);

let toastTimer;
export function toast(message, ok = false) {
  if (message === STALE.message) return;
  const t = $("#toast");
  t.textContent = message;
  t.className = ok ? "ok" : "";
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (t.hidden = true), 6000);
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
