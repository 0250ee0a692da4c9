// boxoffice web app: a dependency-free single-page app over the JSON API.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const main = () => $("#main");
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const money = (v, cur) => (v == null ? "" : `${cur === "INR" ? "₹" : cur + " "}${Number(v).toLocaleString("en-IN")}`);
// Colours from the API are set through the CSSOM: the Content-Security-Policy allows no inline
// styles, so templates carry `data-colour` instead of a `style` attribute.
const paint = (root) => root.querySelectorAll("[data-colour]").forEach((el) => el.style.setProperty("--c", el.dataset.colour));
const when = (iso) => { const d = new Date(iso); return `${iso.slice(0, 10)} ${iso.slice(11, 16)}`; };

// ---- session ---------------------------------------------------------------
const session = {
  get access() { return localStorage.getItem("bo.access"); },
  get refresh() { return localStorage.getItem("bo.refresh"); },
  get user() { try { return JSON.parse(localStorage.getItem("bo.user") || "null"); } catch { return null; } },
  save(tokens) {
    localStorage.setItem("bo.access", tokens.access_token);
    localStorage.setItem("bo.refresh", tokens.refresh_token);
    localStorage.setItem("bo.expires", String(Date.now() + tokens.expires_in * 1000));
    scheduleRefresh();
  },
  clear() { ["bo.access", "bo.refresh", "bo.expires", "bo.user"].forEach((k) => localStorage.removeItem(k)); },
};
let refreshTimer = null;
function scheduleRefresh() {
  clearTimeout(refreshTimer);
  const expires = Number(localStorage.getItem("bo.expires") || 0);
  if (!session.refresh) return;
  // Refresh a minute before the 15-minute access token runs out.
  const wait = Math.max(1000, expires - Date.now() - 60_000);
  refreshTimer = setTimeout(refreshNow, wait);
}
// One refresh at a time across every tab of this origin: a tab that waited for the lock uses
// the token another tab stored meanwhile instead of spending it again. (The server also
// answers a just-spent token with the same successor, so a race without locks is harmless.)
async function refreshNow() {
  const presented = session.refresh;
  if (!presented) return false;
  const refreshed = () => session.refresh && session.refresh !== presented;
  const run = async () => {
    if (refreshed()) { scheduleRefresh(); return true; }
    const res = await fetch("/api/v1/auth/refresh_token", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ refresh_token: presented }) });
    if (res.ok) { session.save(await res.json()); return true; }
    if (refreshed()) { scheduleRefresh(); return true; }
    session.clear(); renderNav(); return false;
  };
  return navigator.locks ? navigator.locks.request("boxoffice-refresh", run) : run();
}
// Another tab signed in, refreshed or signed out: follow it.
window.addEventListener("storage", (e) => {
  if (e.key === null || e.key === "bo.refresh" || e.key === "bo.expires") scheduleRefresh();
  if (e.key === null || e.key === "bo.user" || (e.key === "bo.refresh" && !e.newValue)) renderNav();
});

class ApiError extends Error { constructor(body, status) { super(body?.message || `Request failed (${status})`); this.body = body; this.status = status; } }

// Bumped on every navigation: a page read that finishes after the visitor has moved on must not
// paint over the page they are now looking at.
let routeGen = 0;
const STALE = new Error("navigated away");
// For reads whose failure shows as "nothing": a page that was left still stops there.
const emptyUnlessStale = (e) => { if (e === STALE) throw e; return []; };

async function api(path, { method = "GET", body, headers = {}, auth = true } = {}) {
  const gen = routeGen;
  const h = { ...headers };
  if (body !== undefined) h["content-type"] = "application/json";
  if (auth && session.access) h.authorization = `Bearer ${session.access}`;
  // Revalidate cached catalog answers (cheap 304s thanks to ETags) so the app never shows stale data.
  let res = await fetch(path, { method, headers: h, cache: "no-cache", body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 401 && auth && session.refresh) {
    // A newer access token (another tab refreshed meanwhile) is simply used; otherwise refresh.
    const fresh = h.authorization !== `Bearer ${session.access}` || (await refreshNow());
    if (fresh) {
      h.authorization = `Bearer ${session.access}`;
      res = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    }
  }
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) throw new ApiError(data, res.status);
  if (method === "GET" && gen !== routeGen) throw STALE;
  return data;
}

