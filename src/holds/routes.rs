//! `POST /api/v1/book/reserve` and `DELETE /api/v1/book/reserve` (the seed's contract).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{HoldOutcome, HoldRequest};
use crate::app::AppState;
use crate::catalog::time::local_rfc3339_millis;
use crate::domain::InventoryStatus;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::auth::AuthUser;
use crate::http::json::ApiJson;
use crate::inventory::{bought_seats, cached_sale_show, check_seat_ids, inventory_seats};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(reserve, release))
}

const TAG: &str = "booking";

/// Seats held.
#[derive(Serialize, ToSchema)]
struct Held {
    /// `accepted`.
    status: &'static str,
    show_id: i64,
    seat_ids: Vec<String>,
    hold_id: String,
    /// When the hold ends unless booked (the show's `hold_seconds`, 10 minutes by default).
    expires_at: String,
}

/// Seats let go.
#[derive(Serialize, ToSchema)]
struct Released {
    /// `released`.
    status: &'static str,
    show_id: i64,
    /// The seats among those asked for that the caller held.
    seat_ids: Vec<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeatsBody {
    pub show_id: i64,
    /// Seat labels such as `A1` (1 to 100, no repeats).
    #[schema(schema_with = crate::http::openapi::seat_ids)]
    pub seat_ids: Vec<String>,
}

/// Holds seats for the caller while they pay (all or none; seats they already hold keep their
/// expiry). With a waiting room, needs the pass it gave.
#[utoipa::path(post, path = "/api/v1/book/reserve", tag = TAG, request_body = SeatsBody,
    params(("X-Queue-Pass" = Option<String>, Header, description = "The waiting room's pass, when the show has one")),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Held", body = Held),
        (status = 400, description = "`INVALID_REQUEST`: unknown seats (`details.unknown_seats`)", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "`SEAT_LIMIT_EXCEEDED` or `QUEUE_PASS_REQUIRED`", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "`SHOW_NOT_FOUND`", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "`SEAT_LOCKED` (`details.locked_seats`) or `INVALID_STATE` (not on sale)", body = crate::http::openapi::ErrorBody),
        (status = 429, description = "`RATE_LIMITED`", body = crate::http::openapi::ErrorBody),
        (status = 503, description = "`SERVICE_UNAVAILABLE`: the hold store is unreachable (`Retry-After`)", body = crate::http::openapi::ErrorBody),
    ))]
async fn reserve(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SeatsBody>,
) -> ApiResult<(StatusCode, Json<Held>)> {
    tracing::Span::current().record("show_id", body.show_id);
    let labels = check_seat_ids(body.show_id, &body.seat_ids)?;
    let show = cached_sale_show(&state.db, &state.shows, body.show_id).await?;
    show.ensure_on_sale()?;
    state
        .queue
        .check_pass(&show, user.user_id, crate::queue::pass_header(&headers), 0)?;
    // Decided without the database: the node's live availability knows the show's seats and
    // which are sold (as last announced), and the hold store checks holds, sales and the cap
    // in one atomic step.
    let live = state.availability.show(show.show_id).await?;
    let seats = inventory_seats(&live, &labels)?;
    drop(live);
    let taken: Vec<&str> = seats
        .iter()
        .filter(|s| s.status != InventoryStatus::Available)
        .map(|s| s.label.as_str())
        .collect();
    if !taken.is_empty() {
        metrics::counter!("boxoffice_holds_total", "outcome" => "locked").increment(1);
        return Err(seat_locked(show.show_id, &taken));
    }
    let request = HoldRequest {
        show_id: show.show_id,
        user_id: user.user_id,
        seats: &labels,
        hold_seconds: show.hold_seconds.max(1) as u32,
        cap: show.max_seats_per_user.max(0) as u32,
    };
    let mut outcome = state.holds.hold(&request).await?;
    // The store's count of seats bought is a fast copy: before refusing on it, it is checked
    // against the database (and corrected) once.
    if let HoldOutcome::CapExceeded { bought, .. } = outcome {
        let recorded = bought_seats(&state.db, show.show_id, user.user_id).await?;
        if recorded != bought {
            tracing::info!(
                show_id = show.show_id,
                stored = bought,
                recorded,
                "correcting the hold store's count of seats bought"
            );
            state
                .holds
                .set_bought(show.show_id, user.user_id, recorded)
                .await?;
            outcome = state.holds.hold(&request).await?;
        }
    }
    let counted = match outcome {
        HoldOutcome::Held { .. } => "granted",
        HoldOutcome::Locked { .. } => "locked",
        HoldOutcome::CapExceeded { .. } => "cap_exceeded",
    };
    metrics::counter!("boxoffice_holds_total", "outcome" => counted).increment(1);
    match outcome {
        HoldOutcome::Held {
            hold_id,
            expires_at,
        } => Ok((
            StatusCode::ACCEPTED,
            Json(Held {
                status: "accepted",
                show_id: show.show_id,
                seat_ids: labels,
                hold_id,
                expires_at: local_rfc3339_millis(expires_at, show.tz()),
            }),
        )),
        HoldOutcome::Locked { seats } => {
            let seats: Vec<&str> = seats.iter().map(String::as_str).collect();
            Err(seat_locked(show.show_id, &seats))
        }
        HoldOutcome::CapExceeded { held, bought } => Err(ApiError::new(
            ErrorCode::SeatLimitExceeded,
            format!(
                "At most {} seats per person for this show (you hold {held} and bought {bought})",
                show.max_seats_per_user
            ),
        )
        .with_details(json!({
            "show_id": show.show_id,
            "max_seats_per_user": show.max_seats_per_user,
            "held": held,
            "bought": bought,
            "requested": labels.len(),
        }))),
    }
}

fn seat_locked(show_id: i64, seats: &[&str]) -> ApiError {
    ApiError::new(
        ErrorCode::SeatLocked,
        "One or more seats are already reserved",
    )
    .with_details(json!({ "show_id": show_id, "locked_seats": seats }))
}

/// Lets go of held seats.
#[utoipa::path(delete, path = "/api/v1/book/reserve", tag = TAG, request_body = SeatsBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Released", body = Released),
        (status = 400, description = "`INVALID_REQUEST`", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "`SHOW_NOT_FOUND`", body = crate::http::openapi::ErrorBody),
    ))]
async fn release(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<SeatsBody>,
) -> ApiResult<Json<Released>> {
    tracing::Span::current().record("show_id", body.show_id);
    let labels = check_seat_ids(body.show_id, &body.seat_ids)?;
    let show = cached_sale_show(&state.db, &state.shows, body.show_id).await?;
    let released = state
        .holds
        .release(show.show_id, user.user_id, &labels)
        .await?;
    metrics::counter!("boxoffice_holds_released_total").increment(1);
    Ok(Json(Released {
        status: "released",
        show_id: show.show_id,
        seat_ids: released,
    }))
}
