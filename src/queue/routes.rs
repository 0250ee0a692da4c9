//! `POST /api/v1/shows/{id}/queue/join`, `GET …/queue/status` (the caller's place) and
//! `GET …/queue` (the organiser's figures).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use crate::app::AppState;
use crate::error::ApiResult;
use crate::http::auth::AuthUser;
use crate::http::cache::no_store_json;
use crate::http::json::ApiPath;
use crate::inventory::cached_sale_show;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/shows/{show_id}/queue/join", post(join))
        .route("/api/v1/shows/{show_id}/queue/status", get(status))
        .route("/api/v1/shows/{show_id}/queue", get(stats))
}

async fn join(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(show_id): ApiPath<i64>,
) -> ApiResult<Response> {
    let show = cached_sale_show(&state.db, &state.shows, show_id).await?;
    show.ensure_on_sale()?;
    let place = state.queue.place(&show, user.user_id, true).await?;
    metrics::counter!("boxoffice_queue_joins_total").increment(1);
    no_store_json(&place)
}

/// The caller's place; with the `X-Queue-Token` its join gave, usually answered from this
/// node's recent read of the line rather than a store round trip.
async fn status(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    ApiPath(show_id): ApiPath<i64>,
) -> ApiResult<Response> {
    let show = cached_sale_show(&state.db, &state.shows, show_id).await?;
    let token = headers.get("x-queue-token").and_then(|v| v.to_str().ok());
    if let Some(token) = token {
        if let Some(place) = state
            .queue
            .place_by_token(&show, user.user_id, token)
            .await?
        {
            return no_store_json(&place);
        }
    }
    let place = state.queue.place(&show, user.user_id, false).await?;
    no_store_json(&place)
}

async fn stats(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(show_id): ApiPath<i64>,
) -> ApiResult<Response> {
    crate::catalog::shows::show_of_organiser(&state, &user, show_id).await?;
    let show = cached_sale_show(&state.db, &state.shows, show_id).await?;
    no_store_json(&state.queue.stats(&show).await?)
}
