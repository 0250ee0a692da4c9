//! The read side of an onsale: layout, availability, the live stream, the per-seat list and the
//! caller's own holds, all answered from this node's memory.

use std::convert::Infallible;

use super::live::ShowLive;
use super::stream::Follower;
use crate::app::AppState;
use crate::catalog::time::local_rfc3339_millis;
use crate::domain::SeatStatus;
use crate::error::ApiResult;
use crate::http::auth::{AuthUser, CatalogReader};
use crate::http::cache::{accepts_gzip, if_none_match};
use crate::http::json::ApiPath;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(layout))
        .routes(routes!(availability))
        .routes(routes!(stream))
        .routes(routes!(my_holds))
}

const TAG: &str = "seat map";

/// How long caches may keep a layout: it never changes once the show is live.
const LAYOUT_MAX_AGE: u32 = 86_400;

/// The seat map: sections with prices, rows as runs of seats, in seat index order.
#[utoipa::path(get, path = "/api/v1/shows/{show_id}/layout", tag = TAG,
    params(("show_id" = i64, Path, description = "A live (or past) show")),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The layout (immutable: `ETag`, cached a day)", body = super::map::LayoutBody),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        (status = 404, description = "`SHOW_NOT_FOUND`", body = crate::http::openapi::ErrorBody),
    ))]
async fn layout(
    State(state): State<AppState>,
    CatalogReader(reader): CatalogReader,
    headers: HeaderMap,
    ApiPath(show_id): ApiPath<i64>,
) -> ApiResult<Response> {
    let live = state.availability.show(show_id).await?;
    let map = &live.map;
    let cache = format!(
        "{}, max-age={LAYOUT_MAX_AGE}, immutable",
        if reader.is_some() {
            "private"
        } else {
            "public"
        }
    );
    let mut response = if if_none_match(&headers, &map.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "application/json")],
            map.layout_json.clone(),
        )
            .into_response()
    };
    let h = response.headers_mut();
    h.insert(header::ETAG, header_value(&map.etag));
    h.insert(header::CACHE_CONTROL, header_value(&cache));
    h.insert(header::VARY, HeaderValue::from_static("Authorization"));
    Ok(response)
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Every seat's status, packed, with the version it is at and counts per section.
#[utoipa::path(get, path = "/api/v1/shows/{show_id}/availability", tag = TAG,
    params(("show_id" = i64, Path, description = "A live (or past) show")),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "Every seat's status (gzip when accepted)", body = super::live::AvailabilityBody),
        (status = 404, description = "`SHOW_NOT_FOUND`", body = crate::http::openapi::ErrorBody),
    ))]
async fn availability(
    State(state): State<AppState>,
    CatalogReader(_reader): CatalogReader,
    headers: HeaderMap,
    ApiPath(show_id): ApiPath<i64>,
) -> ApiResult<Response> {
    let live = state.availability.show(show_id).await?;
    let snapshot = live.snapshot();
    // Rendered and compressed once per version; served as is.
    let (body, encoding) = if accepts_gzip(&headers) && !snapshot.gzip.is_empty() {
        (snapshot.gzip.clone(), Some("gzip"))
    } else {
        (snapshot.json.clone(), None)
    };
    let mut response = (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
            (header::VARY, "Accept-Encoding, Authorization"),
        ],
        body,
    )
        .into_response();
    if let Some(encoding) = encoding {
        response
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
    }
    Ok(response)
}

/// Server-sent events: a `snapshot` (or, with `Last-Event-ID`, the `seats` deltas missed), then
/// a `seats` delta per flush; the event id is the version. A client that falls behind by more
/// than its backlog is dropped and reconnects; a heartbeat comment goes out when idle. Plain
/// requests on a new connection are usually served by `stream::takeover` instead, with the same
/// events.
#[utoipa::path(get, path = "/api/v1/shows/{show_id}/seats/stream", tag = TAG,
    params(
        ("show_id" = i64, Path, description = "A live (or past) show"),
        ("Last-Event-ID" = Option<String>, Header, description = "The last version received (a number): resumes with the changes since; anything else is ignored"),
    ),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "`text/event-stream`: `snapshot` (data: the availability body) or the missed `seats` events, then a `seats` event (data: `{\"version\",\"changes\":[[seat index, status]…]}`) per change batch; `retry:` hints; a comment as heartbeat", content_type = "text/event-stream", body = StreamEvent),
        (status = 404, description = "`SHOW_NOT_FOUND`", body = crate::http::openapi::ErrorBody),
    ))]
