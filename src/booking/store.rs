//! Queries on bookings (SPEC §7): the booking transaction, a buyer's bookings with their
//! tickets, and a buyer's cancellation. Idempotency claims live in [`super::idempotency`].

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::idempotency;
use crate::domain::{BookingStatus, PaymentStatus, ShowStatus, TicketStatus};
use crate::events::outbox::topics;
use crate::inventory::{InventorySeat, SaleShow};
use crate::money::Currency;
use crate::store::{Backend, Db};
use crate::{enqueue_outbox, with_db, with_primary_read};

// ---------------------------------------------------------------------------------------------
// Booking

/// The id of the payment recorded for a provider transaction: `Some` once a committed booking
/// uses the authorization.
pub async fn payment_of_transaction(db: &Db, txn: &str) -> Result<Option<i64>, sqlx::Error> {
    with_db!(db, |pool| {
        sqlx::query_scalar("SELECT payment_id FROM payments WHERE transaction_id = $1")
            .bind(txn)
            .fetch_optional(pool)
            .await
    })
}

/// What the booking transaction writes: `seats` of `show` for `user_id`, paid by the
/// authorized provider transaction `transaction_id`.
pub struct NewBooking<'a> {
    pub user_id: i64,
    pub idempotency_key: &'a str,
    pub show: &'a SaleShow,
    pub currency: Currency,
    pub seats: &'a [InventorySeat],
    /// The provider's transaction id of the authorization.
    pub transaction_id: &'a str,
    /// The name of the payment provider.
    pub provider: &'a str,
    pub total_minor: i64,
}

/// Failures the crash tests inject into the booking transaction.
#[derive(Debug, Clone, Copy, Default)]
pub struct BookingFaults {
    /// Terminate the connection (PostgreSQL) once the seats are flipped.
    pub drop_connection: bool,
    /// Sleep [`crate::faults::PAUSE`] before committing.
    pub pause_before_commit: bool,
    /// Give up (roll back) just before committing.
    pub fail_before_commit: bool,
}

/// How the booking transaction ended. Only `Confirmed` committed anything.
#[derive(Debug)]
pub enum BookingOutcome {
    /// Committed; `body` is the response stored with the completed idempotency record.
    Confirmed { booking_id: i64, body: String },
    /// The show is not on sale any more (as of the row locked in the transaction).
    NotOnSale {
        status: ShowStatus,
        start_time: DateTime<Utc>,
    },
    /// The buyer's confirmed seats plus these would exceed the show's per-person cap.
    SeatLimitExceeded { cap: i64, bought: i64 },
    /// Some seats were sold to someone else meanwhile: their labels.
    SeatsTaken(Vec<String>),
    /// A [`BookingFaults`] failure stopped the transaction; the message says which.
    Injected(String),
}

