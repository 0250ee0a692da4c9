//! Tickets (SPEC §8): signed codes issued by the `booking.confirmed` consumer, QR images for the
//! owner, the public key for offline gates, and check-in by the event's organiser or the venue's
//! owner.

pub mod codes;
pub mod qr;
pub mod store;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use codes::{TicketClaim, TicketKeys};

use crate::app::AppState;
use crate::domain::TicketStatus;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::auth::AuthUser;
use crate::http::json::{ApiJson, ApiPath};
use crate::store::Db;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(public_key))
        .routes(routes!(qr_svg))
        .routes(routes!(qr_png))
        .routes(routes!(check_in))
}

const TAG: &str = "tickets";

/// How to verify ticket codes offline.
#[derive(Serialize, ToSchema)]
struct PublicKey {
    /// `Ed25519`.
    algorithm: &'static str,
    /// `base64url`.
    encoding: &'static str,
    public_key: String,
    code_format: &'static str,
}

/// A ticket let in.
#[derive(Serialize, ToSchema)]
struct CheckedIn {
    /// `checked_in`.
    status: &'static str,
    ticket_id: i64,
    show_id: i64,
    booking_id: i64,
    seat_id: String,
    section: String,
    checked_in_at: DateTime<Utc>,
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

/// The public key ticket codes are signed with, for gates that check them offline.
#[utoipa::path(get, path = "/api/v1/tickets/public-key", tag = TAG,
    responses((status = 200, description = "The key", body = PublicKey)))]
async fn public_key(State(state): State<AppState>) -> Json<PublicKey> {
    Json(PublicKey {
        algorithm: "Ed25519",
        encoding: "base64url",
        public_key: state.ticket_keys.public_key_b64(),
        code_format: "BX1.<base64url(ticket_id:show_id:seat:booking_id)>.<base64url(signature)>",
    })
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

/// A ticket's QR code (SVG), for its owner.
#[utoipa::path(get, path = "/api/v1/tickets/{ticket_id}/qr.svg", tag = TAG,
    params(("ticket_id" = i64, Path, description = "The ticket")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The QR code of the signed ticket code", content_type = "image/svg+xml", body = Vec<u8>),
        (status = 404, description = "`NOT_FOUND` (someone else's too)", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "`INVALID_STATE`: the ticket is void", body = crate::http::openapi::ErrorBody),
    ))]
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

/// A ticket's QR code (PNG), for its owner.
#[utoipa::path(get, path = "/api/v1/tickets/{ticket_id}/qr.png", tag = TAG,
    params(("ticket_id" = i64, Path, description = "The ticket")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The QR code of the signed ticket code", content_type = "image/png", body = Vec<u8>),
        (status = 404, description = "`NOT_FOUND` (someone else's too)", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "`INVALID_STATE`: the ticket is void", body = crate::http::openapi::ErrorBody),
    ))]
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CheckInBody {
    /// The signed code a ticket's QR carries: `BX1.<claim>.<signature>`.
    #[schema(pattern = "^\\s*BX1\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\s*$")]
    code: String,
}

/// `POST /api/v1/checkin {code}`: 200 on the first scan, 409 `ALREADY_CHECKED_IN` after, 400
/// for a forged, altered or voided code. Only the event's organiser or the venue's owner.
#[tracing::instrument(skip_all, fields(user_id = user.user_id))]
#[utoipa::path(post, path = "/api/v1/checkin", tag = TAG, request_body = CheckInBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Let in", body = CheckedIn),
        (status = 400, description = "`INVALID_TICKET`: forged, altered or void", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "`FORBIDDEN`: neither the event's organiser nor the venue's owner", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "`ALREADY_CHECKED_IN` (`details.checked_in_at`)", body = crate::http::openapi::ErrorBody),
    ))]
async fn check_in(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<CheckInBody>,
) -> ApiResult<(StatusCode, Json<CheckedIn>)> {
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
        Json(CheckedIn {
            status: "checked_in",
            ticket_id: ticket.ticket_id,
            show_id: claim.show_id,
            booking_id: claim.booking_id,
            seat_id: ticket.label,
            section: ticket.section,
            checked_in_at: now,
        }),
    ))
}

fn already(ticket_id: i64, at: DateTime<Utc>) -> ApiError {
    ApiError::new(
        ErrorCode::AlreadyCheckedIn,
        "This ticket has already been checked in",
    )
    .with_details(json!({ "ticket_id": ticket_id, "checked_in_at": at }))
}