async fn stream(
    State(state): State<AppState>,
    CatalogReader(_reader): CatalogReader,
    headers: HeaderMap,
    ApiPath(show_id): ApiPath<i64>,
) -> ApiResult<Response> {
    let live = state.availability.show(show_id).await?;
    let since = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let (opening, follower) = Follower::open(&live, since, state.shutdown.clone());
    let events = stream::unfold(follower, |mut follower| async move {
        let next = follower.next().await?;
        Some((Ok::<_, Infallible>(next), follower))
    });
    let body = stream::iter(opening.into_iter().map(Ok::<_, Infallible>)).chain(events);
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-store"),
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// The seats the caller holds for the show, and when the first of those holds ends.
#[utoipa::path(get, path = "/api/v1/shows/{show_id}/holds/mine", tag = TAG,
    params(("show_id" = i64, Path, description = "The show")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's held seats", body = MyHolds),
        (status = 401, description = "`UNAUTHORIZED`", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "`SHOW_NOT_FOUND`", body = crate::http::openapi::ErrorBody),
    ))]
async fn my_holds(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(show_id): ApiPath<i64>,
) -> ApiResult<Response> {
    let live = state.availability.show(show_id).await?;
    let (seats, soonest) = live.holds_of(user.user_id);
    let expires_at = soonest
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| local_rfc3339_millis(t, chrono_tz::Tz::UTC));
    crate::http::cache::no_store_json(&MyHolds {
        show_id,
        seat_ids: seats,
        expires_at,
    })
}

/// One server-sent event of the seat stream.
#[derive(ToSchema)]
#[allow(dead_code)]
struct StreamEvent {
    /// `snapshot` or `seats`.
    event: Option<String>,
    /// The show's version after this event; send it back as `Last-Event-ID`.
    id: Option<String>,
    /// JSON: the availability body (`snapshot`), or `{"version","changes":[[seat index, status]…]}`
    /// (`seats`).
    data: String,
    /// Milliseconds to wait before reconnecting.
    retry: Option<u64>,
}

/// The caller's holds on a show.
#[derive(Serialize, ToSchema)]
struct MyHolds {
    show_id: i64,
    seat_ids: Vec<String>,
    /// When the first of them ends (UTC); null without holds.
    expires_at: Option<String>,
}

/// The per-seat list of a live (or past) show from this node's state, in seat index order:
/// the shape of `GET /api/v1/shows/{id}/seats`.
pub fn seat_list(live: &ShowLive, user_id: Option<i64>) -> Vec<crate::catalog::browse::SeatView> {
    let map = &live.map;
    let currency = crate::money::Currency::parse(&map.currency);
    live.statuses(user_id)
        .into_iter()
        .zip(&map.seats)
        .map(|((status, mine), seat)| {
            let section = map.sections.get(seat.section as usize);
            let row = map
                .row_labels
                .get(seat.row as usize)
                .cloned()
                .unwrap_or_default();
            let price = section.map_or(0, |s| s.price_minor);
            crate::catalog::browse::SeatView {
                seat_id: format!("{row}{}", seat.number),
                section: section.map(|s| s.name.clone()).unwrap_or_default(),
                row,
                number: seat.number,
                x: seat.x,
                y: seat.y,
                accessible: seat.accessible,
                price: currency
                    .map(|c| c.to_major(price))
                    .unwrap_or_else(|| serde_json::Number::from(price)),
                status,
                mine,
            }
        })
        .collect()
}

/// How many seats of `seats` are held.
pub fn held_count(seats: &[crate::catalog::browse::SeatView]) -> usize {
    seats
        .iter()
        .filter(|s| s.status == SeatStatus::Held)
        .count()
}
