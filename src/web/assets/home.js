// The home page: browse upcoming shows by city and category, and search.

import { api } from "./api.js";
import { emptyUnlessStale } from "./router.js";
import { searchBox } from "./search.js";
import { html, render } from "./template.js";
import { $, main, money, when } from "./ui.js";

// Kept across visits to the home page.
const filters = { cat: "all", city: "" };
const CATEGORIES = { all: "All", movie: "Movies", concert: "Concerts" };

const card = (s) => html`
    <li class="card"><span class="pill">${s.category}</span>
      <a class="title" href="#/show/${s.show_id}">${s.title}</a>
      <span>${s.venue_name}, ${s.city}</span>
      <span class="muted">${when(s.start_time)}</span>
      <span>from <span class="price">${money(s.min_price, s.currency)}</span></span></li>`;

async function list() {
  const params = new URLSearchParams({ cat: filters.cat, per_page: "60" });
  if (filters.city) params.set("city", filters.city);
  const shows = await api(`/api/v1/shows?${params}`, { auth: false });
  const empty = html`<li class="muted">No upcoming shows here yet.</li>`;
  render($("#list"), shows.length ? html`${shows.map(card)}` : empty);
}

export async function homePage(page) {
  const tabs = Object.entries(CATEGORIES).map(
    ([cat, label]) =>
      html`<button data-cat="${cat}" aria-pressed="${filters.cat === cat}">${label}</button>`,
  );
  render(
    main(),
    html`
    <h1>What's on</h1>
    <div class="row">
      <div class="search"><label for="q">Search movies, concerts, artists, venues</label>
        <input id="q" type="search" autocomplete="off" placeholder="Try “pushpa” or “arijit”"
          aria-controls="suggest">
        <ul id="suggest" class="suggest" role="listbox" hidden></ul></div>
      <div><label for="city">City</label>
        <select id="city"><option value="">All cities</option></select></div>
    </div>
    <div class="tabs row spaced" role="group" aria-label="Category">${tabs}</div>
    <ul class="cards" id="list" aria-label="Shows"></ul>`,
  );
  const venues = await api("/api/v1/venues", { auth: false }).catch(emptyUnlessStale);
  const cities = [...new Set(venues.map((v) => v.city))].sort();
  const options = cities.map(
    (c) => html`<option ${c === filters.city && "selected"}>${c}</option>`,
  );
  render($("#city"), html`<option value="">All cities</option>${options}`);
  page.on("change", "#city", (e) => {
    filters.city = e.target.value;
    list();
  });
  page.on("click", "[data-cat]", (e, button) => {
    filters.cat = button.dataset.cat;
    main()
      .querySelectorAll("[data-cat]")
      .forEach((b) => b.setAttribute("aria-pressed", b === button));
    list();
  });
  searchBox(page, filters);
  await list();
}