function toast(message, ok = false) {
  if (message === STALE.message) return;
  const t = $("#toast");
  t.textContent = message; t.className = ok ? "ok" : ""; t.hidden = false;
  clearTimeout(toast.timer); toast.timer = setTimeout(() => (t.hidden = true), 6000);
}
const human = (e) => (e === STALE ? STALE.message : e instanceof ApiError ? e.message : "Something went wrong; please try again.");

// ---- navigation ------------------------------------------------------------
function renderNav() {
  const u = session.user;
  const roles = u?.roles || [];
  $("#nav").innerHTML = u
    ? `<a href="#/bookings">My bookings</a>${roles.includes("organiser") ? ' <a href="#/organiser">Organiser</a>' : ""}${roles.includes("venue_owner") ? ' <a href="#/venues">Venues</a>' : ""} <span class="muted">${esc(u.name)}</span> <button class="secondary" id="logout">Sign out</button>`
    : `<a href="#/login">Sign in</a> <a class="btn" href="#/signup">Sign up</a>`;
  $("#logout")?.addEventListener("click", async () => {
    try { await api("/api/v1/auth/logout", { method: "POST", body: { refresh_token: session.refresh } }); } catch {}
    session.clear(); renderNav(); location.hash = "#/";
  });
}

let stopPage = () => {};
async function route() {
  stopPage(); stopPage = () => {};
  const gen = ++routeGen;
  const [, page, id, sub] = location.hash.split("/");
  try {
    if (!page) return await home();
    if (page === "show") return await showPage(Number(id));
    if (page === "checkout") return await checkout();
    if (page === "booking") return await bookingPage(Number(id));
    if (page === "bookings") return await myBookings();
    if (page === "login") return loginPage();
    if (page === "signup") return signupPage();
    if (page === "organiser") return await organiserPage(id ? Number(id) : null, sub);
    if (page === "venues") return await venuesPage();
    main().innerHTML = `<h1>Not found</h1><p><a href="#/">Back to shows</a></p>`;
  } catch (e) {
    if (e === STALE || gen !== routeGen) return; // a newer page owns the screen now
    main().innerHTML = `<h1>Sorry</h1><p>${esc(human(e))}</p><p><a href="#/">Back to shows</a></p>`;
  }
}

// ---- home: browse and search ------------------------------------------------
const filters = { cat: "all", city: "" };
async function home() {
  main().innerHTML = `
    <h1>What's on</h1>
    <div class="row">
      <div class="search"><label for="q">Search movies, concerts, artists, venues</label>
        <input id="q" type="search" autocomplete="off" placeholder="Try “pushpa” or “arijit”" aria-controls="suggest">
        <ul id="suggest" class="suggest" role="listbox" hidden></ul></div>
      <div><label for="city">City</label><select id="city"><option value="">All cities</option></select></div>
    </div>
    <div class="tabs row spaced" role="group" aria-label="Category">
      ${["all", "movie", "concert"].map((c) => `<button data-cat="${c}" aria-pressed="${filters.cat === c}">${c === "all" ? "All" : c === "movie" ? "Movies" : "Concerts"}</button>`).join("")}
    </div>
    <ul class="cards" id="list" aria-label="Shows"></ul>`;
  const venues = await api("/api/v1/venues", { auth: false }).catch(emptyUnlessStale);
  const cities = [...new Set(venues.map((v) => v.city))].sort();
  $("#city").innerHTML += cities.map((c) => `<option ${c === filters.city ? "selected" : ""}>${esc(c)}</option>`).join("");
  $("#city").addEventListener("change", (e) => { filters.city = e.target.value; list(); });
  main().querySelectorAll("[data-cat]").forEach((b) => b.addEventListener("click", () => { filters.cat = b.dataset.cat; main().querySelectorAll("[data-cat]").forEach((x) => x.setAttribute("aria-pressed", x === b)); list(); }));
  const q = $("#q"); let timer;
  q.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(suggest, 120); });
  q.addEventListener("keydown", (e) => { if (e.key === "ArrowDown") $("#suggest a")?.focus(); if (e.key === "Escape") $("#suggest").hidden = true; });
  async function suggest() {
    const text = q.value;
    const box = $("#suggest");
    if (!text.trim()) { box.hidden = true; return; }
    const params = new URLSearchParams({ q: text, limit: "6" });
    if (filters.city) params.set("city", filters.city);
    if (filters.cat !== "all") params.set("cat", filters.cat);
    const hits = await api(`/api/v1/search?${params}`, { auth: false }).catch(emptyUnlessStale);
    box.innerHTML = hits.length ? hits.map((h) => `<li role="option"><a href="#/show/${h.show_id}">${esc(h.title)} <span class="muted">· ${esc(h.venue_name)}, ${esc(h.city)} · ${when(h.start_time)}</span></a></li>`).join("") : `<li class="muted empty">No shows match “${esc(text)}”</li>`;
    box.hidden = false;
  }
  await list();
}
async function list() {
  const params = new URLSearchParams({ cat: filters.cat, per_page: "60" });
  if (filters.city) params.set("city", filters.city);
  const shows = await api(`/api/v1/shows?${params}`, { auth: false });
  $("#list").innerHTML = shows.length ? shows.map((s) => `
    <li class="card"><span class="pill">${esc(s.category)}</span>
      <a class="title" href="#/show/${s.show_id}">${esc(s.title)}</a>
      <span>${esc(s.venue_name)}, ${esc(s.city)}</span>
      <span class="muted">${when(s.start_time)}</span>
      <span>from <span class="price">${money(s.min_price, s.currency)}</span></span></li>`).join("") : `<li class="muted">No upcoming shows here yet.</li>`;
}

