// Hash routes to page modules. Every navigation starts a new generation: a page read that
// finishes after the visitor has moved on must not paint over the page they are now looking
// at, and its errors are ignored. Each page gets a `page` handle whose listeners, timers and
// cleanups end when the visitor leaves it.

import { html, render } from "./template.js";
import { clearMessage, showFlash } from "./ui.js";

export const STALE = new Error("navigated away");

let generation = 0;
export const currentGeneration = () => generation;

// For reads whose failure shows as "nothing": a page that was left still stops there.
export const emptyUnlessStale = (e) => {
  if (e === STALE) throw e;
  return [];
};

// The same for a read whose failure shows as nothing at all.
export const nullUnlessStale = (e) => {
  if (e === STALE) throw e;
  return null;
};

let routes = {};
let describe = String;
let leaving = new AbortController();
let lastRoute = null;
// Redrawing the page the visitor is on (after cancelling a booking, say) keeps the scroll.
const sameRoute = (name, id) => lastRoute === `${name}/${id}`;

const mainEl = () => document.getElementById("main");

// What a page module may do while it is on screen.
function pageHandle(signal) {
  return {
    signal,
    // A delegated listener on #main, for as long as this page is the current one. It
    // listens in the capture phase, so events that do not bubble (a script's
    // `new Event("change")`, say) reach it too.
    on(type, selector, handler) {
      mainEl().addEventListener(
        type,
        (e) => {
          const el = e.target.closest?.(selector);
          if (el) handler(e, el);
        },
        { signal, capture: true },
      );
    },
    // Runs when the visitor leaves (at once if they already have).
    onLeave(fn) {
      if (signal.aborted) fn();
      else signal.addEventListener("abort", fn, { once: true });
    },
    every(ms, fn) {
      const timer = setInterval(fn, ms);
      this.onLeave(() => clearInterval(timer));
      return timer;
    },
  };
}

export async function route() {
  leaving.abort();
  leaving = new AbortController();
  const page = pageHandle(leaving.signal);
  const gen = ++generation;
  const [, name = "", id, sub] = location.hash.split("/");
  const show = Object.hasOwn(routes, name) ? routes[name] : null;
  // A new page starts at its top, without the last page's messages.
  clearMessage();
  if (!sameRoute(name, id)) window.scrollTo(0, 0);
  lastRoute = `${name}/${id}`;
  showFlash();
  try {
    if (!show) {
      render(mainEl(), html`<h1>Not found</h1><p><a href="#/">Back to shows</a></p>`);
      return;
    }
    await show(page, id, sub);
  } catch (e) {
    if (e === STALE || gen !== generation) return; // a newer page owns the screen now
    render(
      mainEl(),
      html`<h1>Sorry</h1><p>${describe(e)}</p><p><a href="#/">Back to shows</a></p>`,
    );
  }
}

// `table` maps the first part of the hash (`#/show/7` → "show") to `async (page, id, sub)`;
// `explain` turns an error into words for the visitor.
export function start(table, explain) {
  routes = table;
  describe = explain;
  window.addEventListener("hashchange", route);
  return route();
}
