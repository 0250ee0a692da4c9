// Organisers: their events with each show's sales, a new event, a show with its prices, the
// launch, and one show's sales page with its waiting room.

import { api, human, session } from "./api.js";
import { html, render } from "./template.js";
import { aboutWait } from "./queue.js";
import { $, clearMessage, flash, main, money, paint, toast, when } from "./ui.js";

const CATEGORY = { movie: "Movie", concert: "Concert" };
const STATUS = { draft: "Draft", live: "On sale", completed: "Over", cancelled: "Cancelled" };

// ---- my events -------------------------------------------------------------------------
const count = (n) => Number(n).toLocaleString("en-IN");

function showItem(s) {
  const pct = s.seat_count ? Math.round((100 * s.seats_sold) / s.seat_count) : 0;
  return html`<li class="own-show">
    <div class="own-when"><a href="#/organiser/${s.show_id}"><strong>${when(s.start_time)}</strong></a>
      <span class="muted">${s.venue_name}, ${s.city}</span></div>
    <span class="pill ${s.status}">${STATUS[s.status] || s.status}</span>
    <div class="own-sales"><progress max="${s.seat_count || 1}" value="${s.seats_sold}"
      aria-label="Seats sold"></progress>
      <span class="small">${count(s.seats_sold)} of ${count(s.seat_count)} sold (${pct}%)
      ${s.seats_sold > 0 && html`· <span class="price">${money(s.revenue, s.currency)}</span>`}</span></div>
    <div class="own-actions">${s.status === "draft" && html`<button type="button" class="small"
      data-launch="${s.show_id}">Launch</button>`}<a class="btn small secondary"
      href="#/organiser/${s.show_id}">Sales</a></div></li>`;
}

function eventItem(ev) {
  const shows = ev.shows.length;
  return html`<li class="panel own-event"><div class="own-head"><h3>${ev.title}</h3>
    <p class="own-meta"><span class="pill">${CATEGORY[ev.category] || ev.category}</span>
    <span class="muted small">${shows ? `${shows} ${shows === 1 ? "show" : "shows"}` : "no shows yet"}</span></p>
    <button type="button" class="small secondary" data-add-show="${ev.event_id}">Add a show</button></div>
    ${shows > 0 && html`<ul class="own-shows">${ev.shows.map(showItem)}</ul>`}</li>`;
}

const eventList = (events) =>
  events.length
    ? html`<ul class="own-events">${events.map(eventItem)}</ul>`
    : html`<p class="panel">No events yet. Create your first one below, then add its shows.</p>`;

// ---- forms ----------------------------------------------------------------------------
const venueOption = (v) =>
  html`<option value="${v.venue_id}">${v.name} (${v.city}, ${count(v.seat_count)} seats)</option>`;

const eventOption = (ev, chosen) =>
  html`<option value="${ev.event_id}" ${ev.event_id === chosen && "selected"}>${ev.title}</option>`;

const priceInput = (s, i) => html`<div><label for="p-${i}"><span class="swatch"
  data-colour="${s.colour}"></span> ${s.name}: price (₹)</label><input id="p-${i}"
  data-section="${s.name}" type="number" min="0" step="0.01" inputmode="decimal" required></div>`;

const venueCache = new Map();
async function priceInputs() {
  const id = $("#venue").value;
  if (!venueCache.has(id)) {
    const read = api(`/api/v1/venues/${id}`, { auth: false });
    read.catch(() => venueCache.delete(id)); // a failed read is tried again next time
    venueCache.set(id, read);
  }
  const v = await venueCache.get(id);
  if ($("#venue")?.value !== id) return; // another venue was chosen meanwhile
  render($("#prices"), html`<div class="row">${v.sections.map(priceInput)}</div>`);
  paint($("#prices"));
}

// Field paths of the show API in words, for its 400 answers.
const SHOW_FIELDS = {
  start_time: "Start",
  end_time: "End",
  venue_id: "Venue",
  currency: "Currency",
};