// ---- show page: seat map ----------------------------------------------------
async function showPage(showId) {
  const show = await api(`/api/v1/shows/${showId}`);
  const big = show.seat_count > 2500;
  let section = big ? null : "*";
  const selected = new Set();
  main().innerHTML = `
    <p><a href="#/">← All shows</a></p>
    <h1>${esc(show.title)}</h1>
    <p><span class="pill">${esc(show.category)}</span> ${esc(show.venue_name)}, ${esc(show.address)} · <strong>${when(show.start_time)}</strong> <span class="muted">(${esc(show.timezone)})</span></p>
    <p class="muted">${esc(show.description)}</p>
    <div class="panel"><h2>Prices</h2><table><thead><tr><th>Section</th><th>Price</th><th>Available</th></tr></thead><tbody id="prices"></tbody></table></div>
    <h2>Pick your seats <span class="muted small">(up to ${show.max_seats_per_user} per person)</span></h2>
    <div class="legend"><span><i class="available"></i>available (section colour)</span><span><i class="held"></i>held</span><span><i class="mine"></i>held by you</span><span><i class="sold"></i>sold</span><span>♿ accessible</span></div>
    <div class="sections" id="sections" role="group" aria-label="Sections"></div>
    <div class="map"><div class="stage">STAGE · SCREEN</div><div id="map" aria-label="Seat map"></div></div>
    <div class="panel row"><div id="picked" aria-live="polite">No seats selected.</div><button id="reserve" disabled>Reserve seats</button></div>`;
  const colour = Object.fromEntries(show.sections.map((s) => [s.name, s.colour]));
  $("#prices").innerHTML = show.sections.map((s) => `<tr><td><i class="swatch" data-colour="${esc(s.colour)}"></i> ${esc(s.name)}</td><td>${money(s.price, show.currency)}</td><td>${s.available} / ${s.total}</td></tr>`).join("");
  $("#sections").innerHTML = show.sections.map((s) => `<button data-colour="${esc(s.colour)}" data-section="${esc(s.name)}" aria-pressed="${section === s.name}">${esc(s.name)} · ${money(s.price, show.currency)} · ${s.available} left</button>`).join("") + (big ? "" : "");
  paint(main());
  main().querySelectorAll("[data-section]").forEach((b) => b.addEventListener("click", () => { section = b.dataset.section; main().querySelectorAll("[data-section]").forEach((x) => x.setAttribute("aria-pressed", x === b)); draw(); }));
  let seats = [];
  async function load() { seats = (await api(`/api/v1/shows/${showId}/seats`)).seats; draw(); }
  function draw() {
    const map = $("#map");
    if (!section) { map.innerHTML = `<p class="muted roomy">This venue has ${show.seat_count.toLocaleString()} seats: choose a section above to zoom in.</p>`; return; }
    const shown = seats.filter((s) => section === "*" || s.section === section);
    if (!shown.length) { map.innerHTML = ""; return; }
    const xs = shown.map((s) => s.x), ys = shown.map((s) => s.y);
    const minX = Math.min(...xs), minY = Math.min(...ys), size = 22;
    const w = (Math.max(...xs) - minX + 1) * size + 40, h = (Math.max(...ys) - minY + 1) * size + 10;
    const rowLabels = new Map(); shown.forEach((s) => { if (!rowLabels.has(s.y)) rowLabels.set(s.y, s.row); });
    map.innerHTML = `<svg width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="group" aria-label="Seats">
      ${[...rowLabels].map(([y, r]) => `<text x="2" y="${(y - minY) * size + 15}" fill="#8889a8" font-size="10">${esc(r)}</text>`).join("")}
      ${shown.map((s) => {
        const cls = ["seat", s.status === "held" ? (s.mine ? "mine" : "held") : s.status, selected.has(s.seat_id) ? "selected" : ""].join(" ");
        const label = `${s.seat_id}, ${s.section}, ${money(s.price, show.currency)}, ${s.mine ? "held by you" : s.status}${s.accessible ? ", accessible" : ""}`;
        return `<g class="${cls}" data-seat="${esc(s.seat_id)}" tabindex="${s.status === "available" ? 0 : -1}" role="button" aria-pressed="${selected.has(s.seat_id)}" aria-label="${esc(label)}"><title>${esc(label)}</title>
          <rect x="${(s.x - minX) * size + 30}" y="${(s.y - minY) * size + 2}" width="${size - 4}" height="${size - 4}" rx="4" fill="${esc(colour[s.section] || "#7c3aed")}"></rect>
          ${s.accessible ? `<text x="${(s.x - minX) * size + 33}" y="${(s.y - minY) * size + 16}" font-size="11" fill="#fff">♿</text>` : ""}</g>`;
      }).join("")}</svg>`;
    map.querySelectorAll("[data-seat]").forEach((g) => {
      const toggle = () => {
        const seat = shown.find((s) => s.seat_id === g.dataset.seat);
        if (!seat || (seat.status !== "available" && !seat.mine)) return;
        if (selected.has(seat.seat_id)) selected.delete(seat.seat_id);
        else if (selected.size >= show.max_seats_per_user) { toast(`You can pick at most ${show.max_seats_per_user} seats for this show.`); return; }
        else selected.add(seat.seat_id);
        picked(); draw();
      };
      g.addEventListener("click", toggle);
      g.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); toggle(); } });
    });
  }
  function picked() {
    const list = seats.filter((s) => selected.has(s.seat_id));
    const total = list.reduce((a, s) => a + Number(s.price), 0);
    $("#picked").textContent = list.length ? `${list.map((s) => s.seat_id).join(", ")} · ${money(total, show.currency)}` : "No seats selected.";
    $("#reserve").disabled = !list.length;
  }
  $("#reserve").addEventListener("click", async () => {
    if (!session.access) { sessionStorage.setItem("bo.after", location.hash); location.hash = "#/login"; return; }
    try {
      const hold = await api("/api/v1/book/reserve", { method: "POST", body: { show_id: showId, seat_ids: [...selected] } });
      const prices = seats.filter((s) => selected.has(s.seat_id)).map((s) => Number(s.price));
      sessionStorage.setItem("bo.checkout", JSON.stringify({ ...hold, title: show.title, venue: show.venue_name, start: show.start_time, currency: show.currency, total: prices.reduce((a, b) => a + b, 0), key: crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2) }));
      location.hash = "#/checkout";
    } catch (e) { toast(human(e)); selected.clear(); picked(); await load(); }
  });
  await load();
  // Stay current without a reload.
  const poll = setInterval(() => load().catch(() => {}), 3000);
  stopPage = () => clearInterval(poll);
}

