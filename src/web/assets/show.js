// A show's page: prices, and the seat map coloured by section, kept live, to pick seats.
//
// The seat map is read once (the layout: cached by the browser, it never changes), the seats'
// statuses come from the live stream (a snapshot, then small deltas), and each change repaints
// only the seats it names, so focus and selection stay where they are. A big venue opens on its
// sections with live counts; one section at a time is drawn.

import { api, human, session } from "./api.js";
import {
  backToRoom, isPassRefusal, passBanner, passFor, passHeaders, waitingRoom,
} from "./queue.js";
import { html, render } from "./template.js";
import { $, main, money, newKey, paint, toast, when } from "./ui.js";

const SIZE = 22;
const BIG = 2500;
const CODES = ["available", "held", "sold", "blocked"];

const priceRow = (s, cur) => html`<tr><td><i class="swatch" data-colour="${s.colour}"></i> ${
  s.name}</td><td>${money(s.price, cur)}</td><td data-left="${s.name}">${s.available} / ${
  s.total}</td></tr>`;

const sectionButton = (s, cur, section) => html`<button data-colour="${s.colour}"
  data-section="${s.name}" aria-pressed="${section === s.name}">${s.name} · ${
  money(s.price, cur)} · <span data-count="${s.name}">${s.available}</span> left</button>`;

const LEGEND = html`<div class="legend"><span><i class="available"></i>available (section
  colour)</span><span><i class="held"></i>held</span><span><i class="mine"></i>held by
  you</span><span><i class="sold"></i>sold</span><span>♿ accessible</span></div>`;

// Every seat of the layout, in seat index order (the order the live statuses use).
function seatsOf(layout) {
  const seats = [];
  for (const row of layout.rows) {
    const section = layout.sections[row.section];
    const accessible = new Set(row.accessible || []);
    for (const [first, x, count] of row.runs) {
      for (let k = 0; k < count; k += 1) {
        const number = first + k;
        seats.push({
          i: seats.length,
          seat_id: `${row.label}${number}`,
          row: row.label,
          number,
          x: x + k,
          y: row.y,
          section: section.name,
          price: section.price,
          accessible: accessible.has(number),
          status: "available",
          mine: false,
        });
      }
    }
  }
  return seats;
}

const stateOf = (s) => (s.status === "held" ? (s.mine ? "mine" : "held") : s.status);
const open = (s) => s.status === "available" || s.mine;

function describe(s, cur) {
  const what = s.mine ? "held by you" : s.status;
  return `${s.seat_id}, ${s.section}, ${money(s.price, cur)}, ${what}${
    s.accessible ? ", accessible" : ""}`;
}

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
    const picked = selected.has(s.seat_id);
    const cls = ["seat", stateOf(s), picked ? "selected" : ""].join(" ");
    const says = describe(s, show.currency);
    return html`<g class="${cls}" data-seat="${s.seat_id}" data-i="${s.i}" tabindex="${
      open(s) ? 0 : -1}" role="button" aria-pressed="${picked}" aria-label="${says}"><title>${
      says}</title><rect x="${x + 30}" y="${y + 2}" width="${SIZE - 4}" height="${SIZE - 4}"
      rx="4" fill="${colour[s.section] || "#7c3aed"}"></rect>${s.accessible &&
      html`<text x="${x + 33}" y="${y + 16}" font-size="11" fill="#fff">♿</text>`}</g>`;
  };
  return html`<svg width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="group"
    aria-label="Seats">${[...rowLabels].map(label)}${shown.map(seat)}</svg>`;
}

// The seat an arrow key leads to from `from`, among `shown`: the nearest in that direction,
// same row first for left and right, the nearest x in the next row for up and down.
function neighbour(shown, from, key) {
  const dx = { ArrowLeft: -1, ArrowRight: 1 }[key] || 0;
  const dy = { ArrowUp: -1, ArrowDown: 1 }[key] || 0;
  let best = null;
  let score = Infinity;
  for (const s of shown) {
    const ex = s.x - from.x;
    const ey = s.y - from.y;
    const ahead = dx ? Math.sign(ex) === dx && ey === 0 : Math.sign(ey) === dy;
    if (!ahead) continue;
    const d = dx ? Math.abs(ex) : Math.abs(ey) * 1000 + Math.abs(ex);
    if (d < score) {
      score = d;
      best = s;
    }
  }
  return best;
}

