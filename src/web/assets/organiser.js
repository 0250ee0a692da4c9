// Organisers: create an event and a show with its prices, launch it, and watch its sales.

import { api, human, session } from "./api.js";
import { html, render } from "./template.js";
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
  const draw = async () => {
    const s = await api(`/api/v1/shows/${showId}`);
    const revenue = s.sections.reduce((a, x) => a + x.sold * Number(x.price), 0);
    const cancellable = s.status === "live" || s.status === "draft";
    render(
      main(),
      html`<h1>Sales: ${s.title}</h1>
      <p>${s.venue_name} · ${when(s.start_time)} · <span class="pill">${s.status}</span></p>
      <table><thead><tr><th>Section</th><th>Price</th><th>Sold</th><th>Held</th>
        <th>Available</th></tr></thead><tbody>
      ${s.sections.map((x) => salesRow(x, s.currency))}</tbody></table>
      <p class="panel">Revenue: <span class="price">${money(revenue, s.currency)}</span></p>
      <div class="row">${s.status === "draft" && html`<button id="launch">Launch</button>`}${
        cancellable && html`<button class="secondary" id="cancel">Cancel show</button>`}
      <label><input type="checkbox" id="queue" ${s.queue.enabled && "checked"}> Waiting
        room</label></div>`,
    );
  };
  page.on("click", "#launch", async () => {
    if (await act("/launch", { method: "POST", body: {} })) await draw();
  });
  page.on("click", "#cancel", async () => {
    if (!confirm("Cancel the show and refund every booking?")) return;
    if (await act("/cancel", { method: "POST", body: {} })) await draw();
  });
  page.on("change", "#queue", (e) => {
    act("", { method: "PATCH", body: { queue: { enabled: e.target.checked } } });
  });
  await draw();
  page.every(5000, () => draw().catch(() => {}));
}
