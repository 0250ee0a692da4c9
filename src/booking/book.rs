//! `POST /api/v1/book` (the seed's contract, SPEC §7): authorize the payment (idempotent on the
//! key) → one database transaction that flips the inventory rows to `sold` only where still
//! `available` and writes the booking, tickets, payment, idempotency record and outbox row →
//! capture. If the transaction fails the authorization is voided. Then the hold is released.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::idempotency::{self, Claim};
use super::store::{self, BookingFaults, BookingOutcome, NewBooking};
use crate::app::AppState;
use crate::domain::{InventoryStatus, PaymentStatus};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::faults::Fault;
use crate::holds::SeatHold;
use crate::http::auth::AuthUser;
use crate::http::json::ApiJson;
use crate::inventory::{
    cached_sale_show, check_seat_ids, inventory_seats, InventorySeat, SaleShow,
};
use crate::money::Currency;
use crate::payments::{record_capture, settle_refund, CaptureRecord, PaymentError};

#[derive(Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentBody {
    /// `card`.
    #[schema(pattern = "^card$")]
    pub method: String,
    /// The sandbox card token: `tok_visa` pays, `tok_declined` is declined.
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub token: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookBody {
    pub show_id: i64,
    /// Seat labels such as `A1` (1 to 100, no repeats).
    #[schema(schema_with = crate::http::openapi::seat_ids)]
    pub seat_ids: Vec<String>,
    pub payment: Option<PaymentBody>,
}

/// How long a retry waits for the first request with its key before answering 409.
const WAIT_FOR_FIRST_MS: u64 = 3_000;

fn idempotency_key(headers: &HeaderMap) -> ApiResult<String> {
    let missing = || {
        ApiError::invalid("Idempotency-Key header is required")
            .with_details(json!({ "field": "Idempotency-Key" }))
    };
    let key = headers
        .get("idempotency-key")
        .ok_or_else(missing)?
        .to_str()
        .map_err(|_| missing())?
        .trim();
    if key.is_empty() || key.len() > 255 || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(
            ApiError::invalid("Idempotency-Key must be 1 to 255 visible ASCII characters")
                .with_details(json!({ "field": "Idempotency-Key" })),
        );
    }
    Ok(key.to_owned())
}

/// A fingerprint of the request: the same show, seat set and payment token.
pub fn request_hash(show_id: i64, labels: &[String], payment: Option<&PaymentBody>) -> String {
    let mut sorted = labels.to_vec();
    sorted.sort();
    let canonical = json!({ "show_id": show_id, "seat_ids": sorted, "payment": payment });
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

fn replay(body: String) -> Response {
    (
        StatusCode::OK,
        [
            (
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                axum::http::header::HeaderName::from_static("idempotent-replayed"),
                HeaderValue::from_static("true"),
            ),
        ],
        body,
    )
        .into_response()
}

/// Books held seats: authorizes the payment, then in one transaction takes the seats (all or
/// none), records the booking, tickets and outbox event, and captures. Idempotent per
/// `Idempotency-Key`: a retry answers the first answer (`Idempotent-Replayed: true`); the same
/// key with another body is refused.
#[utoipa::path(post, path = "/api/v1/book", tag = "booking", request_body = BookBody,
    params(
        ("Idempotency-Key" = String, Header, pattern = "^[!-~]{1,255}$", description = "Unique per purchase attempt (1 to 255 printable ASCII characters)"),
        ("X-Queue-Pass" = Option<String>, Header, description = "The waiting room's pass, when the show has one"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Booked", body = Confirmation),
        (status = 400, description = "`INVALID_REQUEST`: a missing `Idempotency-Key`, unknown seats", body = crate::http::openapi::ErrorBody),
        (status = 402, description = "`PAYMENT_DECLINED`", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "`SEAT_LIMIT_EXCEEDED` or `QUEUE_PASS_REQUIRED`", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "`SHOW_NOT_FOUND`", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "`SEAT_NOT_AVAILABLE`, `HOLD_EXPIRED`, `IDEMPOTENCY_IN_PROGRESS` or `INVALID_STATE`", body = crate::http::openapi::ErrorBody),
        (status = 422, description = "`IDEMPOTENCY_KEY_REUSED`: the key with another body", body = crate::http::openapi::ErrorBody),
        (status = 429, description = "`RATE_LIMITED`", body = crate::http::openapi::ErrorBody),
        (status = 503, description = "`SERVICE_UNAVAILABLE` (`Retry-After`): retry with the same key", body = crate::http::openapi::ErrorBody),
    ))]