// ---- checkout: countdown and sandbox card ----------------------------------
async function checkout() {
  const hold = JSON.parse(sessionStorage.getItem("bo.checkout") || "null");
  if (!hold) { main().innerHTML = `<h1>Nothing to pay for</h1><p><a href="#/">Find a show</a></p>`; return; }
  main().innerHTML = `
    <h1>Checkout</h1>
    <div class="panel"><strong>${esc(hold.title)}</strong><br>${esc(hold.venue)} · ${when(hold.start)}<br>Seats: <strong>${hold.seat_ids.map(esc).join(", ")}</strong><br>Total: <span class="price">${money(hold.total, hold.currency)}</span></div>
    <div class="panel"><p>Your seats are held for you for</p><div class="countdown" id="countdown" role="timer" aria-live="off">--:--</div><p class="muted" id="hold-note"></p></div>
    <form class="panel" id="pay"><h2>Pay with a card (sandbox)</h2>
      <label for="card">Card</label><select id="card"><option value="tok_visa">Visa ending 4242 (approves)</option><option value="tok_mastercard">Mastercard ending 4444 (approves)</option><option value="tok_declined">Card ending 0002 (declined)</option></select>
      <div class="row gap-top"><button type="submit" id="pay-button">Pay ${money(hold.total, hold.currency)}</button><button type="button" class="secondary" id="release">Release seats</button></div>
    </form>`;
  const deadline = new Date(hold.expires_at).getTime();
  const tick = () => {
    const left = Math.max(0, deadline - Date.now());
    const m = Math.floor(left / 60000), s = Math.floor((left % 60000) / 1000);
    const el = $("#countdown"); if (!el) return;
    el.textContent = `${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
    el.classList.toggle("low", left < 60000);
    if (left === 0) {
      clearInterval(timer);
      $("#hold-note").textContent = "Time is up: your hold has expired and the seats were released.";
      $("#pay-button").disabled = true;
      sessionStorage.removeItem("bo.checkout");
    }
  };
  const timer = setInterval(tick, 250); tick();
  stopPage = () => clearInterval(timer);
  $("#release").addEventListener("click", async () => {
    try { await api("/api/v1/book/reserve", { method: "DELETE", body: { show_id: hold.show_id, seat_ids: hold.seat_ids } }); } catch {}
    sessionStorage.removeItem("bo.checkout"); location.hash = `#/show/${hold.show_id}`;
  });
  $("#pay").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("#pay-button").disabled = true;
    try {
      const booking = await api("/api/v1/book", { method: "POST", headers: { "Idempotency-Key": hold.key }, body: { show_id: hold.show_id, seat_ids: hold.seat_ids, payment: { method: "card", token: $("#card").value } } });
      sessionStorage.removeItem("bo.checkout");
      location.hash = `#/booking/${booking.booking_id}`;
    } catch (err) {
      // A declined card keeps the hold: another card can be tried with a new key.
      if (err.body?.error_code === "PAYMENT_DECLINED") { hold.key = crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2); sessionStorage.setItem("bo.checkout", JSON.stringify(hold)); }
      toast(human(err)); $("#pay-button").disabled = false;
    }
  });
}