/// The booking transaction: flips the inventory rows of `booking.seats` to `sold` only where
/// still `available` and writes the booking, tickets, payment (`authorized`), the completed
/// idempotency record (with the body `response` renders from the booking id and the
/// `(ticket id, seat id)` of each ticket) and the `booking.confirmed` outbox row; nothing is
/// written unless every seat was flipped.
///
/// Serialises one buyer's bookings (PostgreSQL; SQLite has a single writer already) so the
/// per-person cap is checked against every booking committed before this one; and keeps the
/// show on sale until the transaction ends: cancelling a show updates its row, so it waits for
/// bookings in flight and then cancels them with the rest, and a booking that starts after the
/// cancellation sees it (`tests/integration/booking.rs`,
/// `a_show_cancelled_while_a_booking_commits_leaves_no_sale`).
pub async fn commit_booking(
    db: &Db,
    booking: &NewBooking<'_>,
    faults: BookingFaults,
    response: impl FnOnce(i64, &[(i64, i64)]) -> String,
) -> Result<BookingOutcome, sqlx::Error> {
    let NewBooking {
        user_id,
        idempotency_key: key,
        show,
        currency,
        seats,
        transaction_id: txn,
        provider,
        total_minor: total,
    } = *booking;
    let now = Utc::now();
    let kill_sql = match db.backend() {
        Backend::Postgres => "SELECT pg_terminate_backend(pg_backend_pid())",
        Backend::Sqlite => "SELECT 1",
    };
    let lock_buyer = match db.backend() {
        Backend::Postgres => "SELECT user_id FROM users WHERE user_id = $1 FOR NO KEY UPDATE",
        Backend::Sqlite => "SELECT user_id FROM users WHERE user_id = $1",
    };
    let lock_show = match db.backend() {
        Backend::Postgres => "SELECT status, start_time FROM shows WHERE show_id = $1 FOR SHARE",
        Backend::Sqlite => "SELECT status, start_time FROM shows WHERE show_id = $1",
    };
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        // The hold checked the cap against the seats bought when it was made; a booking of the
        // same buyer that committed since (or at the same time) is only visible from here.
        // Two statements on purpose: under READ COMMITTED the count below takes its snapshot
        // after the lock is granted, so it sees a booking that held the lock before us; a
        // subquery in the locking statement would use that statement's older snapshot.
        sqlx::query(lock_buyer)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let (status, start_time): (ShowStatus, DateTime<Utc>) = sqlx::query_as(lock_show)
            .bind(show.show_id)
            .fetch_one(&mut *tx)
            .await?;
        if status != ShowStatus::Live || start_time <= now {
            tx.rollback().await?;
            return Ok(BookingOutcome::NotOnSale { status, start_time });
        }
        // Selected by buyer alone, the show summed apart: no cached plan can read the show's
        // bookings through its index (see the recount in `super::group`).
        let bought: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(CASE WHEN show_id = $2 THEN seat_count ELSE 0 END), 0)
                    AS BIGINT) FROM bookings
              WHERE user_id = $1 AND status = 'confirmed'",
        )
        .bind(user_id)
        .bind(show.show_id)
        .fetch_one(&mut *tx)
        .await?;
        let cap = i64::from(show.max_seats_per_user);
        if bought + seats.len() as i64 > cap {
            tx.rollback().await?;
            return Ok(BookingOutcome::SeatLimitExceeded { cap, bought });
        }
        let booking_id: i64 = sqlx::query_scalar(
            "INSERT INTO bookings (user_id, show_id, status, total_minor, seat_count, currency, idempotency_key, created_at)
             VALUES ($1, $2, 'confirmed', $3, $7, $4, $5, $6) RETURNING booking_id",
        )
        .bind(user_id)
        .bind(show.show_id)
        .bind(total)
        .bind(currency.code)
        .bind(key)
        .bind(now)
        .bind(seats.len() as i32)
        .fetch_one(&mut *tx)
        .await?;

        let mut qb = sqlx::QueryBuilder::new("UPDATE inventory SET status = 'sold', booking_id = ");
        qb.push_bind(booking_id);
        qb.push(" WHERE show_id = ");
        qb.push_bind(show.show_id);
        qb.push(" AND status = 'available' AND seat_id IN (");
        let mut list = qb.separated(", ");
        for seat in seats {
            list.push_bind(seat.seat_id);
        }
        qb.push(")");
        let flipped = qb.build().execute(&mut *tx).await?.rows_affected();
        if flipped != seats.len() as u64 {
            // Someone else's booking won a seat: find which, write nothing.
            let mut qb = sqlx::QueryBuilder::new("SELECT seat_id FROM inventory WHERE show_id = ");
            qb.push_bind(show.show_id);
            qb.push(" AND status <> 'available' AND (booking_id IS NULL OR booking_id <> ");
            qb.push_bind(booking_id);
            qb.push(") AND seat_id IN (");
            let mut list = qb.separated(", ");
            for seat in seats {
                list.push_bind(seat.seat_id);
            }
            qb.push(")");
            let taken: Vec<i64> = qb.build_query_scalar().fetch_all(&mut *tx).await?;
            tx.rollback().await?;
            let labels = seats
                .iter()
                .filter(|s| taken.contains(&s.seat_id))
                .map(|s| s.label.clone())
                .collect();
            return Ok(BookingOutcome::SeatsTaken(labels));
        }

        if faults.drop_connection {
            // PostgreSQL: the backend terminates itself, so the transaction dies with an I/O
            // error as on a lost connection. SQLite has no server connection to drop.
            let result = sqlx::query(kill_sql).execute(&mut *tx).await.map(|_| ());
            return Ok(BookingOutcome::Injected(format!(
                "connection dropped inside the booking transaction: {result:?}"
            )));
        }

        let mut qb = sqlx::QueryBuilder::new(
            "INSERT INTO tickets (booking_id, show_id, seat_id, price_minor, status) ",
        );
        qb.push_values(seats, |mut b, seat| {
            b.push_bind(booking_id)
                .push_bind(show.show_id)
                .push_bind(seat.seat_id)
                .push_bind(seat.price_minor)
                .push_bind(TicketStatus::Valid);
        });
        qb.push(" RETURNING ticket_id, seat_id");
        let tickets: Vec<(i64, i64)> = qb.build_query_as().fetch_all(&mut *tx).await?;

        sqlx::query(
            "INSERT INTO payments (booking_id, user_id, provider, transaction_id, amount_minor, currency,
                                   status, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'authorized', $7, $7)",
        )
        .bind(booking_id)
        .bind(user_id)
        .bind(provider)
        .bind(txn)
        .bind(total)
        .bind(currency.code)
        .bind(now)
        .execute(&mut *tx)
        .await?;

        let labels: Vec<&str> = seats.iter().map(|s| s.label.as_str()).collect();
        let body = response(booking_id, &tickets);
        sqlx::query(idempotency::COMPLETE_SQL)
            .bind(user_id)
            .bind(key)
            .bind(201_i32)
            .bind(&body)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        enqueue_outbox!(
            tx,
            topics::BOOKING_CONFIRMED,
            booking_id,
            json!({
                "booking_id": booking_id, "show_id": show.show_id, "user_id": user_id,
                "seat_ids": labels, "transaction_id": txn,
            })
        )
        .await?;
        if faults.pause_before_commit {
            tokio::time::sleep(crate::faults::PAUSE).await;
        }
        if faults.fail_before_commit {
            return Ok(BookingOutcome::Injected(
                "injected failure before commit".to_owned(),
            ));
        }
        tx.commit().await?;
        Ok(BookingOutcome::Confirmed { booking_id, body })
    })
}