pub async fn book(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<BookBody>,
) -> ApiResult<Response> {
    tracing::Span::current().record("show_id", body.show_id);
    let key = idempotency_key(&headers)?;
    let labels = check_seat_ids(body.show_id, &body.seat_ids)?;
    let token = match &body.payment {
        Some(p) if p.method != "card" => {
            return Err(ApiError::invalid_field(
                "payment.method",
                "payment.method must be \"card\"",
            ))
        }
        Some(p) if p.token.trim().is_empty() || p.token.len() > 200 => {
            return Err(ApiError::invalid_field(
                "payment.token",
                "payment.token must have 1 to 200 characters",
            ))
        }
        Some(p) => p.token.clone(),
        None => "tok_sandbox".to_owned(),
    };
    let hash = request_hash(body.show_id, &labels, body.payment.as_ref());
    let pass = crate::queue::pass_header(&headers).map(str::to_owned);
    let seat_count = labels.len() as u64;

    let started = std::time::Instant::now();
    let claimed_in_batch = match &state.booking_group {
        Some(group) => group.claim(user.user_id, &key, &hash).await,
        None => false,
    };
    if !claimed_in_batch {
        loop {
            match idempotency::claim(&state.db, user.user_id, &key, &hash).await? {
                Claim::Acquired => break,
                Claim::Completed { body } => return Ok(replay(body)),
                Claim::Mismatch => {
                    return Err(ApiError::new(
                        ErrorCode::IdempotencyKeyReused,
                        "This Idempotency-Key was used with a different request",
                    )
                    .with_details(json!({ "idempotency_key": key })))
                }
                Claim::InProgress
                    if started.elapsed().as_millis() < u128::from(WAIT_FOR_FIRST_MS) =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Claim::InProgress => {
                    return Err(ApiError::new(
                        ErrorCode::IdempotencyInProgress,
                        "A request with this Idempotency-Key is still being processed",
                    )
                    .with_details(json!({ "idempotency_key": key })))
                }
            }
        }
    }

    // We own the key: any failure from here gives it back so the client can retry. The work,
    // the release included, runs in its own task so a client hanging up (or the request
    // deadline) cannot stop it between payment and commit, nor leave the key claimed.
    let work = {
        let (state, user, key) = (state.clone(), user.clone(), key.clone());
        let show_id = body.show_id;
        tokio::spawn(async move {
            let booking = book_claimed(
                &state,
                &user,
                &key,
                show_id,
                &labels,
                &token,
                pass.as_deref(),
            );
            let outcome = tokio::select! {
                outcome = booking => outcome,
                () = idempotency::heartbeat(&state.db, user.user_id, &key) => unreachable!(),
            };
            if outcome.is_err() {
                if let Err(e) = idempotency::release(&state.db, user.user_id, &key).await {
                    tracing::error!(error = %e, "could not release an idempotency key after a failed booking");
                }
            }
            outcome
        })
    };
    let body = work.await.map_err(ApiError::internal)??;
    metrics::counter!("boxoffice_bookings_total").increment(1);
    metrics::counter!("boxoffice_seats_sold_total").increment(seat_count);
    Ok((
        StatusCode::CREATED,
        [(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response())
}

/// Which of the requested seats the caller cannot book, and why.
fn check_holds(
    user_id: i64,
    seats: &[InventorySeat],
    holds: &[Option<SeatHold>],
) -> Result<(), (ErrorCode, Vec<String>)> {
    let mut unavailable = Vec::new();
    let mut expired = Vec::new();
    for (seat, hold) in seats.iter().zip(holds) {
        match hold {
            _ if seat.status != InventoryStatus::Available => unavailable.push(seat.label.clone()),
            Some(h) if h.user_id == user_id => {}
            Some(_) => unavailable.push(seat.label.clone()),
            None => expired.push(seat.label.clone()),
        }
    }
    if !unavailable.is_empty() {
        return Err((ErrorCode::SeatNotAvailable, unavailable));
    }
    if !expired.is_empty() {
        return Err((ErrorCode::HoldExpired, expired));
    }
    Ok(())
}

fn unavailable_error(show_id: i64, code: ErrorCode, seats: Vec<String>) -> ApiError {
    match code {
        ErrorCode::HoldExpired => ApiError::new(
            code,
            "Your hold on some seats has expired; reserve them again",
        )
        .with_details(json!({ "show_id": show_id, "expired_seats": seats })),
        _ => ApiError::new(ErrorCode::SeatNotAvailable, "Some seats are not available")
            .with_details(json!({ "show_id": show_id, "unavailable_seats": seats })),
    }
}

/// The booking proper, once the idempotency key is ours. Returns the 201 body.
async fn book_claimed(
    state: &AppState,
    user: &AuthUser,
    key: &str,
    show_id: i64,
    labels: &[String],
    token: &str,
    pass: Option<&str>,
) -> ApiResult<String> {
    let show = cached_sale_show(&state.db, &state.shows, show_id).await?;
    show.ensure_on_sale()?;
    // Seats held with a pass may be paid for until the hold ends, even after the pass.
    let grace_ms = i64::from(show.hold_seconds.max(0)) * 1000;
    state
        .queue
        .check_pass(&show, user.user_id, pass, grace_ms)?;
    let live = state.availability.show(show.show_id).await?;
    let seats = inventory_seats(&live, labels)?;
    drop(live);
    let holds = state.holds.holders(show.show_id, labels).await?;
    check_holds(user.user_id, &seats, &holds)
        .map_err(|(code, seats)| unavailable_error(show.show_id, code, seats))?;

    let total: i64 = seats.iter().map(|s| s.price_minor).sum();
    let currency = Currency::parse(&show.currency)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("show has an unknown currency")))?;
    let payment_key = format!("{}:{key}", user.user_id);
    let txn = match state
        .payments
        .authorize(&payment_key, total, currency.code, token)
        .await
    {
        Ok(txn) => {
            metrics::counter!("boxoffice_payments_total", "outcome" => "authorized").increment(1);
            txn
        }
        Err(PaymentError::Declined(reason)) => {
            metrics::counter!("boxoffice_payments_total", "outcome" => "declined").increment(1);
            return Err(ApiError::new(
                ErrorCode::PaymentDeclined,
                format!("Payment declined: {reason}"),
            )
            .with_details(json!({ "show_id": show.show_id })));
        }
        Err(PaymentError::Provider(e)) => {
            metrics::counter!("boxoffice_payments_total", "outcome" => "error").increment(1);
            return Err(ApiError::internal(e));
        }
    };

    let committed = commit_booking(state, user, key, &show, currency, &seats, &txn, total).await;
    let body = match committed {
        Ok(Ok(body)) => body,
        Ok(Err(unavailable)) => {
            void(state, &txn).await;
            return Err(unavailable_error(
                show.show_id,
                ErrorCode::SeatNotAvailable,
                unavailable,
            ));
        }
        Err(err) => {
            void(state, &txn).await;
            return Err(err);
        }
    };

    state.outbox_wakeup.notify_one();
    // Every node's live availability learns of the sale and the end of the buyer's holds in
    // one step, so the seats go from held to sold, never through available.
    if let Err(e) = state.holds.sell(show.show_id, user.user_id, labels).await {
        tracing::warn!(error = %e, "could not announce a sale; availability repairs it and the holds expire");
    }
    // The booking is committed: a capture lost from here on is finished by reconciliation.
    if state.faults.fire(Fault::CrashBeforeCapture) {
        tracing::warn!(transaction_id = %txn, "fault: capture skipped");
    } else {
        match state.payments.capture(&txn).await {
            Err(e) => {
                tracing::error!(error = %e, transaction_id = %txn, "capture failed after commit")
            }
            Ok(provider) if provider != PaymentStatus::Captured => {
                tracing::warn!(transaction_id = %txn, %provider, "capture refused; reconciliation settles it")
            }
            Ok(_) if state.faults.fire(Fault::CaptureNotRecorded) => {
                tracing::warn!(transaction_id = %txn, "fault: capture not recorded")
            }
            Ok(_) => match record_capture_batched(state, &txn).await {
                Ok(CaptureRecord::RefundPending) => {
                    // Cancelled by its buyer between our commit and this capture.
                    settle_refund(&state.db, &state.payments, &txn).await;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, transaction_id = %txn, "could not record a capture")
                }
            },
        }
    }
    Ok(body)
}

