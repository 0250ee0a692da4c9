//! A visitor's bookings: list, read (owner only) and cancel (refund, seats back on sale, tickets
//! void; not once the show has started).

use std::collections::HashMap;

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use serde_json::{json, Value};

use crate::app::AppState;
use crate::catalog::time::local_rfc3339;
use crate::domain::{BookingStatus, PaymentStatus};
use crate::error::{ApiError, ApiResult};
use crate::http::auth::AuthUser;
use crate::http::json::ApiPath;
use crate::money::Currency;
use crate::outbox::topics;
use crate::store::Db;
use crate::{enqueue_outbox, with_db, with_primary_read};

#[derive(sqlx::FromRow)]
struct BookingRow {
    booking_id: i64,
    user_id: i64,
    show_id: i64,
    status: BookingStatus,
    total_minor: i64,
    currency: String,
    created_at: DateTime<Utc>,
    cancelled_at: Option<DateTime<Utc>>,
    title: String,
    venue_name: String,
    city: String,
    timezone: String,
    start_time: DateTime<Utc>,
    transaction_id: Option<String>,
    payment_status: Option<PaymentStatus>,
}

const BOOKING_SELECT: &str = "SELECT b.booking_id, b.user_id, b.show_id, b.status, b.total_minor,
        b.currency, b.created_at, b.cancelled_at, e.title, v.name AS venue_name, v.city, v.timezone,
        s.start_time, p.transaction_id, p.status AS payment_status
     FROM bookings b
     JOIN shows s ON s.show_id = b.show_id
     JOIN events e ON e.event_id = s.event_id
     JOIN venues v ON v.venue_id = s.venue_id
     LEFT JOIN payments p ON p.booking_id = b.booking_id";

/// A booking as its owner sees it.
#[derive(Debug, Serialize)]
pub struct Booking {
    pub booking_id: i64,
    pub show_id: i64,
    pub status: BookingStatus,
    pub title: String,
    pub venue_name: String,
    pub city: String,
    pub start_time: String,
    pub total: serde_json::Number,
    pub currency: String,
    pub transaction_id: Option<String>,
    pub payment_status: Option<PaymentStatus>,
    pub created_at: String,
    pub cancelled_at: Option<String>,
    pub seat_ids: Vec<String>,
    pub tickets: Vec<Value>,
}

/// (booking id, ticket id, seat label, section, price, status, checked in at, code)
type TicketRow = (
    i64,
    i64,
    String,
    String,
    i64,
    String,
    Option<DateTime<Utc>>,
    Option<String>,
);

/// The tickets of `booking_ids`, in one query, by booking.
async fn tickets_of(
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

fn to_booking(row: BookingRow, tickets: Vec<TicketRow>) -> Booking {
    let tz: Tz = row.timezone.parse().unwrap_or(Tz::UTC);
    let currency = Currency::parse(&row.currency);
    let seat_ids = tickets.iter().map(|t| t.2.clone()).collect();
    let tickets = tickets
        .into_iter()
        .map(
            |(_, ticket_id, seat, section, price, status, checked_in, code)| {
                json!({
                    "ticket_id": ticket_id, "seat_id": seat, "section": section,
                    "price": currency.map(|c| c.to_major(price)), "status": status,
                    "checked_in_at": checked_in,
                    "code": code,
                    "qr_svg": format!("/api/v1/tickets/{ticket_id}/qr.svg"),
                    "qr_png": format!("/api/v1/tickets/{ticket_id}/qr.png"),
                })
            },
        )
        .collect();
    Booking {
        booking_id: row.booking_id,
        show_id: row.show_id,
        status: row.status,
        title: row.title,
        venue_name: row.venue_name,
        city: row.city,
        start_time: local_rfc3339(row.start_time, tz),
        total: currency
            .map(|c| c.to_major(row.total_minor))
            .unwrap_or_else(|| row.total_minor.into()),
        currency: row.currency,
        transaction_id: row.transaction_id,
        payment_status: row.payment_status,
        created_at: local_rfc3339(row.created_at, tz),
        cancelled_at: row.cancelled_at.map(|t| local_rfc3339(t, tz)),
        seat_ids,
        tickets,
    }
}

/// Bookings with their tickets: two queries whatever their number.
async fn with_tickets(db: &Db, rows: Vec<BookingRow>) -> Result<Vec<Booking>, sqlx::Error> {
    let ids: Vec<i64> = rows.iter().map(|r| r.booking_id).collect();
    let mut tickets = tickets_of(db, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let own = tickets.remove(&row.booking_id).unwrap_or_default();
            to_booking(row, own)
        })
        .collect())
}

