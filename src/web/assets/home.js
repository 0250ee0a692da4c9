// The home page: what's on, one card per event, narrowed by category, city, date and language,
// and search as you type.

import { api, human } from "./api.js";
import { CATEGORY, artwork, fromPrice, humanDay } from "./event.js";
import { emptyUnlessStale } from "./router.js";
import { searchBox } from "./search.js";
import { html, render } from "./template.js";
import { $, isoDay, main, time, toast } from "./ui.js";

// Kept across visits to the home page.
const filters = { cat: "all", city: "", when: "any", date: "", language: "" };
const CATEGORIES = { all: "All", movie: "Movies", concert: "Concerts" };
const WHEN = { any: "Any date", today: "Today", tomorrow: "Tomorrow", weekend: "This weekend" };
// Pages of the show list read at most, 100 shows each.
const PAGES = 5;

// The `from`/`to` days (venue-local calendar dates) of the date filter.
function dates() {
  if (filters.date) return [filters.date, filters.date];
  if (filters.when === "today") return [isoDay(0), isoDay(0)];
  if (filters.when === "tomorrow") return [isoDay(1), isoDay(1)];
  if (filters.when === "weekend") {
    // Saturday and Sunday of this week; on a Sunday, just today.
    const weekday = new Date().getDay();
    const saturday = weekday === 0 ? -1 : 6 - weekday;
    return [isoDay(Math.max(saturday, 0)), isoDay(saturday + 1)];
  }
  return [];
}

async function shows() {
  const params = new URLSearchParams({ cat: filters.cat, per_page: "100" });
  if (filters.city) params.set("city", filters.city);
  const [from, to] = dates();
  if (from) params.set("from", from);
  if (to) params.set("to", to);
  const all = [];
  for (let page = 1; page <= PAGES; page++) {
    params.set("page", String(page));
    const batch = await api(`/api/v1/shows?${params}`, { auth: false });
    all.push(...batch);
    if (batch.length < 100) break;
  }
  return all;
}

// Shows by event, in order of each event's next show.
function events(list) {
  const byEvent = new Map();
  for (const s of list) {
    if (!byEvent.has(s.event_id)) byEvent.set(s.event_id, []);
    byEvent.get(s.event_id).push(s);
  }
  return [...byEvent.values()];
}

// "PVR: Phoenix Marketcity, Bangalore", "2 venues in Bangalore", "3 venues in 2 cities".
function where(shows) {
  const venues = new Set(shows.map((s) => `${s.venue_name}\n${s.city}`));
  const cities = new Set(shows.map((s) => s.city));
  if (venues.size === 1) return `${shows[0].venue_name}, ${shows[0].city}`;
  if (cities.size === 1) return `${venues.size} venues in ${shows[0].city}`;
  return `${venues.size} venues in ${cities.size} cities`;
}

const card = (shows) => {
  const first = shows[0];
  const price = fromPrice(shows);
  const facts = [CATEGORY[first.category] ?? first.category, first.language].filter(Boolean);
  const count = shows.length === 1 ? "1 show" : `${shows.length} shows`;
  return html`<li class="card event-card">${artwork(first)}
    <div class="body">
      <a class="title" href="#/event/${first.event_id}">${first.title}</a>
      <span class="muted small">${facts.join(" · ")}</span>
      <span class="small">${where(shows)}</span>
      <span class="small"><span class="next">${humanDay(first.start_time)},
        ${time(first.start_time)}</span>
        <span class="muted">· ${count}</span></span>
      ${price && html`<span class="small">from <span class="price">${price}</span></span>`}
    </div></li>`;
};

function languageOptions(list) {
  const present = new Set(list.map((s) => s.language).filter(Boolean));
  if (filters.language) present.add(filters.language);
  const options = [...present].sort().map(
    (l) => html`<option ${l === filters.language && "selected"}>${l}</option>`,
  );
  render($("#lang"), html`<option value="">All languages</option>${options}`);
}