function showError(err) {
  const field = err?.body?.details?.field;
  if (!field) return human(err);
  if (field === "prices") {
    const missing = err.body.details.missing_sections || [];
    return `Give every section a price${missing.length ? `: ${missing.join(", ")} has none` : ""}.`;
  }
  if (field === "start_time" && /future/.test(err.body.message)) {
    return "The show must start in the future.";
  }
  if (field === "end_time" && /after/.test(err.body.message)) {
    return "The show must end after it starts.";
  }
  if (field === "end_time" && /24 hours/.test(err.body.message)) {
    return "A show lasts at most 24 hours.";
  }
  const price = /^prices\[(\d+)\]/.exec(field);
  if (price) {
    const input = main().querySelectorAll("#prices [data-section]")[Number(price[1])];
    return `${input ? input.dataset.section : "A section"}: enter a price such as 450 or 249.50.`;
  }
  const name = SHOW_FIELDS[field];
  return name ? `${name}: ${err.body.message}` : human(err);
}

// What is wrong with the show form before asking the server, or "" (whether the start is
// in the future is the server's call: it knows the venue's time zone).
function checkShow(start, end, prices) {
  if (!start || !end) return "Choose when the show starts and ends.";
  if (end <= start) return "The show must end after it starts.";
  const bad = prices.find((p) => !(p.price >= 0) || p.raw === "");
  return bad ? `${bad.section}: enter a price such as 450 or 249.50.` : "";
}

async function launch(showId) {
  try {
    await api(`/api/v1/shows/${showId}/launch`, { method: "POST", body: {} });
    flash("Show launched: it is on sale.", true);
    location.hash = `#/organiser/${showId}`;
  } catch (err) {
    toast(human(err));
  }
}

export async function organiserPage(page, id) {
  if (!session.access) {
    location.hash = "#/login";
    return;
  }
  if (id) return salesPage(page, Number(id));
  document.title = "My events — boxoffice";
  const [events, venues] = await Promise.all([
    api("/api/v1/events?mine=true"),
    api("/api/v1/venues"),
  ]);
  let mine = events;
  let chosen = mine[0]?.event_id;
  render(
    main(),
    html`<div class="own-top"><h1>My events</h1><div class="row own-jump">
      <button type="button" class="secondary" data-jump="#ev">New event</button>
      <button type="button" class="secondary" data-jump="#sh">Add a show</button></div></div>
    <div id="events">${eventList(mine)}</div>
    <form class="panel" id="ev" aria-labelledby="ev-title"><h2 id="ev-title">New event</h2>
      <div class="row">
      <div><label for="title">Title</label><input id="title" required maxlength="200"></div>
      <div><label for="cat">Category</label><select id="cat"><option value="movie">Movie</option>
        <option value="concert">Concert</option></select></div></div>
      <label for="desc">Description</label><textarea id="desc" rows="2" maxlength="5000"></textarea>
      <p><button type="submit">Create event</button></p></form>
    <form class="panel" id="sh" aria-labelledby="sh-title"><h2 id="sh-title">Add a show</h2>
      <div class="row">
      <div><label for="event">Event</label><select id="event" required></select></div>
      <div><label for="venue">Venue</label>
        <select id="venue" required>${venues.map(venueOption)}</select></div>
      <div><label for="start">Starts (venue's local time)</label>
        <input id="start" type="datetime-local" required></div>
      <div><label for="end">Ends</label><input id="end" type="datetime-local" required></div>
      </div>
      <div id="prices"></div>
      <p class="muted small">A new show is a draft: nobody sees it until you launch it.</p>
      <p><button type="submit">Create draft show</button></p></form>
    <div id="made" aria-live="polite"></div>`,
  );
  const options = () => {
    const select = $("#event");
    render(
      select,
      mine.length
        ? html`${mine.map((ev) => eventOption(ev, chosen))}`
        : html`<option value="">Create an event first</option>`,
    );
  };
  const reload = async () => {
    mine = await api("/api/v1/events?mine=true");
    render($("#events"), eventList(mine));
    options();
  };
  options();
  page.on("click", "[data-jump]", (e, button) => {
    const form = $(button.dataset.jump);
    form.scrollIntoView({ behavior: "smooth", block: "start" });
    form.querySelector("input, select").focus({ preventScroll: true });
  });
  page.on("click", "[data-add-show]", (e, button) => {
    chosen = Number(button.dataset.addShow);
    options();
    $("#sh").scrollIntoView({ behavior: "smooth", block: "start" });
    $("#venue").focus({ preventScroll: true });
  });
  page.on("click", "[data-launch]", (e, button) => launch(Number(button.dataset.launch)));
  page.on("change", "#event", () => {
    chosen = Number($("#event").value);
  });
  page.on("change", "#venue", () => priceInputs().catch((err) => toast(human(err))));
  page.on("submit", "#ev", async (e) => {
    e.preventDefault();
    const body = {
      title: $("#title").value.trim(),
      category: $("#cat").value,
      description: $("#desc").value,
    };
    if (!body.title) {
      toast("Give the event a title.");
      return;
    }
    try {
      const ev = await api("/api/v1/events", { method: "POST", body });
      chosen = ev.event_id;
      $("#ev").reset();
      await reload();
      toast(`Event “${ev.title}” created. Now add its first show.`, true);
      $("#venue").focus();
    } catch (err) {
      toast(human(err));
    }
  });
  page.on("submit", "#sh", async (e) => {
    e.preventDefault();
    const prices = [...main().querySelectorAll("#prices [data-section]")].map((i) => ({
      section: i.dataset.section,
      price: Number(i.value),
      raw: i.value,
    }));
    const start = $("#start").value;
    const end = $("#end").value;
    const problem = !$("#event").value ? "Create an event first." : checkShow(start, end, prices);
    if (problem) {
      toast(problem);
      return;
    }
    const body = {
      venue_id: Number($("#venue").value),
      start_time: start,
      end_time: end,
      currency: "INR",
      prices: prices.map(({ section, price }) => ({ section, price })),
    };
    const event = mine.find((ev) => ev.event_id === Number($("#event").value));
    try {
      const show = await api(`/api/v1/events/${event.event_id}/shows`, { method: "POST", body });
      await reload();
      clearMessage(); // whatever went wrong before is behind the organiser now
      render(
        $("#made"),
        html`<div class="panel made"><p>Draft show of <strong>${event.title}</strong> created:
          ${when(show.start_time)} at ${show.venue_name}. Launch it to put its seats on sale.</p>
          <p class="row"><button id="launch" data-show="${show.show_id}">Launch show</button>
          <a class="btn secondary" href="#/organiser/${show.show_id}">Sales page</a></p></div>`,
      );
      $("#made").scrollIntoView({ behavior: "smooth", block: "nearest" });
    } catch (err) {
      toast(showError(err));
    }
  });
  page.on("click", "#launch", (e, button) => launch(Number(button.dataset.show)));
  if (venues.length) await priceInputs();
}

