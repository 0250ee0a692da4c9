// A booking with its QR tickets, and the list of the visitor's bookings.

import { api, human, imageUrl, session } from "./api.js";
import { route } from "./router.js";
import { append, html, render } from "./template.js";
import { $, main, money, toast, when } from "./ui.js";

const ticket = (t, src) => html`<figure>${
  src ? html`<img alt="QR code for seat ${t.seat_id}" src="${src}">` : html`<p>void</p>`
}<figcaption>Seat <strong>${t.seat_id}</strong> · ${t.section}</figcaption></figure>`;

export async function bookingPage(page, id) {
  const b = await api(`/api/v1/bookings/${Number(id)}`);
  const confirmed = b.status === "confirmed";
  render(
    main(),
    html`
    <h1>${confirmed ? "You're going!" : "Booking cancelled"}</h1>
    <div class="panel"><strong>${b.title}</strong><br>${b.venue_name}, ${b.city} ·
      ${when(b.start_time)}<br>Booking ${b.booking_id} · ${money(b.total, b.currency)} ·
      payment ${b.payment_status} <span class="muted">${b.transaction_id}</span></div>
    <h2>Tickets</h2><div class="qr" id="qr"></div>
    ${confirmed &&
    html`<p><button class="secondary" id="cancel">Cancel booking and refund</button></p>`}
    <p><a href="#/bookings">All my bookings</a></p>`,
  );
  // Wired before the QR images load; it ends when the visitor moves on, so this page never
  // touches the next one (another booking's cancel button, say).
  page.on("click", "#cancel", async () => {
    if (!confirm("Cancel this booking? You will be refunded.")) return;
    try {
      await api(`/api/v1/bookings/${b.booking_id}/cancel`, { method: "POST", body: {} });
      toast("Booking cancelled and refunded.", true);
      route();
    } catch (e) {
      toast(human(e));
    }
  });
  const qr = $("#qr");
  for (const t of b.tickets) {
    const valid = t.status === "valid";
    const src = valid ? await imageUrl(`/api/v1/tickets/${t.ticket_id}/qr.png`) : "";
    append(qr, ticket(t, src));
  }
}

const row = (b) => html`<tr><td><a href="#/booking/${b.booking_id}">${b.title}</a></td>
  <td>${when(b.start_time)}</td><td>${b.seat_ids.join(", ")}</td><td>${b.status}</td></tr>`;

export async function bookingsPage() {
  if (!session.access) {
    location.hash = "#/login";
    return;
  }
  const list = await api("/api/v1/bookings");
  const table = html`<table><thead><tr><th>Show</th><th>When</th><th>Seats</th><th>Status</th>
    </tr></thead><tbody>${list.map(row)}</tbody></table>`;
  const none = html`<p class="muted">No bookings yet. <a href="#/">Find a show</a></p>`;
  render(main(), html`<h1>My bookings</h1>${list.length ? table : none}`);
}
