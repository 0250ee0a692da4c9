// A show's page: prices, and the seat map coloured by section, kept current, to pick seats.

import { api, human, session } from "./api.js";
import { html, render } from "./template.js";
import { $, main, money, newKey, paint, toast, when } from "./ui.js";

const SIZE = 22;

const priceRow = (s, cur) => html`<tr><td><i class="swatch" data-colour="${s.colour}"></i> ${
  s.name}</td><td>${money(s.price, cur)}</td><td>${s.available} / ${s.total}</td></tr>`;

const sectionButton = (s, cur, section) => html`<button data-colour="${s.colour}"
  data-section="${s.name}" aria-pressed="${section === s.name}">${s.name} · ${
  money(s.price, cur)} · ${s.available} left</button>`;

const LEGEND = html`<div class="legend"><span><i class="available"></i>available (section
  colour)</span><span><i class="held"></i>held</span><span><i class="mine"></i>held by
  you</span><span><i class="sold"></i>sold</span><span>♿ accessible</span></div>`;

function seatMap(show, shown, selected, colour) {
  const xs = shown.map((s) => s.x);
  const ys = shown.map((s) => s.y);
  const minX = Math.min(...xs);
  const minY = Math.min(...ys);
  const w = (Math.max(...xs) - minX + 1) * SIZE + 40;
  const h = (Math.max(...ys) - minY + 1) * SIZE + 10;
  const rowLabels = new Map();
  shown.forEach((s) => {
    if (!rowLabels.has(s.y)) rowLabels.set(s.y, s.row);
  });
  const label = ([y, r]) =>
    html`<text x="2" y="${(y - minY) * SIZE + 15}" fill="#8889a8" font-size="10">${r}</text>`;
  const seat = (s) => {
    const x = (s.x - minX) * SIZE;
    const y = (s.y - minY) * SIZE;
    const state = s.status === "held" ? (s.mine ? "mine" : "held") : s.status;
    const picked = selected.has(s.seat_id);
    const cls = ["seat", state, picked ? "selected" : ""].join(" ");
    const price = money(s.price, show.currency);
    const says = `${s.seat_id}, ${s.section}, ${price}, ${s.mine ? "held by you" : s.status}${
      s.accessible ? ", accessible" : ""}`;
    return html`<g class="${cls}" data-seat="${s.seat_id}" tabindex="${
      s.status === "available" ? 0 : -1}" role="button" aria-pressed="${picked}"
      aria-label="${says}"><title>${says}</title>
      <rect x="${x + 30}" y="${y + 2}" width="${SIZE - 4}" height="${SIZE - 4}" rx="4"
        fill="${colour[s.section] || "#7c3aed"}"></rect>
      ${s.accessible && html`<text x="${x + 33}" y="${y + 16}" font-size="11" fill="#fff">♿</text>`
      }</g>`;
  };
  return html`<svg width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="group"
    aria-label="Seats">${[...rowLabels].map(label)}${shown.map(seat)}</svg>`;
}

export async function showPage(page, id) {
  const showId = Number(id);
  const show = await api(`/api/v1/shows/${showId}`);
  const cur = show.currency;
  const big = show.seat_count > 2500;
  let section = big ? null : "*";
  const selected = new Set();
  let seats = [];
  render(
    main(),
    html`
    <p><a href="#/">← All shows</a></p>
    <h1>${show.title}</h1>
    <p><span class="pill">${show.category}</span> ${show.venue_name}, ${show.address} ·
      <strong>${when(show.start_time)}</strong> <span class="muted">(${show.timezone})</span></p>
    <p class="muted">${show.description}</p>
    <div class="panel"><h2>Prices</h2><table><thead><tr><th>Section</th><th>Price</th>
      <th>Available</th></tr></thead><tbody id="prices">${
        show.sections.map((s) => priceRow(s, cur))}</tbody></table></div>
    <h2>Pick your seats <span class="muted small">(up to ${show.max_seats_per_user} per
      person)</span></h2>
    ${LEGEND}
    <div class="sections" id="sections" role="group" aria-label="Sections">${
      show.sections.map((s) => sectionButton(s, cur, section))}</div>
    <div class="map"><div class="stage">STAGE · SCREEN</div>
      <div id="map" aria-label="Seat map"></div></div>
    <div class="panel row"><div id="picked" aria-live="polite">No seats selected.</div>
      <button id="reserve" disabled>Reserve seats</button></div>`,
  );
  paint(main());
  const colour = Object.fromEntries(show.sections.map((s) => [s.name, s.colour]));

  function draw() {
    const map = $("#map");
    if (!map) return;
    if (!section) {
      render(map, html`<p class="muted roomy">This venue has ${show.seat_count.toLocaleString()}
        seats: choose a section above to zoom in.</p>`);
      return;
    }
    const shown = seats.filter((s) => section === "*" || s.section === section);
    render(map, shown.length ? seatMap(show, shown, selected, colour) : html``);
  }
  async function load() {
    seats = (await api(`/api/v1/shows/${showId}/seats`)).seats;
    draw();
  }
  function picked() {
    const list = seats.filter((s) => selected.has(s.seat_id));
    const total = list.reduce((a, s) => a + Number(s.price), 0);
    $("#picked").textContent = list.length
      ? `${list.map((s) => s.seat_id).join(", ")} · ${money(total, cur)}`
      : "No seats selected.";
    $("#reserve").disabled = !list.length;
  }
  function toggle(g) {
    const seat = seats.find((s) => s.seat_id === g.dataset.seat);
    if (!seat || (seat.status !== "available" && !seat.mine)) return;
    if (selected.has(seat.seat_id)) selected.delete(seat.seat_id);
    else if (selected.size >= show.max_seats_per_user) {
      toast(`You can pick at most ${show.max_seats_per_user} seats for this show.`);
      return;
    } else selected.add(seat.seat_id);
    picked();
    draw();
  }
  async function reserve() {
    if (!session.access) {
      sessionStorage.setItem("bo.after", location.hash);
      location.hash = "#/login";
      return;
    }
    try {
      const body = { show_id: showId, seat_ids: [...selected] };
      const hold = await api("/api/v1/book/reserve", { method: "POST", body });
      const prices = seats.filter((s) => selected.has(s.seat_id)).map((s) => Number(s.price));
      const checkout = {
        ...hold,
        title: show.title,
        venue: show.venue_name,
        start: show.start_time,
        currency: cur,
        total: prices.reduce((a, b) => a + b, 0),
        key: newKey(),
      };
      sessionStorage.setItem("bo.checkout", JSON.stringify(checkout));
      location.hash = "#/checkout";
    } catch (e) {
      toast(human(e));
      selected.clear();
      picked();
      await load();
    }
  }

  page.on("click", "[data-section]", (e, button) => {
    section = button.dataset.section;
    main()
      .querySelectorAll("[data-section]")
      .forEach((b) => b.setAttribute("aria-pressed", b === button));
    draw();
  });
  page.on("click", "#map [data-seat]", (e, g) => toggle(g));
  page.on("keydown", "#map [data-seat]", (e, g) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      toggle(g);
    }
  });
  page.on("click", "#reserve", reserve);
  await load();
  // Stay current without a reload.
  page.every(3000, () => load().catch(() => {}));
}