/// [`record_capture`], with other bookings' captures when the node batches them.
async fn record_capture_batched(state: &AppState, txn: &str) -> Result<CaptureRecord, sqlx::Error> {
    if let Some(group) = &state.booking_group {
        if let Some(record) = group.record_capture(txn).await {
            return Ok(record);
        }
    }
    record_capture(&state.db, txn).await
}

/// Voids an authorization unless a committed booking uses it (a commit whose answer was lost, or
/// a second request on the same key that lost the race, must not void the winner's payment).
async fn void(state: &AppState, txn: &str) {
    match store::payment_of_transaction(&state.db, txn).await {
        Ok(Some(_)) => {
            tracing::warn!(transaction_id = %txn, "not voiding: a committed booking uses this authorization");
            return;
        }
        Ok(None) => {}
        Err(e) => {
            tracing::error!(error = %e, transaction_id = %txn, "cannot tell whether the authorization is used; not voiding");
            return;
        }
    }
    match state.payments.void(txn).await {
        Ok(PaymentStatus::Voided) => {}
        Ok(provider) => {
            tracing::error!(transaction_id = %txn, %provider, "authorization not voided; reconciliation cannot see it (no payment row)")
        }
        Err(e) => {
            tracing::error!(error = %e, transaction_id = %txn, "could not void an authorization")
        }
    }
}

