// A booking with one card per ticket (event, date, venue, section, row, seat and a large QR
// code) and a calendar file; the visitor's bookings, upcoming and past.

import { api, human, imageUrl, session } from "./api.js";
import { nullUnlessStale, route } from "./router.js";
import { append, html, render } from "./template.js";
import { $, flash, main, money, toast, when } from "./ui.js";

// "F14" → row "F", seat "14"; "GNAB51" → row "GNAB", seat "51".
const split = (label) => {
  const m = /^(.*?)(\d+)$/.exec(label);
  return m ? { row: m[1], seat: m[2] } : { row: "", seat: label };
};

function ticketCard(b, t, src) {
  const { row, seat } = split(t.seat_id);
  const valid = t.status === "valid";
  return html`<li class="ticket ${valid ? "" : "void"}"><header><strong>${b.title}</strong>
    <span>${when(b.start_time)}</span><br><span>${b.venue_name}, ${b.city}</span></header>
    <div class="seatline"><div><span>Section</span><b>${t.section}</b></div><div><span>Row</span>
      <b>${row}</b></div><div><span>Seat</span><b>${seat}</b></div></div>
    <div class="code">${valid && src
      ? html`<img alt="QR code of the ticket for seat ${t.seat_id}" src="${src}" width="240"
          height="240">${t.checked_in_at ? html`<p>Checked in</p>` : html`<p class="small">Show
          this at the entrance</p>`}`
      : html`<p>${valid ? "Ticket code is on its way…" : "Cancelled: this ticket is void"}</p>`}
    </div></li>`;
}

// An iCalendar file for the show (RFC 5545), as a data: URL the visitor downloads.
function calendar(b, show) {
  const utc = (iso) => new Date(iso).toISOString().replace(/[-:]/g, "").replace(/\.\d+/, "");
  const text = (s) => String(s).replace(/[\\;,]/g, (c) => `\\${c}`).replace(/\r?\n/g, "\\n");
  const end = show?.end_time || new Date(Date.parse(b.start_time) + 3 * 3600e3).toISOString();
  const place = show ? `${b.venue_name}, ${show.address}` : `${b.venue_name}, ${b.city}`;
  const lines = [
    "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//boxoffice//tickets//EN", "BEGIN:VEVENT",
    `UID:booking-${b.booking_id}@boxoffice`, `DTSTAMP:${utc(new Date().toISOString())}`,
    `DTSTART:${utc(b.start_time)}`, `DTEND:${utc(end)}`, `SUMMARY:${text(b.title)}`,
    `LOCATION:${text(place)}`,
    `DESCRIPTION:${text(`Booking ${b.booking_id}: seats ${b.seat_ids.join(", ")}`)}`,
    "END:VEVENT", "END:VCALENDAR",
  ];
  return `data:text/calendar;charset=utf-8,${encodeURIComponent(`${lines.join("\r\n")}\r\n`)}`;
}

const PAID = { captured: "Paid", refunded: "Refunded", authorized: "Payment pending" };

export async function bookingPage(page, id) {
  const b = await api(`/api/v1/bookings/${Number(id)}`);
  const show = await api(`/api/v1/shows/${b.show_id}`).catch(nullUnlessStale);
  const confirmed = b.status === "confirmed";
  document.title = `${b.title}: your tickets — boxoffice`;
  render(
    main(),
    html`
    <h1>${confirmed ? "You're going!" : "Booking cancelled"}</h1>
    <div class="panel"><strong>${b.title}</strong><br>${when(b.start_time)} · ${b.venue_name},
      ${b.city}<br>${b.tickets.length} ${b.tickets.length === 1 ? "ticket" : "tickets"} ·
      ${money(b.total, b.currency)} · ${PAID[b.payment_status] || b.payment_status || ""}
      <span class="muted small">· booking ${b.booking_id}${b.transaction_id &&
        html`, payment reference ${b.transaction_id}`}</span>
      ${confirmed && html`<p class="gap-top"><a class="btn secondary" id="ics" download="${
        b.title.replace(/[^\w -]+/g, "").trim() || "show"}.ics" href="${
        calendar(b, show)}">Add to calendar</a></p>`}</div>
    <h2>Tickets</h2><ul class="tickets" id="qr" aria-label="Tickets"></ul>
    ${confirmed &&
    html`<p><button class="secondary" id="cancel">Cancel booking and refund</button></p>`}
    <p><a href="#/bookings">All my tickets</a></p>`,
  );
  // Wired before the QR images load; it ends when the visitor moves on, so this page never
  // touches the next one (another booking's cancel button, say).
  page.on("click", "#cancel", async () => {
    if (!confirm("Cancel this booking? You will be refunded.")) return;
    try {
      await api(`/api/v1/bookings/${b.booking_id}/cancel`, { method: "POST", body: {} });
      flash("Booking cancelled: the refund is on its way to your card.", true);
      route();
    } catch (e) {
      toast(human(e));
    }
  });
  const list = $("#qr");
  for (const t of b.tickets) {
    const valid = t.status === "valid";
    const src = valid ? await imageUrl(`/api/v1/tickets/${t.ticket_id}/qr.png`) : "";
    if (!list.isConnected) return;
    append(list, ticketCard(b, t, src));
  }
}

const item = (b) => html`<li><a class="title" href="#/booking/${b.booking_id}">${b.title}</a>
  <span class="status ${b.status}">${b.status}</span><br>${when(b.start_time)} · ${
  b.venue_name}, ${b.city}<br><span class="muted small">${b.seat_ids.length} ${
  b.seat_ids.length === 1 ? "seat" : "seats"}: ${b.seat_ids.join(", ")} · ${
  money(b.total, b.currency)}</span></li>`;

export async function bookingsPage(page) {
  if (!session.access) {
    sessionStorage.setItem("bo.after", location.hash);
    location.hash = "#/login";
    return;
  }
  document.title = "My tickets — boxoffice";
  const list = await api("/api/v1/bookings");
  // A show stays upcoming until a few hours after it starts (late arrivals need their tickets).
  const over = (b) => Date.parse(b.start_time) + 4 * 3600e3 < Date.now();
  const upcoming = list
    .filter((b) => !over(b))
    .sort((a, b) => Date.parse(a.start_time) - Date.parse(b.start_time));
  const past = list.filter(over);
  const section = (title, items, empty) => html`<h2>${title}</h2>${items.length
    ? html`<ul class="booking-list">${items.map(item)}</ul>`
    : html`<p class="muted">${empty}</p>`}`;
  render(
    main(),
    html`<h1>My tickets</h1>
    ${section("Upcoming", upcoming, html`Nothing coming up. <a href="#/">Find a show</a>`)}
    ${past.length > 0 && section("Past", past, "")}`,
  );
}
