//! `POST /api/v1/shows/{id}/queue/join`, `GET …/queue/status` (the caller's place) and
//! `GET …/queue` (the organiser's figures).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::ApiResult;
use crate::http::auth::AuthUser;
use crate::http::cache::no_store_json;
use crate::http::json::ApiPath;
use crate::inventory::cached_sale_show;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(join))
        .routes(routes!(status))
        .routes(routes!(stats))
}

const TAG: &str = "waiting room";

/// Joins a show's waiting room (one place per person; joining again reads the place, and a
/// pass that expired unused sends the caller to the back).
#[utoipa::path(post, path = "/api/v1/shows/{show_id}/queue/join", tag = TAG,
    params(("show_id" = i64, Path, description = "The show")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's place", body = super::Place),
        (status = 404, description = "`SHOW_NOT_FOUND`", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "`INVALID_STATE`: no waiting room, or not on sale", body = crate::http::openapi::ErrorBody),
        (status = 429, description = "`RATE_LIMITED`", body = crate::http::openapi::ErrorBody),
    ))]
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
#[utoipa::path(get, path = "/api/v1/shows/{show_id}/queue/status", tag = TAG,
    params(
        ("show_id" = i64, Path, description = "The show"),
        ("X-Queue-Token" = Option<String>, Header, description = "The `queue_token` of the join: answered without a store round trip"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's place; `pass` once admitted", body = super::Place),
        (status = 404, description = "`NOT_FOUND`: not in the line, or `SHOW_NOT_FOUND`", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "`INVALID_STATE`: no waiting room", body = crate::http::openapi::ErrorBody),
    ))]
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

/// The line as its organiser sees it.
#[utoipa::path(get, path = "/api/v1/shows/{show_id}/queue", tag = TAG,
    params(("show_id" = i64, Path, description = "The show")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The line's figures", body = super::LineStats),
        (status = 403, description = "`FORBIDDEN`: not the show's organiser", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "`SHOW_NOT_FOUND`", body = crate::http::openapi::ErrorBody),
    ))]
async fn stats(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(show_id): ApiPath<i64>,
) -> ApiResult<Response> {
    crate::catalog::shows::show_of_organiser(&state, &user, show_id).await?;
    let show = cached_sale_show(&state.db, &state.shows, show_id).await?;
    no_store_json(&state.queue.stats(&show).await?)
}