/// The booking transaction ([`store::commit_booking`]). `Ok(Err(seats))` when some seats were
/// no longer available (nothing is written then).
#[allow(clippy::too_many_arguments)]
async fn commit_booking(
    state: &AppState,
    user: &AuthUser,
    key: &str,
    show: &SaleShow,
    currency: Currency,
    seats: &[InventorySeat],
    txn: &str,
    total: i64,
) -> ApiResult<Result<String, Vec<String>>> {
    let drop_connection = state.faults.fire(Fault::DropConnectionInBooking);
    let fail_before_commit = state.faults.fire(Fault::FailBeforeCommit);
    let pause_before_commit = state.faults.fire(Fault::PauseBeforeBookingCommit);
    let booking = NewBooking {
        user_id: user.user_id,
        idempotency_key: key,
        show,
        currency,
        seats,
        transaction_id: txn,
        provider: state.payments.name(),
        total_minor: total,
    };
    let faults = BookingFaults {
        drop_connection,
        pause_before_commit,
        fail_before_commit,
    };
    let response = |booking_id: i64, tickets: &[(i64, i64)]| {
        confirmation_body(
            booking_id,
            tickets,
            show.show_id,
            seats,
            txn,
            currency,
            total,
        )
    };
    let grouped = match &state.booking_group {
        Some(group) if !(drop_connection || fail_before_commit || pause_before_commit) => {
            let (show_id, owned_seats, owned_txn) = (show.show_id, seats.to_vec(), txn.to_owned());
            let render: super::group::Render = Box::new(move |booking_id, tickets| {
                confirmation_body(
                    booking_id,
                    tickets,
                    show_id,
                    &owned_seats,
                    &owned_txn,
                    currency,
                    total,
                )
            });
            let outcome = group
                .commit(super::group::GroupBooking {
                    user_id: user.user_id,
                    idempotency_key: key.to_owned(),
                    show: show.clone(),
                    currency: currency.code,
                    seats: seats.to_vec(),
                    transaction_id: txn.to_owned(),
                    provider: state.payments.name().to_owned(),
                    total_minor: total,
                    render,
                })
                .await;
            match outcome {
                super::group::GroupOutcome::Decided(outcome) => Some(outcome),
                super::group::GroupOutcome::Alone => None,
            }
        }
        _ => None,
    };
    let outcome = match grouped {
        Some(outcome) => outcome,
        None => store::commit_booking(&state.db, &booking, faults, response).await?,
    };
    match outcome {
        BookingOutcome::Confirmed { booking_id, body } => {
            tracing::info!(booking_id, seats = seats.len(), "booking confirmed");
            Ok(Ok(body))
        }
        BookingOutcome::SeatsTaken(labels) => Ok(Err(labels)),
        BookingOutcome::NotOnSale { status, start_time } => {
            let current = SaleShow {
                status,
                start_time,
                ..show.clone()
            };
            Err(current
                .ensure_on_sale()
                .err()
                .unwrap_or_else(|| ApiError::invalid_state("The show is not on sale")))
        }
        BookingOutcome::SeatLimitExceeded { cap, bought } => Err(ApiError::new(
            ErrorCode::SeatLimitExceeded,
            format!("At most {cap} seats per person for this show (you bought {bought})"),
        )
        .with_details(json!({
            "show_id": show.show_id,
            "max_seats_per_user": cap,
            "bought": bought,
            "requested": seats.len(),
        }))),
        BookingOutcome::Injected(message) => Err(ApiError::internal(anyhow::anyhow!(message))),
    }
}

