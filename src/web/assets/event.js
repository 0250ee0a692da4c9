// An event's page: its artwork and facts, every upcoming showtime grouped by date and then by
// venue, then what it is about and who is in it. Also the generated artwork the home page's
// cards use.

import { api } from "./api.js";
import { html, render } from "./template.js";
import { $, day, dayKey, isoDay, main, money, time } from "./ui.js";

// ---- artwork ---------------------------------------------------------------
// A poster drawn from the title alone: two colours from a hash of it, and its headline (the part
// before a colon or bracket) set large. Colours go in SVG attributes, which the page's
// Content-Security-Policy allows (it forbids inline styles).

function hash(text) {
  let h = 2166136261;
  for (const c of text) h = Math.imul(h ^ c.codePointAt(0), 16777619);
  return h >>> 0;
}

// Dark enough that white lettering on either colour reads at 4.5:1 or more.
const colour = (hue, light) => `hsl(${hue % 360}, 62%, ${light}%)`;

// The headline in lines of at most about `width` characters.
function lines(headline, width = 9) {
  const out = [];
  for (const word of headline.split(/\s+/).filter(Boolean)) {
    const last = out.length - 1;
    if (last >= 0 && out[last].length + 1 + word.length <= width) out[last] += ` ${word}`;
    else out.push(word);
  }
  return out.slice(0, 3);
}

let arts = 0;