// ---- one show's sales ------------------------------------------------------------------
const n = (v) => Number(v).toLocaleString("en-IN");
const salesRow = (x, cur) => html`<tr><td>${x.name}</td><td class="num">${money(x.price, cur)}</td>
  <td class="num">${n(x.sold)}</td><td class="num">${n(x.held)}</td><td class="num">${
  n(x.available)}</td></tr>`;

// The waiting room's settings: admission rate, opening (venue time) and pass length.
const roomSettings = (q, tz) => html`<form id="room-form" class="gap-top">
  <div class="row">
    <div><label for="room-rate">Admit per minute</label><input id="room-rate" type="number"
      min="1" max="1000000" required value="${q.admit_per_minute}"></div>
    <div><label for="room-opens">Opens at (${tz}; empty: open now)</label><input
      id="room-opens" type="datetime-local" value="${q.opens_at ? q.opens_at.slice(0, 16) : ""}">
    </div>
    <div><label for="room-pass">Minutes to book once admitted</label><input id="room-pass"
      type="number" min="1" max="240" required value="${q.pass_minutes}"></div>
  </div>
  <p><button type="submit">Save waiting room</button></p></form>`;

const figure = (label, value) => html`<div class="figure"><span class="muted small">${label}</span>
  <strong>${value}</strong></div>`;