/// The 201 body of a confirmed booking (the seed's shape, plus tickets, total and currency;
/// also stored as the idempotent response).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Confirmation<'a> {
    pub status: &'static str,
    pub booking_id: i64,
    pub transaction_id: &'a str,
    pub show_id: i64,
    pub seat_ids: Vec<&'a str>,
    pub tickets: Vec<ConfirmedTicket<'a>>,
    /// In major units of `currency`.
    #[schema(value_type = f64)]
    pub total: serde_json::Number,
    pub currency: &'a str,
}

/// One ticket of a [`Confirmation`].
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConfirmedTicket<'a> {
    pub ticket_id: Option<i64>,
    pub seat_id: &'a str,
    #[schema(value_type = f64)]
    pub price: serde_json::Number,
}

fn confirmation_body(
    booking_id: i64,
    tickets: &[(i64, i64)],
    show_id: i64,
    seats: &[InventorySeat],
    txn: &str,
    currency: Currency,
    total: i64,
) -> String {
    let body = Confirmation {
        status: "seats_booked",
        booking_id,
        transaction_id: txn,
        show_id,
        seat_ids: seats.iter().map(|s| s.label.as_str()).collect(),
        tickets: seats
            .iter()
            .map(|seat| ConfirmedTicket {
                ticket_id: tickets
                    .iter()
                    .find(|(_, s)| *s == seat.seat_id)
                    .map(|(t, _)| *t),
                seat_id: &seat.label,
                price: currency.to_major(seat.price_minor),
            })
            .collect(),
        total: currency.to_major(total),
        currency: currency.code,
    };
    serde_json::to_string(&body).unwrap_or_default()
}