// ---- bookings and QR tickets ------------------------------------------------
async function qrImage(ticketId) {
  const res = await fetch(`/api/v1/tickets/${ticketId}/qr.png`, { headers: { authorization: `Bearer ${session.access}` } });
  return res.ok ? URL.createObjectURL(await res.blob()) : "";
}
async function bookingPage(id) {
  const b = await api(`/api/v1/bookings/${id}`);
  main().innerHTML = `
    <h1>${b.status === "confirmed" ? "You're going!" : "Booking cancelled"}</h1>
    <div class="panel"><strong>${esc(b.title)}</strong><br>${esc(b.venue_name)}, ${esc(b.city)} · ${when(b.start_time)}<br>Booking ${b.booking_id} · ${money(b.total, b.currency)} · payment ${esc(b.payment_status)} <span class="muted">${esc(b.transaction_id)}</span></div>
    <h2>Tickets</h2><div class="qr" id="qr"></div>
    ${b.status === "confirmed" ? `<p><button class="secondary" id="cancel">Cancel booking and refund</button></p>` : ""}
    <p><a href="#/bookings">All my bookings</a></p>`;
  // Wired before the QR images load: once the visitor has moved on, this page must not touch
  // the next one (another booking's cancel button, say).
  $("#cancel")?.addEventListener("click", async () => {
    if (!confirm("Cancel this booking? You will be refunded.")) return;
    try { await api(`/api/v1/bookings/${id}/cancel`, { method: "POST", body: {} }); toast("Booking cancelled and refunded.", true); route(); }
    catch (e) { toast(human(e)); }
  });
  const qr = $("#qr");
  for (const t of b.tickets) {
    const src = t.status === "valid" ? await qrImage(t.ticket_id) : "";
    qr.insertAdjacentHTML("beforeend", `<figure>${src ? `<img alt="QR code for seat ${esc(t.seat_id)}" src="${src}">` : `<p>void</p>`}<figcaption>Seat <strong>${esc(t.seat_id)}</strong> · ${esc(t.section)}</figcaption></figure>`);
  }
}
async function myBookings() {
  if (!session.access) { location.hash = "#/login"; return; }
  const list = await api("/api/v1/bookings");
  main().innerHTML = `<h1>My bookings</h1>${list.length ? `<table><thead><tr><th>Show</th><th>When</th><th>Seats</th><th>Status</th></tr></thead><tbody>${list.map((b) => `<tr><td><a href="#/booking/${b.booking_id}">${esc(b.title)}</a></td><td>${when(b.start_time)}</td><td>${b.seat_ids.map(esc).join(", ")}</td><td>${esc(b.status)}</td></tr>`).join("")}</tbody></table>` : `<p class="muted">No bookings yet. <a href="#/">Find a show</a></p>`}`;
}

