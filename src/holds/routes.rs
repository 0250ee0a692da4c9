//! `POST /api/v1/book/reserve` and `DELETE /api/v1/book/reserve` (the seed's contract).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{HoldOutcome, HoldRequest};
use crate::app::AppState;
use crate::catalog::time::local_rfc3339_millis;
use crate::domain::InventoryStatus;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::auth::AuthUser;
use crate::http::json::ApiJson;
use crate::inventory::{cached_sale_show, check_seat_ids, inventory_seats};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/book/reserve", post(reserve).delete(release))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeatsBody {
    pub show_id: i64,
    pub seat_ids: Vec<String>,
}

#[tracing::instrument(skip_all, fields(show_id = body.show_id, user_id = user.user_id))]
async fn reserve(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SeatsBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let labels = check_seat_ids(body.show_id, &body.seat_ids)?;
    let show = cached_sale_show(&state.db, &state.shows, body.show_id).await?;
    show.ensure_on_sale()?;
    state
        .queue
        .check_pass(&show, user.user_id, crate::queue::pass_header(&headers), 0)?;
    let (seats, bought) = inventory_seats(&state.db, &show, &labels, user.user_id).await?;
    let sold: Vec<&str> = seats
        .iter()
        .filter(|s| s.status != InventoryStatus::Available)
        .map(|s| s.label.as_str())
        .collect();
    if !sold.is_empty() {
        return Err(seat_locked(show.show_id, &sold));
    }
    let outcome = state
        .holds
        .hold(&HoldRequest {
            show_id: show.show_id,
            user_id: user.user_id,
            seats: &labels,
            hold_seconds: show.hold_seconds.max(1) as u32,
            cap: show.max_seats_per_user.max(0) as u32,
            bought: bought.max(0) as u32,
        })
        .await?;
    match outcome {
        HoldOutcome::Held {
            hold_id,
            expires_at,
        } => Ok((
            StatusCode::ACCEPTED,
            Json(json!({
                "status": "accepted",
                "show_id": show.show_id,
                "seat_ids": labels,
                "hold_id": hold_id,
                "expires_at": local_rfc3339_millis(expires_at, show.tz()),
            })),
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

#[tracing::instrument(skip_all, fields(show_id = body.show_id, user_id = user.user_id))]
async fn release(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<SeatsBody>,
) -> ApiResult<Json<Value>> {
    let labels = check_seat_ids(body.show_id, &body.seat_ids)?;
    let show = cached_sale_show(&state.db, &state.shows, body.show_id).await?;
    let released = state
        .holds
        .release(show.show_id, user.user_id, &labels)
        .await?;
    Ok(Json(json!({
        "status": "released",
        "show_id": show.show_id,
        "seat_ids": released,
    })))
}