// Draws the list for the current filters; a slower earlier read never paints over a later one.
let latest = 0;
async function list() {
  const mine = ++latest;
  const all = await shows();
  if (mine !== latest) return;
  languageOptions(all);
  const chosen = filters.language ? all.filter((s) => s.language === filters.language) : all;
  const groups = events(chosen);
  const total = html`${groups.length} ${groups.length === 1 ? "event" : "events"}`;
  render($("#count"), groups.length ? total : html``);
  const empty = html`<li class="muted empty">Nothing on for these choices. Try another date or
    <button type="button" class="link" id="reset">show everything</button>.</li>`;
  render($("#list"), groups.length ? html`${groups.map(card)}` : empty);
}

const pressed = (group, value) =>
  main()
    .querySelectorAll(`[data-${group}]`)
    .forEach((b) => b.setAttribute("aria-pressed", b.dataset[group] === value));

const relist = () => list().catch((e) => toast(human(e)));

export async function homePage(page) {
  document.title = "boxoffice — movies and concerts";
  const chips = (table, group, current) =>
    Object.entries(table).map(
      ([value, label]) =>
        html`<button type="button" data-${group}="${value}"
          aria-pressed="${current === value}">${label}</button>`,
    );
  render(
    main(),
    html`
    <h1>What's on</h1>
    <div class="finder">
      <div class="search"><label for="q">Search movies, concerts, artists, venues</label>
        <input id="q" type="search" autocomplete="off" placeholder="Try “pushpa” or “arijit”"
          aria-controls="suggest">
        <ul id="suggest" class="suggest" role="listbox" hidden></ul></div>
      <div class="f-city"><label for="city">City</label>
        <select id="city"><option value="">All cities</option></select></div>
      <div class="f-date"><label for="date">Date</label>
        <input id="date" type="date" min="${isoDay(0)}" value="${filters.date}"></div>
      <div class="f-lang"><label for="lang">Language</label>
        <select id="lang"><option value="">All languages</option></select></div>
    </div>
    <div class="filters">
      <div class="chips" role="group" aria-label="Category">${chips(
        CATEGORIES,
        "cat",
        filters.cat,
      )}</div>
      <div class="chips" role="group" aria-label="When">${chips(
        WHEN,
        "when",
        filters.date ? "" : filters.when,
      )}</div>
    </div>
    <p class="muted small" id="count" aria-live="polite"></p>
    <ul class="cards events" id="list" aria-label="Events"></ul>`,
  );
  const venues = await api("/api/v1/venues", { auth: false }).catch(emptyUnlessStale);
  const cities = [...new Set(venues.map((v) => v.city))].sort();
  const options = cities.map(
    (c) => html`<option ${c === filters.city && "selected"}>${c}</option>`,
  );
  render($("#city"), html`<option value="">All cities</option>${options}`);
  page.on("change", "#city", (e) => {
    filters.city = e.target.value;
    sessionStorage.setItem("bo.city", filters.city);
    relist();
  });
  page.on("change", "#lang", (e) => {
    filters.language = e.target.value;
    relist();
  });
  page.on("change", "#date", (e) => {
    filters.date = e.target.value;
    filters.when = filters.date ? "" : "any";
    pressed("when", filters.when);
    relist();
  });
  page.on("click", "[data-cat]", (e, button) => {
    filters.cat = button.dataset.cat;
    pressed("cat", filters.cat);
    relist();
  });
  page.on("click", "[data-when]", (e, button) => {
    filters.when = button.dataset.when;
    filters.date = "";
    $("#date").value = "";
    pressed("when", filters.when);
    relist();
  });
  page.on("click", "#reset", () => {
    Object.assign(filters, { cat: "all", city: "", when: "any", date: "", language: "" });
    $("#city").value = "";
    $("#date").value = "";
    pressed("cat", "all");
    pressed("when", "any");
    relist();
  });
  searchBox(page, filters);
  await list();
}