// ---- sign in / sign up --------------------------------------------------------
async function signedIn(tokens) {
  session.save(tokens);
  localStorage.setItem("bo.user", JSON.stringify(await api("/api/v1/me")));
  renderNav();
  location.hash = sessionStorage.getItem("bo.after") || "#/";
  sessionStorage.removeItem("bo.after");
}
function loginPage() {
  main().innerHTML = `<h1>Sign in</h1><form class="panel narrow" id="f">
    <label for="email">Email</label><input id="email" type="email" autocomplete="email" required>
    <label for="password">Password</label><input id="password" type="password" autocomplete="current-password" required>
    <p><button type="submit">Sign in</button></p><p class="muted">New here? <a href="#/signup">Create an account</a></p></form>`;
  $("#f").addEventListener("submit", async (e) => {
    e.preventDefault();
    try { await signedIn(await api("/api/v1/auth/login", { method: "POST", auth: false, body: { email: $("#email").value, password: $("#password").value } })); }
    catch (err) { toast(human(err)); }
  });
}
function signupPage() {
  main().innerHTML = `<h1>Create your account</h1><form class="panel narrow" id="f">
    <label for="name">Name</label><input id="name" autocomplete="name" required>
    <label for="email">Email</label><input id="email" type="email" autocomplete="email" required>
    <label for="password">Password (8+ characters)</label><input id="password" type="password" autocomplete="new-password" minlength="8" required>
    <label><input type="checkbox" id="organiser"> I organise events</label>
    <label><input type="checkbox" id="owner"> I own a venue</label>
    <p><button type="submit">Sign up</button></p></form>`;
  $("#f").addEventListener("submit", async (e) => {
    e.preventDefault();
    const roles = [...($("#organiser").checked ? ["organiser"] : []), ...($("#owner").checked ? ["venue_owner"] : [])];
    const body = { email: $("#email").value, password: $("#password").value, name: $("#name").value, roles };
    try {
      await api("/api/v1/auth/register", { method: "POST", auth: false, body });
      await signedIn(await api("/api/v1/auth/login", { method: "POST", auth: false, body: { email: body.email, password: body.password } }));
    } catch (err) { toast(human(err)); }
  });
}