export async function showPage(page, id) {
  const showId = Number(id);
  const show = await api(`/api/v1/shows/${showId}`);
  // A show with a waiting room opens on the room until the visitor holds a pass for it.
  if (show.queue?.enabled && show.status === "live" && !passFor(showId)) {
    return waitingRoom(page, show);
  }
  const cur = show.currency;
  const big = show.seat_count > BIG;
  let section = big ? null : "*";
  const selected = new Set();
  // A draft (its organiser previewing) has no live state yet: its seats come as one list.
  const live = show.status !== "draft";
  const layout = live ? await api(`/api/v1/shows/${showId}/layout`) : null;
  const seats = live
    ? seatsOf(layout)
    : (await api(`/api/v1/shows/${showId}/seats`)).seats.map((s, i) => ({ ...s, i }));
  const byLabel = new Map(seats.map((s) => [s.seat_id, s]));
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
    ${show.queue?.enabled && passBanner(showId)}
    <h2>Pick your seats <span class="muted small">(up to ${show.max_seats_per_user} per
      person)</span></h2>
    ${LEGEND}
    <div class="sections" id="sections" role="group" aria-label="Sections">${
      show.sections.map((s) => sectionButton(s, cur, section))}</div>
    <div class="map"><div class="stage">STAGE · SCREEN</div>
      <div id="map" aria-label="Seat map"></div></div>
    <p class="muted small" id="live" aria-live="off"></p>
    <div class="panel row"><div id="picked" aria-live="polite">No seats selected.</div>
      <button id="reserve" disabled>Reserve seats</button></div>`,
  );
  paint(main());
  const colour = Object.fromEntries(show.sections.map((s) => [s.name, s.colour]));
  const shown = () => seats.filter((s) => section === "*" || s.section === section);

  function draw() {
    const map = $("#map");
    if (!map) return;
    if (!section) {
      render(map, html`<p class="muted roomy">This venue has ${show.seat_count.toLocaleString()}
        seats: choose a section above to see its seats. Counts update live.</p>`);
      return;
    }
    const list = shown();
    render(map, list.length ? seatMap(show, list, selected, colour) : html``);
  }

  // Repaints one seat in place (keeps keyboard focus on it).
  function repaint(s) {
    const g = $(`#map [data-i="${s.i}"]`);
    if (!g) return;
    const picked = selected.has(s.seat_id);
    g.setAttribute("class", ["seat", stateOf(s), picked ? "selected" : ""].join(" "));
    g.setAttribute("tabindex", open(s) || g === document.activeElement ? 0 : -1);
    g.setAttribute("aria-pressed", picked);
    const says = describe(s, cur);
    g.setAttribute("aria-label", says);
    const title = g.querySelector("title");
    if (title) title.textContent = says;
  }

  function counts() {
    const left = new Map(show.sections.map((s) => [s.name, 0]));
    for (const s of seats) if (s.status === "available") left.set(s.section, left.get(s.section) + 1);
    for (const s of show.sections) {
      const n = left.get(s.name);
      const count = $(`[data-count="${s.name}"]`);
      if (count) count.textContent = n.toLocaleString();
      const cell = $(`[data-left="${s.name}"]`);
      if (cell) cell.textContent = `${n.toLocaleString()} / ${s.total.toLocaleString()}`;
    }
  }

  function picked() {
    const list = [...selected].map((l) => byLabel.get(l)).filter(Boolean);
    const total = list.reduce((a, s) => a + Number(s.price), 0);
    $("#picked").textContent = list.length
      ? `${list.map((s) => s.seat_id).join(", ")} · ${money(total, cur)}`
      : "No seats selected.";
    $("#reserve").disabled = !list.length;
  }

  function toggle(g) {
    const seat = byLabel.get(g.dataset.seat);
    if (!seat || !open(seat)) return;
    if (selected.has(seat.seat_id)) selected.delete(seat.seat_id);
    else if (selected.size >= show.max_seats_per_user) {
      toast(`You can pick at most ${show.max_seats_per_user} seats for this show.`);
      return;
    } else selected.add(seat.seat_id);
    repaint(seat);
    picked();
  }

  // A seat someone else just took is taken out of the selection.
  function changed(s) {
    if (s.status !== "held") s.mine = false;
    if (selected.has(s.seat_id) && !open(s)) {
      selected.delete(s.seat_id);
      picked();
      toast(`${s.seat_id} was just taken by someone else.`);
    }
    repaint(s);
  }

  function applySnapshot(data) {
    const bytes = atob(data.seats);
    for (const s of seats) {
      s.status = CODES[(bytes.charCodeAt(s.i >> 2) >> ((s.i & 3) * 2)) & 3];
      if (s.status !== "held") s.mine = false;
    }
    draw();
    counts();
    [...selected].forEach((l) => byLabel.get(l) && !open(byLabel.get(l)) && selected.delete(l));
    picked();
  }

  async function mine() {
    if (!session.access) return;
    const held = await api(`/api/v1/shows/${showId}/holds/mine`).catch(() => null);
    for (const label of held?.seat_ids || []) {
      const s = byLabel.get(label);
      if (s) {
        s.mine = true;
        repaint(s);
      }
    }
  }

  function follow() {
    const stream = new EventSource(`/api/v1/shows/${showId}/seats/stream`);
    page.onLeave(() => stream.close());
    stream.addEventListener("snapshot", (e) => {
      applySnapshot(JSON.parse(e.data));
      mine();
      $("#live").textContent = "Live: seats update as others pick them.";
    });
    stream.addEventListener("seats", (e) => {
      const { changes } = JSON.parse(e.data);
      for (const [i, status] of changes) {
        const s = seats[i];
        if (!s) continue;
        s.status = status;
        changed(s);
      }
      counts();
    });
    stream.onerror = () => {
      const note = $("#live");
      if (note) note.textContent = "Reconnecting to live seat updates…";
    };
  }

  async function reserve() {
    if (!session.access) {
      sessionStorage.setItem("bo.after", location.hash);
      location.hash = "#/login";
      return;
    }
    try {
      const body = { show_id: showId, seat_ids: [...selected] };
      const headers = passHeaders(showId);
      const hold = await api("/api/v1/book/reserve", { method: "POST", body, headers });
      const prices = [...selected].map((l) => Number(byLabel.get(l).price));
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
      if (isPassRefusal(e)) {
        backToRoom(showId, e);
        return;
      }
      toast(human(e));
      const was = [...selected].map((l) => byLabel.get(l));
      selected.clear();
      was.forEach((s) => s && repaint(s));
      picked();
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
    } else if (e.key.startsWith("Arrow")) {
      const from = byLabel.get(g.dataset.seat);
      const to = from && neighbour(shown(), from, e.key);
      if (to) {
        e.preventDefault();
        $(`#map [data-i="${to.i}"]`)?.focus();
      }
    }
  });
  page.on("click", "#reserve", reserve);
  draw();
  if (live) follow();
}
