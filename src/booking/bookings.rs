//! A visitor's bookings: list, read (owner only) and cancel (refund, seats back on sale, tickets
//! void; not once the show has started).

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use serde_json::json;

use super::store::{self, BookingRow, TicketRow};
use crate::app::AppState;
use crate::catalog::time::local_rfc3339;
use crate::domain::{BookingStatus, PaymentStatus, TicketStatus};
use crate::error::{ApiError, ApiResult};
use crate::http::auth::AuthUser;
use crate::http::json::ApiPath;
use crate::money::Currency;
use crate::store::Db;

/// A booking as its owner sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Booking {
    pub booking_id: i64,
    pub show_id: i64,
    pub status: BookingStatus,
    pub title: String,
    pub venue_name: String,
    pub city: String,
    pub start_time: String,
    /// In major units of `currency`.
    #[schema(value_type = f64)]
    pub total: serde_json::Number,
    pub currency: String,
    pub transaction_id: Option<String>,
    pub payment_status: Option<PaymentStatus>,
    pub created_at: String,
    pub cancelled_at: Option<String>,
    pub seat_ids: Vec<String>,
    pub tickets: Vec<TicketView>,
}

/// A ticket of a booking as its owner sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TicketView {
    pub ticket_id: i64,
    pub seat_id: String,
    pub section: String,
    #[schema(value_type = Option<f64>)]
    pub price: Option<serde_json::Number>,
    pub status: TicketStatus,
    pub checked_in_at: Option<DateTime<Utc>>,
    /// The signed code (once the tickets consumer issued it).
    pub code: Option<String>,
    pub qr_svg: String,
    pub qr_png: String,
}

fn to_booking(row: BookingRow, tickets: Vec<TicketRow>) -> Booking {
    let tz: Tz = row.timezone.parse().unwrap_or(Tz::UTC);
    let currency = Currency::parse(&row.currency);
    let seat_ids = tickets.iter().map(|t| t.2.clone()).collect();
    let tickets = tickets
        .into_iter()
        .map(
            |(_, ticket_id, seat_id, section, price, status, checked_in_at, code)| TicketView {
                ticket_id,
                seat_id,
                section,
                price: currency.map(|c| c.to_major(price)),
                status,
                checked_in_at,
                code,
                qr_svg: format!("/api/v1/tickets/{ticket_id}/qr.svg"),
                qr_png: format!("/api/v1/tickets/{ticket_id}/qr.png"),
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
    let mut tickets = store::tickets_of(db, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let own = tickets.remove(&row.booking_id).unwrap_or_default();
            to_booking(row, own)
        })
        .collect())
}

async fn one_with_tickets(db: &Db, row: BookingRow) -> Result<Booking, sqlx::Error> {
    let mut tickets = store::tickets_of(db, &[row.booking_id]).await?;
    let own = tickets.remove(&row.booking_id).unwrap_or_default();
    Ok(to_booking(row, own))
}

async fn own_booking_row(
    state: &AppState,
    user: &AuthUser,
    booking_id: i64,
) -> ApiResult<BookingRow> {
    let row = store::find_booking(&state.db, booking_id).await?;
    // Someone else's booking is as invisible as a missing one.
    row.filter(|r| r.user_id == user.user_id)
        .ok_or_else(|| ApiError::not_found("Booking", booking_id))
}

/// The caller's bookings, newest first, with their tickets.
#[utoipa::path(get, path = "/api/v1/bookings", tag = "booking",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Bookings", body = Vec<Booking>),
        (status = 401, description = "`UNAUTHORIZED`", body = crate::http::openapi::ErrorBody),
    ))]
pub async fn list_bookings(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<Vec<Booking>>> {
    let rows = store::bookings_of_user(&state.db, user.user_id).await?;
    Ok(Json(with_tickets(&state.db, rows).await?))
}

/// One of the caller's bookings with its tickets (their signed codes once issued).
#[utoipa::path(get, path = "/api/v1/bookings/{booking_id}", tag = "booking",
    params(("booking_id" = i64, Path, description = "The booking")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The booking", body = Booking),
        (status = 404, description = "`NOT_FOUND` (someone else's too)", body = crate::http::openapi::ErrorBody),
    ))]
pub async fn get_booking(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(booking_id): ApiPath<i64>,
) -> ApiResult<Json<Booking>> {
    let row = own_booking_row(&state, &user, booking_id).await?;
    Ok(Json(one_with_tickets(&state.db, row).await?))
}

#[tracing::instrument(skip_all, fields(booking_id, user_id = user.user_id))]
/// Cancels one of the caller's bookings before the show: seats back on sale, payment refunded.
#[utoipa::path(post, path = "/api/v1/bookings/{booking_id}/cancel", tag = "booking",
    params(("booking_id" = i64, Path, description = "The booking")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Cancelled", body = Booking),
        (status = 404, description = "`NOT_FOUND`", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "`INVALID_STATE`: already cancelled, or the show has started", body = crate::http::openapi::ErrorBody),
    ))]
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
    // Tickets are voided first, so a scanned ticket is never voided and refunded (see
    // `store::cancel_booking`).
    let cancelled =
        store::cancel_booking(&state.db, booking_id, user.user_id, show_id, now, pause).await?;
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
    let booking = one_with_tickets(&state.db, row).await?;
    let back: Vec<_> = booking
        .seat_ids
        .iter()
        .map(|l| (l.clone(), crate::domain::InventoryStatus::Available))
        .collect();
    if let Err(e) = state
        .holds
        .announce(show_id, &back, Some(user.user_id))
        .await
    {
        tracing::warn!(error = %e, "could not announce seats back on sale; availability repairs it");
    }
    Ok(Json(booking))
}