// ---- organiser --------------------------------------------------------------
async function organiserPage(showId) {
  if (!session.access) { location.hash = "#/login"; return; }
  if (showId) return salesPage(showId);
  const venues = await api("/api/v1/venues");
  main().innerHTML = `<h1>Organise</h1>
    <form class="panel" id="ev"><h2>1. Create an event</h2><div class="row">
      <div><label for="title">Title</label><input id="title" required></div>
      <div><label for="cat">Category</label><select id="cat"><option value="movie">Movie</option><option value="concert">Concert</option></select></div></div>
      <label for="desc">Description</label><textarea id="desc" rows="2"></textarea>
      <p><button type="submit">Create event</button></p></form>
    <form class="panel" id="sh"><h2>2. Add a show</h2><div class="row">
      <div><label for="event">Event id</label><input id="event" type="number" required></div>
      <div><label for="venue">Venue</label><select id="venue">${venues.map((v) => `<option value="${v.venue_id}">${esc(v.name)} (${esc(v.city)}, ${v.seat_count} seats)</option>`).join("")}</select></div>
      <div><label for="start">Starts (venue time)</label><input id="start" type="datetime-local" required></div>
      <div><label for="end">Ends</label><input id="end" type="datetime-local" required></div></div>
      <div id="prices"></div><p><button type="submit">Create draft show</button></p></form>
    <div class="panel" id="made" aria-live="polite"></div>`;
  const priceInputs = async () => {
    const v = await api(`/api/v1/venues/${$("#venue").value}`, { auth: false });
    $("#prices").innerHTML = `<div class="row">${v.sections.map((s) => `<div><label for="p-${esc(s.name)}">Price: ${esc(s.name)}</label><input id="p-${esc(s.name)}" data-section="${esc(s.name)}" type="number" min="0" step="0.01" required></div>`).join("")}</div>`;
  };
  $("#venue").addEventListener("change", priceInputs); if (venues.length) await priceInputs();
  $("#ev").addEventListener("submit", async (e) => {
    e.preventDefault();
    try { const ev = await api("/api/v1/events", { method: "POST", body: { title: $("#title").value, category: $("#cat").value, description: $("#desc").value } }); $("#event").value = ev.event_id; toast(`Event ${ev.event_id} created.`, true); }
    catch (err) { toast(human(err)); }
  });
  $("#sh").addEventListener("submit", async (e) => {
    e.preventDefault();
    const prices = [...main().querySelectorAll("#prices [data-section]")].map((i) => ({ section: i.dataset.section, price: Number(i.value) }));
    try {
      const show = await api(`/api/v1/events/${$("#event").value}/shows`, { method: "POST", body: { venue_id: Number($("#venue").value), start_time: $("#start").value, end_time: $("#end").value, currency: "INR", prices } });
      $("#made").innerHTML = `Draft show ${show.show_id} created. <button id="launch">Launch show</button> <a href="#/organiser/${show.show_id}">Sales page</a>`;
      $("#launch").addEventListener("click", async () => {
        try { await api(`/api/v1/shows/${show.show_id}/launch`, { method: "POST", body: {} }); toast("Show launched: it is on sale.", true); location.hash = `#/organiser/${show.show_id}`; }
        catch (err) { toast(human(err)); }
      });
    } catch (err) { toast(human(err)); }
  });
}
async function salesPage(showId) {
  const draw = async () => {
    const s = await api(`/api/v1/shows/${showId}`);
    const revenue = s.sections.reduce((a, x) => a + x.sold * Number(x.price), 0);
    main().innerHTML = `<h1>Sales: ${esc(s.title)}</h1><p>${esc(s.venue_name)} · ${when(s.start_time)} · <span class="pill">${esc(s.status)}</span></p>
      <table><thead><tr><th>Section</th><th>Price</th><th>Sold</th><th>Held</th><th>Available</th></tr></thead><tbody>
      ${s.sections.map((x) => `<tr><td>${esc(x.name)}</td><td>${money(x.price, s.currency)}</td><td>${x.sold}</td><td>${x.held}</td><td>${x.available}</td></tr>`).join("")}</tbody></table>
      <p class="panel">Revenue: <span class="price">${money(revenue, s.currency)}</span></p>
      <div class="row">${s.status === "draft" ? '<button id="launch">Launch</button>' : ""}${s.status === "live" || s.status === "draft" ? '<button class="secondary" id="cancel">Cancel show</button>' : ""}
      <label><input type="checkbox" id="queue" ${s.queue.enabled ? "checked" : ""}> Waiting room</label></div>`;
    $("#launch")?.addEventListener("click", async () => { try { await api(`/api/v1/shows/${showId}/launch`, { method: "POST", body: {} }); draw(); } catch (e) { toast(human(e)); } });
    $("#cancel")?.addEventListener("click", async () => { if (confirm("Cancel the show and refund every booking?")) { try { await api(`/api/v1/shows/${showId}/cancel`, { method: "POST", body: {} }); draw(); } catch (e) { toast(human(e)); } } });
    $("#queue").addEventListener("change", async (e) => { try { await api(`/api/v1/shows/${showId}`, { method: "PATCH", body: { queue: { enabled: e.target.checked } } }); } catch (err) { toast(human(err)); } });
  };
  await draw();
  const poll = setInterval(() => draw().catch(() => {}), 5000);
  stopPage = () => clearInterval(poll);
}

