// Checkout: the hold's 10-minute countdown and the sandbox card.

import { api, human } from "./api.js";
import { backToRoom, isPassRefusal, passHeaders } from "./queue.js";
import { html, render } from "./template.js";
import { $, main, money, newKey, toast, when } from "./ui.js";

const CARDS = html`<option value="tok_visa">Visa ending 4242 (approves)</option>
  <option value="tok_mastercard">Mastercard ending 4444 (approves)</option>
  <option value="tok_declined">Card ending 0002 (declined)</option>`;

export function checkoutPage(page) {
  const hold = JSON.parse(sessionStorage.getItem("bo.checkout") || "null");
  if (!hold) {
    render(main(), html`<h1>Nothing to pay for</h1><p><a href="#/">Find a show</a></p>`);
    return;
  }
  const total = money(hold.total, hold.currency);
  render(
    main(),
    html`
    <h1>Checkout</h1>
    <div class="panel"><strong>${hold.title}</strong><br>${hold.venue} · ${when(hold.start)}<br>
      Seats: <strong>${hold.seat_ids.join(", ")}</strong><br>
      Total: <span class="price">${total}</span></div>
    <div class="panel"><p>Your seats are held for you for</p>
      <div class="countdown" id="countdown" role="timer" aria-live="off">--:--</div>
      <p class="muted" id="hold-note"></p></div>
    <form class="panel" id="pay"><h2>Pay with a card (sandbox)</h2>
      <label for="card">Card</label><select id="card">${CARDS}</select>
      <div class="row gap-top"><button type="submit" id="pay-button">Pay ${total}</button>
        <button type="button" class="secondary" id="release">Release seats</button></div>
    </form>`,
  );
  const deadline = new Date(hold.expires_at).getTime();
  const tick = () => {
    const left = Math.max(0, deadline - Date.now());
    const m = Math.floor(left / 60000);
    const s = Math.floor((left % 60000) / 1000);
    const el = $("#countdown");
    if (!el) return;
    el.textContent = `${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
    el.classList.toggle("low", left < 60000);
    if (left === 0) {
      clearInterval(timer);
      $("#hold-note").textContent =
        "Time is up: your hold has expired and the seats were released.";
      $("#pay-button").disabled = true;
      sessionStorage.removeItem("bo.checkout");
    }
  };
  const timer = page.every(250, tick);
  tick();

  page.on("click", "#release", async () => {
    try {
      const body = { show_id: hold.show_id, seat_ids: hold.seat_ids };
      await api("/api/v1/book/reserve", { method: "DELETE", body });
    } catch {}
    sessionStorage.removeItem("bo.checkout");
    location.hash = `#/show/${hold.show_id}`;
  });
  page.on("submit", "#pay", async (e) => {
    e.preventDefault();
    $("#pay-button").disabled = true;
    const payment = { method: "card", token: $("#card").value };
    try {
      const booking = await api("/api/v1/book", {
        method: "POST",
        // Seats held with a pass may be booked a little after it ran out: send it anyway.
        headers: { "Idempotency-Key": hold.key, ...passHeaders(hold.show_id, { expired: true }) },
        body: { show_id: hold.show_id, seat_ids: hold.seat_ids, payment },
      });
      sessionStorage.removeItem("bo.checkout");
      location.hash = `#/booking/${booking.booking_id}`;
    } catch (err) {
      if (isPassRefusal(err)) {
        sessionStorage.removeItem("bo.checkout");
        backToRoom(hold.show_id, err);
        return;
      }
      // A declined card keeps the hold: another card can be tried with a new key.
      if (err.body?.error_code === "PAYMENT_DECLINED") {
        hold.key = newKey();
        sessionStorage.setItem("bo.checkout", JSON.stringify(hold));
      }
      toast(human(err));
      $("#pay-button").disabled = false;
    }
  });
}
