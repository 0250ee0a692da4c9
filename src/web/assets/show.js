// A show's page: prices, and the seat map coloured by section, kept live, to pick seats.
//
// The seat map is read once (the layout: cached by the browser, it never changes), the seats'
// statuses come from the live stream (a snapshot, then small deltas), and each change repaints
// only the seats it names, so focus and selection stay where they are. A big venue opens on an
// overview of its stands with live counts; one stand at a time is drawn, zoomable and pannable.
//
// One live hold per show: seats the visitor already holds come back selected (with a way to
// the checkout), and reserving a new choice releases the held seats left out of it.

import { api, human, session } from "./api.js";
import {
  backToRoom, isPassRefusal, passBanner, passFor, passHeaders, waitingRoom,
} from "./queue.js";
import {
  HELD_LINE, MINE, PICKED, SOLD, UNIT, bestAvailable, describe, extent, isOpen, seatClass,
  seatColour, seatShape, seatsOf, viewer,
} from "./seatmap.js";
import { nullUnlessStale } from "./router.js";
import { html, render } from "./template.js";
import { $, clock, main, money, paint, toast, when } from "./ui.js";

const BIG = 2500;
const SEAT_PX = 18; // a seat's size in drawing units (UNIT includes the gap)
const CODES = ["available", "held", "sold", "blocked"];
const PICK = "bo.pick";

// The choice a visitor made before being asked to sign in, kept for when they come back.
function keepPick(showId, seatIds) {
  sessionStorage.setItem(PICK, JSON.stringify({ show: showId, seats: seatIds }));
}

function takePick(showId) {
  try {
    const p = JSON.parse(sessionStorage.getItem(PICK) || "null");
    if (!p || p.show !== showId) return [];
    sessionStorage.removeItem(PICK);
    return p.seats;
  } catch {
    return [];
  }
}

const swatch = (shape) => html`<svg width="20" height="20" viewBox="0 0 20 20"
  aria-hidden="true">${shape}</svg>`;