// ---------------------------------------------------------------------------------------------
// A buyer's bookings

/// A booking with its show, venue and payment.
#[derive(Debug, sqlx::FromRow)]
pub struct BookingRow {
    pub booking_id: i64,
    pub user_id: i64,
    pub show_id: i64,
    pub status: BookingStatus,
    pub total_minor: i64,
    pub currency: String,
    pub created_at: DateTime<Utc>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub title: String,
    pub venue_name: String,
    pub city: String,
    pub timezone: String,
    pub start_time: DateTime<Utc>,
    pub transaction_id: Option<String>,
    pub payment_status: Option<PaymentStatus>,
}

const BOOKING_SELECT: &str = "SELECT b.booking_id, b.user_id, b.show_id, b.status, b.total_minor,
        b.currency, b.created_at, b.cancelled_at, e.title, v.name AS venue_name, v.city, v.timezone,
        s.start_time, p.transaction_id, p.status AS payment_status
     FROM bookings b
     JOIN shows s ON s.show_id = b.show_id
     JOIN events e ON e.event_id = s.event_id
     JOIN venues v ON v.venue_id = s.venue_id
     LEFT JOIN payments p ON p.booking_id = b.booking_id";

/// A booking, whoever owns it.
pub async fn find_booking(db: &Db, booking_id: i64) -> Result<Option<BookingRow>, sqlx::Error> {
    let sql = format!("{BOOKING_SELECT} WHERE b.booking_id = $1");
    with_primary_read!(db, |pool| {
        sqlx::query_as(&sql)
            .bind(booking_id)
            .fetch_optional(pool)
            .await
    })
}

