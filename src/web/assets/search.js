// Search as you type, under the home page's search box.

import { api, human } from "./api.js";
import { emptyUnlessStale } from "./router.js";
import { html, render } from "./template.js";
import { humanDay } from "./event.js";
import { $, time, toast } from "./ui.js";

// "Pushpa 2: The Rule · PVR: Phoenix Marketcity, Bangalore · Tomorrow, 6:30 pm".
const hit = (h) => html`<li role="option"><a href="#/show/${h.show_id}">${h.title} <span
  class="muted">· ${h.venue_name}, ${h.city} · ${humanDay(h.start_time)}, ${time(h.start_time)}</span>
  </a></li>`;

async function suggest(filters) {
  const text = $("#q").value;
  const box = $("#suggest");
  if (!text.trim()) {
    box.hidden = true;
    return;
  }
  const params = new URLSearchParams({ q: text, limit: "6" });
  if (filters.city) params.set("city", filters.city);
  if (filters.cat !== "all") params.set("cat", filters.cat);
  const hits = await api(`/api/v1/search?${params}`, { auth: false }).catch(emptyUnlessStale);
  const none = html`<li class="muted empty">No shows match “${text}”</li>`;
  render(box, hits.length ? html`${hits.map(hit)}` : none);
  box.hidden = false;
}

// Wires the box #q and its list #suggest (already on the page) for as long as `page` lasts.
export function searchBox(page, filters) {
  let timer;
  page.onLeave(() => clearTimeout(timer));
  page.on("input", "#q", () => {
    clearTimeout(timer);
    timer = setTimeout(() => suggest(filters).catch((e) => toast(human(e))), 120);
  });
  page.on("keydown", "#q", (e) => {
    if (e.key === "ArrowDown") $("#suggest a")?.focus();
    if (e.key === "Escape") $("#suggest").hidden = true;
  });
}