// The key: each section's colour and price (a big venue shows those on its stand buttons),
// then the looks of the seats nobody can pick.
function legend(show, fills, big) {
  const sections = big ? [] : show.sections.map(
    (s) => html`<li>${swatch(html`<rect x="1" y="1" width="18" height="18" rx="4"
      fill="${fills[s.name]}"></rect>`)}${s.name} <strong>${money(s.price, show.currency)}</strong></li>`,
  );
  return html`<ul class="legend" aria-label="Seat map key">${sections}
    <li>${swatch(html`<rect x="1" y="1" width="18" height="18" rx="4" fill="${PICKED}"></rect><path
      d="M5 10.5l3.5 3.5 6.5-7" fill="none" stroke="#0b0c1a" stroke-width="2.4"></path>`)}Your
      choice</li>
    <li>${swatch(html`<rect x="2" y="2" width="16" height="16" rx="4" fill="none"
      stroke="${HELD_LINE}" stroke-width="2"></rect>`)}On hold</li>
    <li>${swatch(html`<rect x="4" y="4" width="12" height="12" rx="3" fill="${SOLD}"></rect>`)}Sold</li>
    <li aria-hidden="true">♿ Wheelchair space</li></ul>`;
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

// The visitor's live hold on the show, with the way on to paying for it.
function resumeBox(held) {
  if (!held?.seat_ids?.length) return html``;
  return html`<div class="panel resume"><strong>Your seats ${held.seat_ids.join(", ")} are held
    for you${held.expires_at ? ` until ${clock(held.expires_at)}` : ""}.</strong>
    <a class="btn" href="#/checkout/${held.show_id}">Continue to checkout</a>
    <span class="muted small">Or change your choice below: the seats you leave out are released
    when you reserve again.</span></div>`;
}

const stageWord = (show) => (show.category === "movie" ? "SCREEN" : "STAGE");

export async function showPage(page, id) {
  const showId = Number(id);
  const show = await api(`/api/v1/shows/${showId}`);
  document.title = `${show.title}: pick seats — boxoffice`;
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
  // Read together: the map, and the visitor's own hold (drawn with the page, not pushed in
  // above the map a moment later).
  const myHold = () =>
    api(`/api/v1/shows/${showId}/holds/mine`).catch(nullUnlessStale);
  const [layout, heldFirst] = await Promise.all([
    live ? api(`/api/v1/shows/${showId}/layout`) : null,
    live && session.access ? myHold() : null,
  ]);
  const priority = Object.fromEntries(show.sections.map((s) => [s.name, s.priority]));
  const seats = live
    ? seatsOf(layout)
    : (await api(`/api/v1/shows/${showId}/seats`)).seats.map((s, i) => ({
        ...s, i, rowIndex: s.y, priority: priority[s.section] ?? 0,
      }));
  const byLabel = new Map(seats.map((s) => [s.seat_id, s]));
  const fills = Object.fromEntries(show.sections.map((s) => [s.name, seatColour(s.colour)]));
  const all = extent(seats);
  const length = (m) => [Math.floor(m / 60) && `${Math.floor(m / 60)} h`, m % 60 && `${m % 60} min`]
    .filter(Boolean).join(" ");
  const facts = [show.category === "movie" ? "Movie" : "Concert", show.language,
    show.duration_minutes && length(show.duration_minutes)].filter(Boolean);
  const most = Math.min(show.max_seats_per_user, 10);
  const howMany = Array.from({ length: most }, (_, k) => k + 1);
  render(
    main(),
    html`
    <p><a href="#/event/${show.event_id}">← ${show.title}: all showtimes</a></p>
    <h1>${show.title}</h1>
    <p class="facts">${facts.join(" · ")}</p>
    <p><strong>${when(show.start_time)}</strong> · ${show.venue_name}, ${show.city}
      <span class="muted small addr">· ${show.address}</span></p>
    <div id="resume" aria-live="polite">${resumeBox(heldFirst)}</div>
    ${show.queue?.enabled && passBanner(showId)}
    <h2>Pick your seats <span class="muted small">(up to ${show.max_seats_per_user} per
      person)</span></h2>
    ${big && html`<div class="sections" id="sections" role="group" aria-label="Stands"><button
      data-overview aria-pressed="true">All stands</button>${
      show.sections.map((s) => html`<button data-colour="${fills[s.name]}" data-section="${s.name}"
        aria-pressed="false">${s.name} · ${money(s.price, cur)} · <span data-count="${
        s.name}">${s.available.toLocaleString("en-IN")}</span> left</button>`)}</div>`}
    <form class="best" id="best"><label for="best-n">Best available:</label><select id="best-n"
      aria-label="How many seats">${howMany.map((n) => html`<option value="${n}" ${
      n === 2 && "selected"}>${n} ${n === 1 ? "seat" : "seats"}</option>`)}</select>
      ${!big && show.sections.length > 1 && html`<select id="best-section" aria-label="Section"><option
        value="*">Any section</option>${show.sections.map((s) => html`<option value="${s.name}">${
        s.name} · ${money(s.price, cur)}</option>`)}</select>`}
      <button type="submit" class="secondary">Find seats</button></form>
    ${legend(show, fills, big)}
    <div class="map-wrap"><div class="zoom" role="group" aria-label="Zoom">
      <button type="button" id="zoom-in" aria-label="Zoom in">+</button>
      <button type="button" id="zoom-out" aria-label="Zoom out">−</button>
      <button type="button" id="zoom-fit" aria-label="Whole map">⤢</button></div>
      <div class="map-view" id="map" aria-label="Seat map"></div></div>
    <p class="muted small" id="live" aria-live="off">${
      live ? "Connecting to live seat updates…" : "A draft: seats go on sale at launch."}</p>
    <div class="picked" id="picked-bar"><div class="what" id="picked" aria-live="polite">No
      seats selected.</div><button id="reserve" disabled>Reserve seats</button></div>`,
  );
  paint(main());
  const shown = () => seats.filter((s) => section === "*" || s.section === section);
  let view = null;
  let current = null; // the seat with tabindex 0: the map's one stop in the Tab order

  // The stage or screen: a bar along the front (top) edge of `box`, lettered at size `f`.
  const stage = (box, f = UNIT * 0.9) => {
    const y = box.minY * UNIT - 3.78 * f;
    return html`<g aria-hidden="true"><rect x="${box.minX * UNIT}" y="${y}" width="${
      (box.maxX - box.minX + 1) * UNIT}" height="${2 * f}" rx="${f}" fill="#3a3c66"></rect><text
      x="${((box.minX + box.maxX + 1) / 2) * UNIT}" y="${y + 1.4 * f}" class="stage-label"
      fill="#f4f4f8" font-size="${f}" text-anchor="middle">${stageWord(show)}</text></g>`;
  };

  function seatG(s) {
    const picked = selected.has(s.seat_id);
    return html`<g class="${seatClass(s, picked)}" data-seat="${s.seat_id}" data-i="${s.i}"
      tabindex="${s === current ? 0 : -1}" role="checkbox" aria-checked="${picked}"
      aria-disabled="${!isOpen(s)}" aria-label="${describe(s, cur, picked)}">${
      seatShape(s, picked, fills[s.section])}</g>`;
  }

  function drawSeats(list) {
    const box = extent(list);
    const rows = new Map();
    for (const s of list) {
      const r = rows.get(s.rowIndex);
      if (!r || s.x < r.x) rows.set(s.rowIndex, { x: s.x, y: s.y, label: s.row });
    }
    const labels = [...rows.values()].map(
      (r) => html`<text x="${(r.x - 0.4) * UNIT}" y="${r.y * UNIT + 14}" class="rowl"
        text-anchor="end">${r.label}</text>`,
    );
    if (!current || !list.includes(current)) current = list.find(isOpen) || list[0];
    // The whole venue shows its stage; one stand of a big one points the way to it.
    const front = section === "*" || box.minY - all.minY < 4
      ? stage(section === "*" ? all : box)
      : html`<text x="${((box.minX + box.maxX + 1) / 2) * UNIT}" y="${(box.minY - 1.5) * UNIT}"
          class="stage-label" fill="#b9bad0" text-anchor="middle">▲ ${stageWord(show)} THIS WAY</text>`;
    const top = box.minY - (section === "*" || box.minY - all.minY < 4 ? 3.5 : 2.5);
    const vb = {
      x: (box.minX - 2) * UNIT,
      y: top * UNIT,
      w: (box.maxX - box.minX + 4) * UNIT,
      h: (box.maxY - top + 1.5) * UNIT,
    };
    return {
      vb,
      svg: html`<svg role="group" aria-label="Seats: arrow keys move, Enter or Space picks"
        viewBox="${vb.x} ${vb.y} ${vb.w} ${vb.h}">${front}${labels}${list.map(seatG)}</svg>`,
    };
  }

  function drawOverview() {
    // One lettering size for the whole venue, so every stand reads alike, and never below
    // what a phone can read.
    const wide = (all.maxX - all.minX + 7) * UNIT;
    const f = Math.max(wide / 30, (13 * wide) / Math.max(200, $("#map")?.clientWidth || 800));
    const stands = show.sections.map((sec) => {
      const b = extent(seats.filter((s) => s.section === sec.name));
      const w = (b.maxX - b.minX + 1) * UNIT;
      const h = (b.maxY - b.minY + 1) * UNIT;
      const soldOut = sec.available === 0;
      const cx = b.minX * UNIT + w / 2;
      const cy = b.minY * UNIT + h / 2;
      return html`<g class="stand" data-stand="${sec.name}" role="button" tabindex="0"><rect
        x="${b.minX * UNIT}" y="${b.minY * UNIT}" width="${w}" height="${h}" rx="${UNIT * 2}"
        fill="${soldOut ? SOLD : fills[sec.name]}"></rect><text x="${cx}" y="${cy - f * 0.2}"
        font-size="${f * 0.8}" text-anchor="middle" fill="#0b0c1a" font-weight="700">${sec.name}</text>
        <text x="${cx}" y="${cy + f * 0.75}" font-size="${f * 0.6}" text-anchor="middle"
        fill="#0b0c1a" data-stand-count="${sec.name}">${soldOut ? "Sold out"
        : `${sec.available.toLocaleString("en-IN")} left`}</text></g>`;
    });
    const top = all.minY * UNIT - 4.3 * f;
    const vb = {
      x: (all.minX - 3) * UNIT,
      y: top,
      w: (all.maxX - all.minX + 7) * UNIT,
      h: (all.maxY + 3) * UNIT - top,
    };
    return {
      vb,
      svg: html`<svg class="overview" role="group" aria-label="Stands: pick one to see its seats"
        viewBox="${vb.x} ${vb.y} ${vb.w} ${vb.h}">${stage(all, f)}${stands}</svg>`,
    };
  }

  const signal = page.signal;
  let drawing = null; // ends the last drawing's viewer when the map is drawn again
  let elements = new Map(); // seat index → its <g> in the current drawing
  const seatEl = (s) => elements.get(s.i);
  function draw() {
    const map = $("#map");
    if (!map) return;
    const { svg, vb } = section ? drawSeats(shown()) : drawOverview();
    render(map, svg);
    elements = new Map([...map.querySelectorAll("[data-i]")].map((g) => [Number(g.dataset.i), g]));
    drawing?.abort();
    drawing = new AbortController();
    page.onLeave(() => drawing.abort());
    view = viewer(map, map.firstElementChild, vb, {
      signal: drawing.signal,
      maxScale: 3,
      onTap: (target) => {
        const stand = target.closest?.("[data-stand]");
        if (stand) return openSection(stand.dataset.stand);
        const g = target.closest?.("[data-seat]");
        if (g) toggle(g);
      },
    });
    if (section) view.start(14 / SEAT_PX);
    for (const b of main().querySelectorAll("[data-section]")) {
      b.setAttribute("aria-pressed", b.dataset.section === section);
    }
    $("[data-overview]")?.setAttribute("aria-pressed", !section);
  }

  function openSection(name) {
    section = name;
    current = null;
    draw();
  }

  // Repaints one seat in place (keeps keyboard focus on it).
  function repaint(s) {
    const g = seatEl(s);
    if (!g) return;
    const picked = selected.has(s.seat_id);
    g.setAttribute("class", seatClass(s, picked));
    g.setAttribute("aria-checked", picked);
    g.setAttribute("aria-disabled", !isOpen(s));
    g.setAttribute("aria-label", describe(s, cur, picked));
    render(g, seatShape(s, picked, fills[s.section]));
  }

  function counts() {
    const left = new Map(show.sections.map((s) => [s.name, 0]));
    for (const s of seats) if (s.status === "available") left.set(s.section, left.get(s.section) + 1);
    for (const s of show.sections) {
      s.available = left.get(s.name);
      const n = s.available.toLocaleString("en-IN");
      const count = $(`[data-count="${CSS.escape(s.name)}"]`);
      if (count) count.textContent = n;
      const stand = $(`[data-stand-count="${CSS.escape(s.name)}"]`);
      if (stand) stand.textContent = s.available ? `${n} left` : "Sold out";
    }
  }

  function picked() {
    const list = [...selected].map((l) => byLabel.get(l)).filter(Boolean);
    const total = list.reduce((a, s) => a + Number(s.price), 0);
    const what = $("#picked");
    if (!what) return;
    render(what, list.length
      ? html`<strong>${list.length} ${list.length === 1 ? "seat" : "seats"}</strong>: ${
        list.map((s) => s.seat_id).join(", ")} · <span class="price">${money(total, cur)}</span>`
      : html`No seats selected.`);
    $("#reserve").disabled = !list.length;
    // The bar sticks to the bottom of the screen once there is something to reserve; the page
    // keeps what has focus clear of it.
    $("#picked-bar").classList.toggle("stuck", list.length > 0);
    document.documentElement.classList.toggle("bar-below", list.length > 0);
  }

  function toggle(g) {
    const seat = byLabel.get(g.dataset.seat);
    if (!seat || !isOpen(seat)) return;
    if (selected.has(seat.seat_id)) selected.delete(seat.seat_id);
    else if (selected.size >= show.max_seats_per_user) {
      toast(`You can pick at most ${show.max_seats_per_user} seats for this show.`);
      return;
    } else selected.add(seat.seat_id);
    moveTo(seat, false);
    repaint(seat);
    picked();
  }

  // Makes `s` the map's Tab stop (and focuses it when asked).
  function moveTo(s, focus = true) {
    const old = current && seatEl(current);
    if (old) old.setAttribute("tabindex", -1);
    current = s;
    const g = seatEl(s);
    if (!g) return;
    g.setAttribute("tabindex", 0);
    if (focus) {
      view?.show({ x: s.x * UNIT, y: s.y * UNIT, w: UNIT, h: UNIT });
      g.focus({ preventScroll: true });
    }
  }

  // A seat someone else just took is taken out of the selection.
  function changed(s) {
    if (s.status !== "held") s.mine = false;
    if (selected.has(s.seat_id) && !isOpen(s)) {
      selected.delete(s.seat_id);
      picked();
      toast(`Seat ${s.seat_id} was just taken by someone else.`);
    }
    repaint(s);
  }

  function applySnapshot(data) {
    const bytes = atob(data.seats);
    for (const s of seats) {
      s.status = CODES[(bytes.charCodeAt(s.i >> 2) >> ((s.i & 3) * 2)) & 3];
      if (s.status !== "held") s.mine = false;
    }
    if (section) {
      // Repaint in place: a redraw would lose the zoom and the keyboard focus.
      if (elements.size) seats.forEach((s) => elements.has(s.i) && repaint(s));
      else draw();
    } else draw();
    counts();
    [...selected].forEach((l) => byLabel.get(l) && !isOpen(byLabel.get(l)) && selected.delete(l));
    picked();
  }

  // The visitor's live hold on this show: its seats come back selected, with a way on.
  let holding = [];
  async function mine() {
    if (!session.access) return;
    const held = await myHold();
    holding = held?.seat_ids || [];
    for (const label of holding) {
      const s = byLabel.get(label);
      if (!s) continue;
      s.mine = true;
      if (!selected.has(label) && selected.size < show.max_seats_per_user) selected.add(label);
      repaint(s);
    }
    picked();
    const box = $("#resume");
    if (!box) return;
    render(box, resumeBox(held));
  }

  function follow() {
    const stream = new EventSource(`/api/v1/shows/${showId}/seats/stream`);
    page.onLeave(() => stream.close());
    stream.addEventListener("snapshot", (e) => {
      applySnapshot(JSON.parse(e.data));
      mine().then(restorePick);
      const note = $("#live");
      if (note) note.textContent = "Live: seats update as others pick them.";
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

  // Seats picked before signing in come back selected, if still free.
  let restored = false;
  function restorePick() {
    if (restored) return;
    restored = true;
    const back = takePick(showId).filter((l) => byLabel.get(l) && isOpen(byLabel.get(l)));
    if (!back.length) return;
    back.slice(0, show.max_seats_per_user).forEach((l) => selected.add(l));
    back.forEach((l) => repaint(byLabel.get(l)));
    picked();
    toast("Welcome back: your seats are still selected. Reserve them to go on.", true);
  }

  async function reserve() {
    const chosen = [...selected];
    if (!session.access) {
      keepPick(showId, chosen);
      sessionStorage.setItem("bo.after", location.hash);
      location.hash = "#/login";
      return;
    }
    $("#reserve").disabled = true;
    try {
      // One live hold per show: the seats held before and left out now are let go first
      // (they count against the per-person cap).
      const dropped = holding.filter((l) => !selected.has(l));
      if (dropped.length) {
        await api("/api/v1/book/reserve", {
          method: "DELETE",
          body: { show_id: showId, seat_ids: dropped },
        });
      }
      const body = { show_id: showId, seat_ids: chosen };
      const headers = passHeaders(showId);
      await api("/api/v1/book/reserve", { method: "POST", body, headers });
      location.hash = `#/checkout/${showId}`;
    } catch (e) {
      if (isPassRefusal(e)) {
        backToRoom(showId, e);
        return;
      }
      // The seats let go for the new choice are taken back if it failed (best effort).
      const dropped = holding.filter((l) => !selected.has(l));
      if (dropped.length) {
        await api("/api/v1/book/reserve", {
          method: "POST",
          body: { show_id: showId, seat_ids: dropped },
          headers: passHeaders(showId),
        }).catch(() => {});
      }
      const locked = e.body?.details?.locked_seats;
      toast(locked?.length
        ? `Sorry, ${locked.join(", ")} ${locked.length === 1 ? "was" : "were"} just taken. Pick again.`
        : human(e));
      for (const l of locked || chosen) {
        selected.delete(l);
        const s = byLabel.get(l);
        if (s) repaint(s);
      }
      picked();
      $("#reserve").disabled = !selected.size;
      mine().catch(() => {});
    }
  }

  function findBest(e) {
    e.preventDefault();
    const n = Number($("#best-n").value);
    const only = $("#best-section")?.value || "*";
    const scope = seats.filter(
      (s) => (section && section !== "*" ? s.section === section : only === "*" || s.section === only),
    );
    const found = bestAvailable(scope, n);
    if (!found) {
      toast(`There are no ${n} seats together${section && section !== "*" ? ` in ${section}` : ""
        }. Try fewer seats${big ? " or another stand" : " or another section"}.`);
      return;
    }
    for (const l of [...selected]) {
      if (holding.includes(l)) continue;
      selected.delete(l);
      const s = byLabel.get(l);
      if (s) repaint(s);
    }
    if (selected.size + n > show.max_seats_per_user) {
      const was = [...selected];
      selected.clear();
      was.forEach((l) => byLabel.get(l) && repaint(byLabel.get(l)));
    }
    if (big && section !== found[0].section) openSection(found[0].section);
    found.forEach((s) => selected.add(s.seat_id));
    found.forEach(repaint);
    picked();
    const b = extent(found);
    view?.show({ x: b.minX * UNIT, y: b.minY * UNIT, w: (b.maxX - b.minX + 1) * UNIT, h: UNIT });
    moveTo(found[0], false);
    const total = found.reduce((a, s) => a + Number(s.price), 0);
    toast(`Best available: ${found[0].section}, row ${found[0].row}, seats ${found[0].number}–${
      found[n - 1].number} (${money(total, cur)}).`, true);
  }

  page.on("click", "[data-section]", (e, button) => openSection(button.dataset.section));
  page.on("click", "[data-overview]", () => {
    section = null;
    draw();
  });
  page.on("click", "#zoom-in", () => view?.zoomIn());
  page.on("click", "#zoom-out", () => view?.zoomOut());
  page.on("click", "#zoom-fit", () => view?.reset());
  page.on("submit", "#best", findBest);
  page.on("keydown", "#map [data-stand]", (e, g) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      openSection(g.dataset.stand);
      if (current) moveTo(current);
    }
  });
  page.on("keydown", "#map [data-seat]", (e, g) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      toggle(g);
    } else if (e.key.startsWith("Arrow")) {
      const from = byLabel.get(g.dataset.seat);
      const to = from && neighbour(shown(), from, e.key);
      e.preventDefault();
      if (to) moveTo(to);
    }
  });
  page.on("click", "#reserve", reserve);
  const resize = () => view?.refit();
  window.addEventListener("resize", resize, { signal });
  page.onLeave(() => document.documentElement.classList.remove("bar-below"));
  draw();
  picked();
  if (live) follow();
  else if (big) openSection(show.sections[0]?.name);
}