async fn one_with_tickets(db: &Db, row: BookingRow) -> Result<Booking, sqlx::Error> {
    let mut tickets = tickets_of(db, &[row.booking_id]).await?;
    let own = tickets.remove(&row.booking_id).unwrap_or_default();
    Ok(to_booking(row, own))
}

async fn own_booking_row(
    state: &AppState,
    user: &AuthUser,
    booking_id: i64,
) -> ApiResult<BookingRow> {
    let sql = format!("{BOOKING_SELECT} WHERE b.booking_id = $1");
    let row: Option<BookingRow> = with_primary_read!(&state.db, |pool| {
        sqlx::query_as(&sql)
            .bind(booking_id)
            .fetch_optional(pool)
            .await?
    });
    // Someone else's booking is as invisible as a missing one.
    row.filter(|r| r.user_id == user.user_id)
        .ok_or_else(|| ApiError::not_found("Booking", booking_id))
}

pub async fn list_bookings(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<Vec<Booking>>> {
    let sql = format!("{BOOKING_SELECT} WHERE b.user_id = $1 ORDER BY b.created_at DESC, b.booking_id DESC LIMIT 200");
    let rows: Vec<BookingRow> = with_primary_read!(&state.db, |pool| {
        sqlx::query_as(&sql)
            .bind(user.user_id)
            .fetch_all(pool)
            .await?
    });
    Ok(Json(with_tickets(&state.db, rows).await?))
}

pub async fn get_booking(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(booking_id): ApiPath<i64>,
) -> ApiResult<Json<Booking>> {
    let row = own_booking_row(&state, &user, booking_id).await?;
    Ok(Json(one_with_tickets(&state.db, row).await?))
}

#[tracing::instrument(skip_all, fields(booking_id, user_id = user.user_id))]
pub async fn cancel_booking(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(booking_id): ApiPath<i64>,
) -> ApiResult<Json<Booking>> {
    let row = own_booking_row(&state, &user, booking_id).await?;
    if row.status != BookingStatus::Confirmed {
        return Err(
            ApiError::invalid_state(format!("Booking {booking_id} is {}", row.status))
                .with_details(json!({ "booking_id": booking_id, "status": row.status })),
        );
    }
    let now = Utc::now();
    if row.start_time <= now {
        return Err(ApiError::invalid_state(
            "The show has started; the booking can no longer be cancelled",
        )
        .with_details(json!({ "booking_id": booking_id })));
    }
    let show_id = row.show_id;
    let pause = state
        .faults
        .fire(crate::faults::Fault::PauseInBookingCancel);
    // Tickets are voided first, and only those not checked in: a check-in racing this waits for
    // our lock and then finds its ticket void, or wins and makes us give up, so a scanned ticket
    // is never voided and refunded (`tests/integration/after_booking.rs`,
    // `a_cancellation_racing_a_check_in_never_voids_a_scanned_ticket`).
    let cancelled = with_db!(&state.db, |pool| {
        let mut tx = pool.begin().await?;
        sqlx::query(
            "UPDATE tickets SET status = 'void'
             WHERE booking_id = $1 AND status = 'valid' AND checked_in_at IS NULL",
        )
        .bind(booking_id)
        .execute(&mut *tx)
        .await?;
        if pause {
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
                "booking_id": booking_id, "show_id": show_id, "user_id": user.user_id, "reason": "cancelled_by_user",
            }))
            .await?;
            tx.commit().await?;
        }
        flipped == 1
    });
    if !cancelled {
        return Err(ApiError::invalid_state(format!(
            "Booking {booking_id} cannot be cancelled: it is cancelled already or a ticket has been checked in"
        )));
    }
    state.outbox_wakeup.notify_one();
    if let Some(txn) = &row.transaction_id {
        if state.faults.fire(crate::faults::Fault::CrashBeforeRefund) {
            tracing::warn!(transaction_id = %txn, "fault: refund skipped");
        } else {
            crate::payments::settle_refund(&state.db, &state.payments, txn).await;
        }
    }
    let row = own_booking_row(&state, &user, booking_id).await?;
    Ok(Json(one_with_tickets(&state.db, row).await?))
}