// `event` has a title and a category; `label` makes the artwork an image with that name,
// otherwise it is decoration beside a title the page shows anyway.
export function artwork(event, label = "") {
  const h = hash(event.title);
  const hue = h % 360;
  const id = `art${++arts}`;
  const headline = event.title.split(/[:(]/)[0].trim() || event.title;
  const words = lines(headline);
  const longest = Math.max(...words.map((w) => w.length));
  const size = Math.min(80, Math.floor(430 / Math.max(longest, 3)));
  const top = 200 - ((words.length - 1) * size * 1.05) / 2;
  // Bold letters are about 0.62 em wide; a line that would not fit is squeezed to the width.
  const squeeze = html`textLength="264" lengthAdjust="spacingAndGlyphs"`;
  const fit = (w) => (w.length * size * 0.62 > 264 ? squeeze : "");
  const text = words.map(
    (w, i) => html`<text x="150" y="${Math.round(top + i * size * 1.05)}" font-size="${size}"
      text-anchor="middle" dominant-baseline="middle" fill="#fff" font-weight="800"
      font-family="system-ui, sans-serif" ${fit(w)}>${w}</text>`,
  );
  const ring = (h >> 9) % 3;
  const glyph = event.category === "concert" ? "♪" : "▶";
  const a11y = label
    ? html`role="img" aria-label="${label}"`
    : html`aria-hidden="true" focusable="false"`;
  return html`<svg class="art" viewBox="0 0 300 400" preserveAspectRatio="xMidYMid slice" ${a11y}>
    <defs><linearGradient id="${id}" x1="0" y1="0" x2="${(h >> 3) % 2}" y2="1">
      <stop offset="0" stop-color="${colour(hue, 30)}"></stop>
      <stop offset="1" stop-color="${colour(hue + 40 + ((h >> 12) % 140), 16)}"></stop>
    </linearGradient></defs>
    <rect width="300" height="400" fill="url(#${id})"></rect>
    <circle cx="${ring === 0 ? 40 : 260}" cy="${ring === 2 ? 330 : 70}" r="${90 + ((h >> 5) % 60)}"
      fill="#fff" fill-opacity="0.08"></circle>
    <circle cx="${ring === 1 ? 60 : 240}" cy="${ring === 1 ? 340 : 300}" r="${40 + ((h >> 7) % 40)}"
      fill="none" stroke="#fff" stroke-opacity="0.18" stroke-width="6"></circle>
    ${text}
    <text x="24" y="376" font-size="26" fill="#fff" fill-opacity="0.85"
      font-family="system-ui, sans-serif">${glyph}</text>
  </svg>`;
}

// ---- words -----------------------------------------------------------------
export const CATEGORY = { movie: "Movie", concert: "Concert" };

// "Today", "Tomorrow" or "Thu 26 Nov".
export function humanDay(iso) {
  const key = dayKey(iso);
  if (key === isoDay(0)) return "Today";
  if (key === isoDay(1)) return "Tomorrow";
  return day(iso);
}

// "Tomorrow, Thu 26 Nov" or "Sat 28 Nov".
const dayHeading = (iso) =>
  humanDay(iso) === day(iso) ? day(iso) : `${humanDay(iso)}, ${day(iso)}`;

// "2 h 30 min", "45 min".
export function duration(minutes) {
  if (!minutes) return "";
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return [h && `${h} h`, m && `${m} min`].filter(Boolean).join(" ");
}

// The lowest price among `shows` (all in one currency, as an event's shows are in practice).
export function fromPrice(shows) {
  const priced = shows.filter((s) => s.min_price != null);
  if (!priced.length) return null;
  const low = priced.reduce((a, b) => (Number(b.min_price) < Number(a.min_price) ? b : a));
  return money(low.min_price, low.currency);
}

// ---- the page --------------------------------------------------------------
// The shows a visitor can book: an organiser's own view also lists drafts and past shows.
const bookable = (shows) =>
  shows.filter(
    (s) => (s.status == null || s.status === "live") && Date.parse(s.start_time) > Date.now(),
  );

// Shows of one day, by venue (in order of each venue's first show), the venues of the city the
// visitor chose on the home page first.
function byVenue(shows) {
  const venues = new Map();
  for (const s of shows) {
    const key = `${s.venue_name}\n${s.city}`;
    if (!venues.has(key)) venues.set(key, []);
    venues.get(key).push(s);
  }
  const city = sessionStorage.getItem("bo.city") || "";
  const mine = (list) => (list[0].city === city ? 0 : 1);
  return [...venues.values()].sort((a, b) => mine(a) - mine(b));
}

// The link's name starts with what it shows ("6:30 pm from ₹250.00") and adds the day.
const showtime = (s) => {
  const price = s.min_price != null ? `from ${money(s.min_price, s.currency)}` : "";
  return html`<li><a class="time" href="#/show/${s.show_id}"
    aria-label="${[time(s.start_time), price].filter(Boolean).join(" ")}, ${day(s.start_time)}">
    <strong>${time(s.start_time)}</strong> <span>${price}</span></a></li>`;
};

const venueRow = (shows) => html`<li class="venue-times">
  <div class="where"><strong>${shows[0].venue_name}</strong>
    <span class="muted">${shows[0].city}</span></div>
  <ul class="times" aria-label="Showtimes at ${shows[0].venue_name}">${shows.map(showtime)}</ul>
</li>`;

function showtimes(days, chosen) {
  const strip = [...days.keys()].map(
    (key) => html`<button type="button" data-day="${key}" aria-pressed="${key === chosen}">
      ${day(days.get(key)[0].start_time)}</button>`,
  );
  const shows = days.get(chosen) ?? [];
  return html`<div class="chips date-strip" role="group" aria-label="Dates">${strip}</div>
    <h3 id="day-title">${dayHeading(shows[0].start_time)}</h3>
    <ul class="venues" aria-labelledby="day-title">${byVenue(shows).map(venueRow)}</ul>`;
}

export async function eventPage(page, id, sub) {
  const event = await api(`/api/v1/events/${encodeURIComponent(id)}`, { auth: false });
  document.title = `${event.title} — boxoffice`;
  const shows = bookable(event.shows ?? []);
  const days = new Map();
  for (const s of shows) {
    const key = dayKey(s.start_time);
    if (!days.has(key)) days.set(key, []);
    days.get(key).push(s);
  }
  const facts = [
    CATEGORY[event.category] ?? event.category,
    event.language,
    duration(event.duration_minutes),
  ].filter(Boolean);
  const price = fromPrice(shows);
  const cast = event.artists ?? [];
  render(
    main(),
    html`
    <p class="crumbs"><a href="#/">← All shows</a></p>
    <div class="event-head">
      <div class="poster">${artwork(event)}</div>
      <div class="about">
        <h1>${event.title}</h1>
        <ul class="facts" aria-label="About">${facts.map((f) => html`<li>${f}</li>`)}</ul>
        ${event.tags?.length > 0 &&
        html`<ul class="chips tags" aria-label="Tags">${event.tags.map(
          (t) => html`<li class="pill">${t}</li>`,
        )}</ul>`}
        ${price && html`<p>Tickets from <span class="price">${price}</span></p>`}
      </div>
    </div>
    <h2 id="showtimes">Showtimes</h2>
    <div id="times">${shows.length
      ? showtimes(days, days.has(sub) ? sub : days.keys().next().value)
      : html`<p class="muted">No upcoming shows for this event yet.</p>`}</div>
    ${event.description && html`<h2>About the ${event.category === "concert" ? "show" : "film"}</h2>
      <p class="blurb">${event.description}</p>`}
    ${cast.length > 0 &&
    html`<h2>${event.category === "concert" ? "Artists" : "Cast"}</h2>
      <ul class="cast">${cast.map(
        (name) =>
          html`<li><span class="face" aria-hidden="true">${initials(name)}</span>${name}</li>`,
      )}</ul>`}`,
  );
  page.on("click", "[data-day]", (e, button) => {
    render($("#times"), showtimes(days, button.dataset.day));
    $(`#times [data-day="${button.dataset.day}"]`)?.focus();
  });
}

// "AS" for Arijit Singh, "AR" for A. R. Rahman.
function initials(name) {
  const firsts = name.split(/\s+/).map((w) => w.match(/\p{L}/u)?.[0]).filter(Boolean);
  const picked = firsts.length > 2 ? [firsts[0], firsts[firsts.length - 1]] : firsts;
  return picked.join("").toUpperCase();
}