function roomFigures(f) {
  const opening = f.open
    ? html`Open: admitting in the order people joined.`
    : f.opens_at
      ? html`Opens at ${when(f.opens_at)}: joins until then are drawn at random at opening.`
      : html`Opens with the first visitor.`;
  return html`<p>${opening}</p><div class="figures">
    ${figure("Waiting", f.waiting.toLocaleString())}
    ${figure("Admitted", f.admitted.toLocaleString())}
    ${figure("Joined", f.joined.toLocaleString())}
    ${figure("Admission rate", `${f.admit_per_minute.toLocaleString()} a minute`)}
    ${figure("Time to drain", f.waiting ? aboutWait(f.estimated_drain_seconds) : "nobody waiting")}
  </div><p class="muted small">Seed fingerprint (SHA-256):
    <code class="hash">${f.fairness.seed_sha256}</code></p>`;
}

async function salesPage(page, showId) {
  const act = async (path, body) => {
    try {
      await api(`/api/v1/shows/${showId}${path}`, body);
      return true;
    } catch (e) {
      toast(human(e));
      return false;
    }
  };
  // The sales table is redrawn every few seconds; the waiting room's form only when the
  // organiser changes it, so what they are typing is never replaced.
  let show = await api(`/api/v1/shows/${showId}`);
  document.title = `Sales: ${show.title} — boxoffice`;
  render(
    main(),
    html`<p><a href="#/organiser">← My events</a></p>
    <h1>Sales: ${show.title}</h1><div id="sales"></div>
    <section class="panel" aria-labelledby="room-title"><h2 id="room-title">Waiting room</h2>
      <label><input type="checkbox" id="queue" ${show.queue.enabled && "checked"}> Waiting
        room: let fans in a few at a time</label>
      <div id="room-settings"></div>
      <div id="room-figures" aria-live="off"></div></section>`,
  );
  const sales = (s) => {
    const revenue = s.sections.reduce((a, x) => a + x.sold * Number(x.price), 0);
    const cancellable = s.status === "live" || s.status === "draft";
    render(
      $("#sales"),
      html`<p>${s.venue_name} · ${when(s.start_time)} · <span class="pill ${s.status}">${
        STATUS[s.status] || s.status}</span></p>
      <div class="table-scroll"><table><thead><tr><th>Section</th><th class="num">Price</th>
        <th class="num">Sold</th><th class="num">Held</th><th class="num">Available</th></tr>
        </thead><tbody>${s.sections.map((x) => salesRow(x, s.currency))}</tbody></table></div>
      <p class="panel">Revenue: <span class="price">${money(revenue, s.currency)}</span></p>
      <p class="row">${s.status === "draft" && html`<button id="launch">Launch</button>`} ${
        cancellable && html`<button class="secondary" id="cancel">Cancel show</button>`}</p>`,
    );
  };
  const settings = () => {
    const on = show.queue.enabled;
    render($("#room-settings"), on ? roomSettings(show.queue, show.timezone) : html``);
    if (!on) render($("#room-figures"), html``);
  };
  const figures = async () => {
    if (!show.queue.enabled) return;
    const f = await api(`/api/v1/shows/${showId}/queue`);
    if (show.queue.enabled) render($("#room-figures"), roomFigures(f));
  };
  const draw = async () => {
    show = await api(`/api/v1/shows/${showId}`);
    sales(show);
  };
  page.on("click", "#launch", async () => {
    if (await act("/launch", { method: "POST", body: {} })) await draw();
  });
  page.on("click", "#cancel", async () => {
    if (!confirm("Cancel the show and refund every booking?")) return;
    if (await act("/cancel", { method: "POST", body: {} })) await draw();
  });
  page.on("change", "#queue", async (e) => {
    const enabled = e.target.checked;
    if (await act("", { method: "PATCH", body: { queue: { enabled } } })) {
      await draw();
      settings();
      await figures().catch(() => {});
    } else e.target.checked = !enabled;
  });
  page.on("submit", "#room-form", async (e) => {
    e.preventDefault();
    const opens = $("#room-opens").value;
    const queue = {
      enabled: true,
      admit_per_minute: Number($("#room-rate").value),
      opens_at: opens || null,
      pass_minutes: Number($("#room-pass").value),
    };
    if (await act("", { method: "PATCH", body: { queue } })) {
      toast("Waiting room saved.", true);
      await draw();
      settings();
      await figures().catch(() => {});
    }
  });
  sales(show);
  settings();
  await figures().catch(() => {});
  page.every(5000, () => draw().catch(() => {}));
  page.every(3000, () => figures().catch(() => {}));
}