// ---- venue owner --------------------------------------------------------------
// Layout lines: "Section, priority: A 20 skip 7 acc 1 2; B 12"
function parseLayout(text) {
  return text.split("\n").map((l) => l.trim()).filter(Boolean).map((line) => {
    const [head, rows = ""] = line.split(":");
    const [name, priority = "0"] = head.split(",").map((x) => x.trim());
    return { name, priority: Number(priority), rows: rows.split(";").map((r) => r.trim()).filter(Boolean).map((r) => {
      const parts = r.split(/\s+/); const row = { label: parts[0], count: Number(parts[1]) };
      const skipAt = parts.indexOf("skip"), accAt = parts.indexOf("acc");
      if (skipAt > 0) row.skip = parts.slice(skipAt + 1, accAt > skipAt ? accAt : undefined).map(Number);
      if (accAt > 0) row.accessible = parts.slice(accAt + 1).map(Number);
      return row;
    }) };
  });
}
async function venuesPage() {
  if (!session.access) { location.hash = "#/login"; return; }
  main().innerHTML = `<h1>Onboard a venue</h1><form class="panel" id="vf"><div class="row">
    <div><label for="vname">Name</label><input id="vname" required></div><div><label for="vcity">City</label><input id="vcity" required></div>
    <div><label for="vaddr">Address</label><input id="vaddr" required></div><div><label for="vtz">Time zone</label><input id="vtz" value="Asia/Kolkata" required></div></div>
    <label for="layout">Layout: one section per line — <code>Name, priority: ROW COUNT [skip N…] [acc N…]; …</code></label>
    <textarea id="layout" rows="5">Gold, 0: A 10 acc 1; B 12 skip 7
Silver, 1: C 14; D 14</textarea>
    <div class="row gap-top"><button type="button" class="secondary" id="preview">Preview map</button><button type="submit">Save venue</button></div></form>
    <div class="map"><div id="map"></div></div>`;
  const body = () => ({ name: $("#vname").value, city: $("#vcity").value, address: $("#vaddr").value, timezone: $("#vtz").value, sections: parseLayout($("#layout").value) });
  $("#preview").addEventListener("click", async () => {
    try {
      const p = await api("/api/v1/venues/preview", { method: "POST", body: { sections: body().sections } });
      const colour = Object.fromEntries(p.sections.map((s) => [s.name, s.colour]));
      const w = Math.max(...p.seats.map((s) => s.x)) * 22 + 40, h = Math.max(...p.seats.map((s) => s.y)) * 22 + 30;
      $("#map").innerHTML = `<p>${p.seat_count} seats</p><svg width="${w}" height="${h}">${p.seats.map((s) => `<rect x="${s.x * 22 + 10}" y="${s.y * 22 + 4}" width="18" height="18" rx="4" fill="${colour[s.section]}"><title>${esc(s.seat_id)}</title></rect>`).join("")}</svg>`;
    } catch (e) { toast(human(e)); }
  });
  $("#vf").addEventListener("submit", async (e) => {
    e.preventDefault();
    try { const v = await api("/api/v1/venues", { method: "POST", body: body() }); toast(`Venue ${v.venue_id} saved with ${v.seat_count} seats.`, true); }
    catch (err) { toast(human(err)); }
  });
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", () => { renderNav(); scheduleRefresh(); route(); });
