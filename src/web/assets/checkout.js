// Checkout (`#/checkout/{show}`): the visitor's live hold on a show, read from the server (so a
// reload, a second tab or signing in again all find it), its order summary by section, the
// hold's countdown and the sandbox card. When the hold is gone there is a way back to the seats.

import { api, human, serverNow, session } from "./api.js";
import { backToRoom, isPassRefusal, passHeaders } from "./queue.js";
import { seatsOf } from "./seatmap.js";
import { html, render } from "./template.js";
import { $, main, money, newKey, toast, when } from "./ui.js";

const CARDS = html`<option value="tok_visa">Visa ending 4242 (approves)</option>
  <option value="tok_mastercard">Mastercard ending 4444 (approves)</option>
  <option value="tok_declined">Card ending 0002 (declined)</option>`;

// The booking's idempotency key: one per hold (the same seats), kept across reloads so a
// retried payment can never book twice; a declined card gets a fresh one.
const keyName = (showId) => `bo.key.${showId}`;
function bookingKey(showId, seats, fresh = false) {
  const id = [...seats].sort().join(",");
  try {
    const k = JSON.parse(sessionStorage.getItem(keyName(showId)) || "null");
    if (!fresh && k && k.seats === id) return k.key;
  } catch {}
  const key = newKey();
  sessionStorage.setItem(keyName(showId), JSON.stringify({ seats: id, key }));
  return key;
}

function lines(seats, cur) {
  const bySection = new Map();
  for (const s of seats) {
    const l = bySection.get(s.section) || { section: s.section, price: s.price, seats: [] };
    l.seats.push(s.seat_id);
    bySection.set(s.section, l);
  }
  return [...bySection.values()].map(
    (l) => html`<tr><td><strong>${l.section}</strong> × ${l.seats.length}<br><span
      class="muted small">${l.seats.join(", ")} · ${money(l.price, cur)} each</span></td><td>${
      money(Number(l.price) * l.seats.length, cur)}</td></tr>`,
  );
}

function gone(showId, title) {
  render(
    main(),
    html`<h1>Your seats are no longer held</h1>
    <div class="panel"><p>${title ? html`Your hold for <strong>${title}</strong>` : "Your hold"}
      has ended: the seats went back on sale. Pick seats again; if they are still free, they
      are yours to hold for another 10 minutes.</p>
      <p><a class="btn" href="#/show/${showId}">Pick seats again</a></p></div>`,
  );
}

export async function checkoutPage(page, id) {
  const showId = Number(id);
  if (!showId) {
    render(main(), html`<h1>Nothing to pay for</h1><p><a href="#/">Find a show</a></p>`);
    return;
  }
  if (!session.access) {
    sessionStorage.setItem("bo.after", location.hash);
    location.hash = "#/login";
    return;
  }
  document.title = "Checkout — boxoffice";
  const [show, held, layout] = await Promise.all([
    api(`/api/v1/shows/${showId}`),
    api(`/api/v1/shows/${showId}/holds/mine`),
    api(`/api/v1/shows/${showId}/layout`),
  ]);
  if (!held.seat_ids.length) return gone(showId, show.title);
  const byLabel = new Map(seatsOf(layout).map((s) => [s.seat_id, s]));
  const seats = held.seat_ids.map((l) => byLabel.get(l)).filter(Boolean);
  const cur = show.currency;
  const total = money(seats.reduce((a, s) => a + Number(s.price), 0), cur);
  render(
    main(),
    html`
    <p><a href="#/show/${showId}">← Change seats</a></p>
    <h1>Checkout</h1>
    <div class="two"><div>
      <section class="panel" aria-labelledby="order"><h2 id="order">${show.title}</h2>
        <p>${when(show.start_time)} · ${show.venue_name}, ${show.city}</p>
        <table class="summary"><thead><tr><th>Tickets</th><th>Amount</th></tr></thead>
        <tbody>${lines(seats, cur)}<tr><td>Booking fee</td><td>${money(0, cur)}</td></tr></tbody>
        <tfoot><tr><td>Total</td><td id="total">${total}</td></tr></tfoot></table></section>
      <form class="panel" id="pay"><h2>Pay with a card (sandbox)</h2>
        <label for="card">Card</label><select id="card">${CARDS}</select>
        <div class="row gap-top"><button type="submit" id="pay-button">Pay ${total}</button>
          <button type="button" class="link" id="release">Release seats</button></div>
      </form></div>
      <div class="panel timer" role="region" aria-label="Time left"><p>Your seats are held for you for</p>
        <div class="countdown" id="countdown" role="timer" aria-live="off">--:--</div>
        <p class="muted" id="hold-note">Pay before the time runs out; after that the seats go
          back on sale.</p></div></div>`,
  );
  const deadline = new Date(held.expires_at).getTime();
  const tick = () => {
    const left = Math.max(0, deadline - serverNow());
    const m = Math.floor(left / 60000);
    const s = Math.floor((left % 60000) / 1000);
    const el = $("#countdown");
    if (!el) return;
    el.textContent = `${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
    el.classList.toggle("low", left < 60000);
    if (left === 0) {
      clearInterval(timer);
      render(
        $("#hold-note"),
        html`Time is up: your hold has ended and the seats went back on sale.
        <a class="btn gap-top" href="#/show/${showId}">Pick seats again</a>`,
      );
      $("#pay-button").disabled = true;
    }
  };
  const timer = page.every(250, tick);
  tick();

  page.on("click", "#release", async () => {
    try {
      await api("/api/v1/book/reserve", {
        method: "DELETE",
        body: { show_id: showId, seat_ids: held.seat_ids },
      });
    } catch {}
    location.hash = `#/show/${showId}`;
  });
  page.on("submit", "#pay", async (e) => {
    e.preventDefault();
    const button = $("#pay-button");
    button.disabled = true;
    button.textContent = "Paying…";
    const payment = { method: "card", token: $("#card").value };
    try {
      const booking = await api("/api/v1/book", {
        method: "POST",
        // Seats held with a pass may be booked a little after it ran out: send it anyway.
        headers: {
          "Idempotency-Key": bookingKey(showId, held.seat_ids),
          ...passHeaders(showId, { expired: true }),
        },
        body: { show_id: showId, seat_ids: held.seat_ids, payment },
      });
      sessionStorage.removeItem(keyName(showId));
      location.hash = `#/booking/${booking.booking_id}`;
    } catch (err) {
      if (isPassRefusal(err)) {
        backToRoom(showId, err);
        return;
      }
      const code = err.body?.error_code;
      // A declined card keeps the hold: another card can be tried with a new key.
      if (code === "PAYMENT_DECLINED") {
        bookingKey(showId, held.seat_ids, true);
        toast("Your card was declined and nothing was charged. Your seats are still held: try another card.");
      } else if (["HOLD_EXPIRED", "SEAT_NOT_AVAILABLE", "SEAT_LOCKED"].includes(code)) {
        return gone(showId, show.title);
      } else toast(human(err));
      button.disabled = false;
      button.textContent = `Pay ${total}`;
    }
  });
}
