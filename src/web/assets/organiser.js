// Organisers: create an event and a show with its prices, launch it, and watch its sales.

import { api, human, session } from "./api.js";
import { html, render } from "./template.js";
import { aboutWait } from "./queue.js";
import { $, main, money, toast, when } from "./ui.js";

const venueOption = (v) =>
  html`<option value="${v.venue_id}">${v.name} (${v.city}, ${v.seat_count} seats)</option>`;

const priceInput = (s) => html`<div><label for="p-${s.name}">Price: ${s.name}</label><input
  id="p-${s.name}" data-section="${s.name}" type="number" min="0" step="0.01" required></div>`;

async function priceInputs() {
  const v = await api(`/api/v1/venues/${$("#venue").value}`, { auth: false });
  render($("#prices"), html`<div class="row">${v.sections.map(priceInput)}</div>`);
}

async function launch(showId) {
  try {
    await api(`/api/v1/shows/${showId}/launch`, { method: "POST", body: {} });
    toast("Show launched: it is on sale.", true);
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
  const venues = await api("/api/v1/venues");
  render(
    main(),
    html`<h1>Organise</h1>
    <form class="panel" id="ev"><h2>1. Create an event</h2><div class="row">
      <div><label for="title">Title</label><input id="title" required></div>
      <div><label for="cat">Category</label><select id="cat"><option value="movie">Movie</option>
        <option value="concert">Concert</option></select></div></div>
      <label for="desc">Description</label><textarea id="desc" rows="2"></textarea>
      <p><button type="submit">Create event</button></p></form>
    <form class="panel" id="sh"><h2>2. Add a show</h2><div class="row">
      <div><label for="event">Event id</label><input id="event" type="number" required></div>
      <div><label for="venue">Venue</label>
        <select id="venue">${venues.map(venueOption)}</select></div>
      <div><label for="start">Starts (venue time)</label>
        <input id="start" type="datetime-local" required></div>
      <div><label for="end">Ends</label><input id="end" type="datetime-local" required></div>
      </div>
      <div id="prices"></div><p><button type="submit">Create draft show</button></p></form>
    <div class="panel" id="made" aria-live="polite"></div>`,
  );
  page.on("change", "#venue", priceInputs);
  page.on("submit", "#ev", async (e) => {
    e.preventDefault();
    const body = { title: $("#title").value, category: $("#cat").value };
    body.description = $("#desc").value;
    try {
      const ev = await api("/api/v1/events", { method: "POST", body });
      $("#event").value = ev.event_id;
      toast(`Event ${ev.event_id} created.`, true);
    } catch (err) {
      toast(human(err));
    }
  });
  page.on("submit", "#sh", async (e) => {
    e.preventDefault();
    const prices = [...main().querySelectorAll("#prices [data-section]")].map((i) => ({
      section: i.dataset.section,
      price: Number(i.value),
    }));
    const body = {
      venue_id: Number($("#venue").value),
      start_time: $("#start").value,
      end_time: $("#end").value,
      currency: "INR",
      prices,
    };
    try {
      const path = `/api/v1/events/${$("#event").value}/shows`;
      const show = await api(path, { method: "POST", body });
      render(
        $("#made"),
        html`Draft show ${show.show_id} created. <button id="launch"
          data-show="${show.show_id}">Launch show</button>
          <a href="#/organiser/${show.show_id}">Sales page</a>`,
      );
    } catch (err) {
      toast(human(err));
    }
  });
  page.on("click", "#launch", (e, button) => launch(Number(button.dataset.show)));
  if (venues.length) await priceInputs();
}

const salesRow = (x, cur) => html`<tr><td>${x.name}</td><td>${money(x.price, cur)}</td>
  <td>${x.sold}</td><td>${x.held}</td><td>${x.available}</td></tr>`;

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
  render(
    main(),
    html`<h1>Sales: ${show.title}</h1><div id="sales"></div>
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
      html`<p>${s.venue_name} · ${when(s.start_time)} · <span class="pill">${s.status}</span></p>
      <table><thead><tr><th>Section</th><th>Price</th><th>Sold</th><th>Held</th>
        <th>Available</th></tr></thead><tbody>
      ${s.sections.map((x) => salesRow(x, s.currency))}</tbody></table>
      <p class="panel">Revenue: <span class="price">${money(revenue, s.currency)}</span></p>
      <p>${s.status === "draft" && html`<button id="launch">Launch</button>`} ${
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
