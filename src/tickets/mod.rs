//! Tickets (SPEC §8): signed codes issued by the `booking.confirmed` consumer, QR images for the
//! owner, the public key for offline gates, and check-in by the event's organiser or the venue's
//! owner.

pub mod codes;
pub mod qr;
pub mod store;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

pub use codes::{TicketClaim, TicketKeys};

use crate::app::AppState;
use crate::domain::TicketStatus;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::auth::AuthUser;
use crate::http::json::{ApiJson, ApiPath};
use crate::store::Db;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tickets/public-key", get(public_key))
        .route("/api/v1/tickets/{ticket_id}/qr.svg", get(qr_svg))
        .route("/api/v1/tickets/{ticket_id}/qr.png", get(qr_png))
        .route("/api/v1/checkin", post(check_in))
}

/// Loads the signing key: configured, else kept in the data dir (SQLite) or shared through the
/// database (PostgreSQL).
pub async fn load_keys(
    db: &Db,
    configured: Option<&str>,
    data_dir: &std::path::Path,
) -> anyhow::Result<TicketKeys> {
    if let Some(seed) = configured {
        return TicketKeys::from_seed_b64(seed);
    }
    match db.backend() {
        crate::store::Backend::Sqlite => {
            let path = data_dir.join("ticket-signing.key");
            if let Ok(seed) = std::fs::read_to_string(&path) {
                return TicketKeys::from_seed_b64(&seed);
            }
            let seed = TicketKeys::generate_seed_b64();
            std::fs::create_dir_all(data_dir)?;
            write_private(&path, &seed)?;
            TicketKeys::from_seed_b64(&seed)
        }
        crate::store::Backend::Postgres => {
            let seed = crate::auth::store::shared_secret(
                db,
                "ticket_ed25519_seed",
                &TicketKeys::generate_seed_b64(),
            )
            .await?;
            TicketKeys::from_seed_b64(&seed)
        }
    }
}

fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(contents.as_bytes())
    }
    #[cfg(not(unix))]
    {
        std::fs::write(path, contents)
    }
}

/// Gives every live ticket of a booking its signed code (idempotent: a ticket keeps the code it
/// has). Returns how many codes were written.
pub async fn issue_for_booking(state: &AppState, booking_id: i64) -> Result<u64, sqlx::Error> {
    issue_for_bookings(state, &[booking_id]).await
}

/// [`issue_for_booking`] for several bookings at once: one read and one commit for them all.
pub async fn issue_for_bookings(state: &AppState, booking_ids: &[i64]) -> Result<u64, sqlx::Error> {
    let pending = store::tickets_without_code(&state.db, booking_ids).await?;
    if pending.is_empty() {
        return Ok(0);
    }
    let codes: Vec<(i64, String)> = pending
        .into_iter()
        .map(|(booking_id, ticket_id, show_id, seat)| {
            let code = state.ticket_keys.sign(&TicketClaim {
                ticket_id,
                show_id,
                seat,
                booking_id,
            });
            (ticket_id, code)
        })
        .collect();
    store::set_codes(&state.db, &codes, Utc::now()).await
}

async fn public_key(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({
        "algorithm": "Ed25519",
        "encoding": "base64url",
        "public_key": state.ticket_keys.public_key_b64(),
        "code_format": "BX1.<base64url(ticket_id:show_id:seat:booking_id)>.<base64url(signature)>",
    }))
}

/// The code of a ticket the caller owns, issuing it if the consumer has not yet.
pub async fn owned_code(state: &AppState, user: &AuthUser, ticket_id: i64) -> ApiResult<String> {
    let store::OwnedTicket {
        booking_id,
        code,
        status,
        ..
    } = store::owned_ticket(&state.db, ticket_id)
        .await?
        .filter(|t| t.user_id == user.user_id)
        .ok_or_else(|| ApiError::not_found("Ticket", ticket_id))?;
    if status != TicketStatus::Valid {
        return Err(ApiError::invalid_state(format!(
            "Ticket {ticket_id} is {status}"
        )));
    }
    if let Some(code) = code {
        return Ok(code);
    }
    issue_for_booking(state, booking_id).await?;
    let code = store::ticket_code(&state.db, ticket_id).await?;
    code.ok_or_else(|| ApiError::internal(anyhow::anyhow!("ticket code missing after issue")))
}

pub async fn qr_svg(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(ticket_id): ApiPath<i64>,
) -> ApiResult<Response> {
    let code = owned_code(&state, &user, ticket_id).await?;
    let svg = qr::svg(&code).map_err(ApiError::internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "private, no-store"),
        ],
        svg,
    )
        .into_response())
}

pub async fn qr_png(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(ticket_id): ApiPath<i64>,
) -> ApiResult<Response> {
    let code = owned_code(&state, &user, ticket_id).await?;
    let png = qr::png(&code, 8, qr::Mask::Best).map_err(ApiError::internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "private, no-store"),
        ],
        png,
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckInBody {
    code: String,
}

/// `POST /api/v1/checkin {code}`: 200 on the first scan, 409 `ALREADY_CHECKED_IN` after, 400
/// for a forged, altered or voided code. Only the event's organiser or the venue's owner.
#[tracing::instrument(skip_all, fields(user_id = user.user_id))]
async fn check_in(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<CheckInBody>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let invalid = || {
        ApiError::new(ErrorCode::InvalidTicket, "This ticket code is not valid")
            .with_details(json!({ "field": "code" }))
    };
    let claim = state.ticket_keys.verify(&body.code).ok_or_else(invalid)?;
    let ticket = store::gate_ticket(&state.db, claim.ticket_id, claim.show_id, claim.booking_id)
        .await?
        .ok_or_else(invalid)?;
    if ticket.organiser_id != user.user_id
        && ticket.owner_id != user.user_id
        && !user.is_admin(&state).await?
    {
        return Err(ApiError::forbidden(
            "Only the event's organiser or the venue's owner can check tickets in",
        ));
    }
    if ticket.status != TicketStatus::Valid || ticket.code.as_deref() != Some(body.code.trim()) {
        return Err(invalid());
    }
    if let Some(at) = ticket.checked_in_at {
        return Err(already(ticket.ticket_id, at));
    }
    let now = Utc::now();
    // The conditional update is the arbiter between two gates scanning at the same instant.
    let won = store::check_in(&state.db, ticket.ticket_id, now).await?;
    if !won {
        // Another gate scanned it, or its booking was cancelled meanwhile: say which.
        let current = store::ticket_state(&state.db, ticket.ticket_id).await?;
        return Err(match current {
            Some((TicketStatus::Valid, Some(at))) => already(ticket.ticket_id, at),
            _ => invalid(),
        });
    }
    Ok((
        StatusCode::OK,
        Json(json!({
            "status": "checked_in",
            "ticket_id": ticket.ticket_id,
            "show_id": claim.show_id,
            "booking_id": claim.booking_id,
            "seat_id": ticket.label,
            "section": ticket.section,
            "checked_in_at": now,
        })),
    ))
}

fn already(ticket_id: i64, at: DateTime<Utc>) -> ApiError {
    ApiError::new(
        ErrorCode::AlreadyCheckedIn,
        "This ticket has already been checked in",
    )
    .with_details(json!({ "ticket_id": ticket_id, "checked_in_at": at }))
}