/// A buyer's latest 200 bookings, newest first.
pub async fn bookings_of_user(db: &Db, user_id: i64) -> Result<Vec<BookingRow>, sqlx::Error> {
    let sql = format!("{BOOKING_SELECT} WHERE b.user_id = $1 ORDER BY b.created_at DESC, b.booking_id DESC LIMIT 200");
    with_primary_read!(db, |pool| {
        sqlx::query_as(&sql).bind(user_id).fetch_all(pool).await
    })
}

/// (booking id, ticket id, seat label, section, price, status, checked in at, code)
pub type TicketRow = (
    i64,
    i64,
    String,
    String,
    i64,
    TicketStatus,
    Option<DateTime<Utc>>,
    Option<String>,
);

/// The tickets of `booking_ids`, in one query, by booking.
pub async fn tickets_of(
    db: &Db,
    booking_ids: &[i64],
) -> Result<HashMap<i64, Vec<TicketRow>>, sqlx::Error> {
    if booking_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<TicketRow> = with_primary_read!(db, |pool| {
        let mut qb = sqlx::QueryBuilder::new(
            "SELECT t.booking_id, t.ticket_id, st.label, sec.name, t.price_minor, t.status,
                    t.checked_in_at, t.code
             FROM tickets t JOIN seats st ON st.seat_id = t.seat_id
             JOIN sections sec ON sec.section_id = st.section_id
             WHERE t.booking_id IN (",
        );
        let mut ids = qb.separated(", ");
        for id in booking_ids {
            ids.push_bind(*id);
        }
        qb.push(") ORDER BY t.ticket_id");
        qb.build_query_as().fetch_all(pool).await?
    });
    let mut by_booking: HashMap<i64, Vec<TicketRow>> = HashMap::new();
    for row in rows {
        by_booking.entry(row.0).or_default().push(row);
    }
    Ok(by_booking)
}

/// Cancels a confirmed booking of `user_id` for `show_id` in one transaction: voids its
/// tickets, puts its seats back on sale, marks its captured payment `refund_pending` and writes
/// the `booking.cancelled` outbox row. `false` (nothing written) when it is not confirmed any
/// more or one of its tickets has been checked in. `pause_after_voiding` is a crash tests'
/// fault.
///
/// Tickets are voided first, and only those not checked in: a check-in racing this waits for
/// our lock and then finds its ticket void, or wins and makes us give up, so a scanned ticket
/// is never voided and refunded (`tests/integration/after_booking.rs`,
/// `a_cancellation_racing_a_check_in_never_voids_a_scanned_ticket`).
pub async fn cancel_booking(
    db: &Db,
    booking_id: i64,
    user_id: i64,
    show_id: i64,
    now: DateTime<Utc>,
    pause_after_voiding: bool,
) -> Result<bool, sqlx::Error> {
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        sqlx::query(
            "UPDATE tickets SET status = 'void'
             WHERE booking_id = $1 AND status = 'valid' AND checked_in_at IS NULL",
        )
        .bind(booking_id)
        .execute(&mut *tx)
        .await?;
        if pause_after_voiding {
            tokio::time::sleep(crate::faults::PAUSE).await;
        }
        let scanned: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM tickets WHERE booking_id = $1 AND checked_in_at IS NOT NULL",
        )
        .bind(booking_id)
        .fetch_one(&mut *tx)
        .await?;
        let flipped = if scanned > 0 {
            0
        } else {
            sqlx::query(
                "UPDATE bookings SET status = 'cancelled', cancelled_at = $2
                 WHERE booking_id = $1 AND status = 'confirmed'",
            )
            .bind(booking_id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
        };
        if flipped != 1 {
            tx.rollback().await?;
        } else {
            sqlx::query(
                "UPDATE inventory SET status = 'available', booking_id = NULL
                 WHERE booking_id = $1 AND status = 'sold'",
            )
            .bind(booking_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE payments SET status = 'refund_pending', updated_at = $2 WHERE booking_id = $1 AND status = 'captured'")
                .bind(booking_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            enqueue_outbox!(tx, topics::BOOKING_CANCELLED, booking_id, json!({
                "booking_id": booking_id, "show_id": show_id, "user_id": user_id, "reason": "cancelled_by_user",
            }))
            .await?;
            tx.commit().await?;
        }
        Ok(flipped == 1)
    })
}
