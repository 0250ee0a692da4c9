//! Every route of the service behind the gateway layers (request ids, tracing, limits,
//! timeouts, error shape, security headers), and the health and readiness probes.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderName, Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{middleware, Json, Router};
use serde_json::json;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::predicate::{DefaultPredicate, Predicate, SizeAbove};
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tower_http::LatencyUnit;
use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;
use crate::config::ServeConfig;

/// Bounds of one request: its body's size and arrival time, and the time to answer it.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    pub max_body_bytes: usize,
    pub body_timeout: Duration,
    pub request_timeout: Duration,
}

impl RequestLimits {
    pub fn from_config(config: &ServeConfig) -> Self {
        Self {
            max_body_bytes: config.max_body_bytes,
            body_timeout: Duration::from_millis(config.body_timeout_ms.max(1)),
            request_timeout: Duration::from_millis(config.request_timeout_ms.max(1)),
        }
    }
}

/// Where `GET /metrics` is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsRoute {
    /// Beside the API.
    Public,
    /// On an address of its own (`--metrics-bind`), not here.
    Separate,
}

/// Every route of the service, with the gateway layers.
pub fn router(state: AppState, limits: RequestLimits, metrics: MetricsRoute) -> Router {
    // Installed before the first request, so every request is counted.
    crate::http::metrics::handle();
    let request_id = HeaderName::from_static("x-request-id");
    let mut routes = Router::new();
    if metrics == MetricsRoute::Public {
        routes = routes.route("/metrics", get(crate::http::metrics::metrics));
    }
    let (api, _) = api().split_for_parts();
    routes
        .merge(api)
        .merge(crate::web::router())
        .fallback(crate::http::not_found)
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(CatchPanicLayer::custom(crate::http::panic_response))
        .layer(RequestBodyTimeoutLayer::new(limits.body_timeout))
        .layer(middleware::from_fn_with_state(
            crate::http::Gateway {
                state: state.clone(),
                limits,
            },
            crate::http::gateway,
        ))
        .layer(middleware::map_response(crate::http::finish))
        // gzip or brotli for every text answer the client accepts it for (not for event
        // streams, and not for answers already encoded, such as availability snapshots).
        .layer(
            CompressionLayer::new()
                .quality(CompressionLevel::Fastest)
                .compress_when(DefaultPredicate::new().and(SizeAbove::new(256))),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    let id = req
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    let route = req
                        .extensions()
                        .get::<axum::extract::MatchedPath>()
                        .map_or("unmatched", |p| p.as_str());
                    // `user_id` is filled in by the auth extractor when a valid token comes,
                    // `show_id` by the handlers of holds and bookings (recorded here rather
                    // than in a span of their own: a span is a formatted string a request).
                    tracing::info_span!(
                        "request",
                        method = %req.method(),
                        route,
                        path = %req.uri().path(),
                        request_id = %id,
                        user_id = tracing::field::Empty,
                        show_id = tracing::field::Empty,
                    )
                })
                // One line a request as it is answered: its status and latency, in the span
                // above (an access log; `RUST_LOG=tower_http=warn` turns it off).
                .on_response(
                    DefaultOnResponse::new()
                        .level(tracing::Level::INFO)
                        .latency_unit(LatencyUnit::Micros),
                ),
        )
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// Every API route, each registered with its OpenAPI description (`crate::http::openapi`).
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(utoipa_axum::routes!(healthz))
        .routes(utoipa_axum::routes!(readyz))
        .routes(utoipa_axum::routes!(openapi_json))
        .merge(crate::auth::router())
        .merge(crate::venues::router())
        .merge(crate::catalog::router())
        .merge(crate::availability::router())
        .merge(crate::holds::router())
        .merge(crate::queue::router())
        .merge(crate::booking::router())
        .merge(crate::tickets::router())
        .merge(crate::notify::webhooks::router())
        .merge(crate::search::router())
}

/// The OpenAPI document of [`api`], completed by `crate::http::openapi::document`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, document) = api().split_for_parts();
    crate::http::openapi::document(document)
}

/// This API's OpenAPI 3.1 document (generated from the handlers and their types).
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "The document", body = serde_json::Value)))]
async fn openapi_json() -> impl IntoResponse {
    static DOCUMENT: std::sync::OnceLock<bytes::Bytes> = std::sync::OnceLock::new();
    let body = DOCUMENT.get_or_init(|| match serde_json::to_vec(&openapi()) {
        Ok(json) => bytes::Bytes::from(json),
        Err(e) => {
            tracing::error!(error = %e, "cannot serialise the OpenAPI document");
            bytes::Bytes::from_static(b"{}")
        }
    });
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body.clone(),
    )
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "`{\"status\":\"ok\"}`", body = serde_json::Value)))]
async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// `ok`, `unreachable` or `timeout` for one dependency of `/readyz` (2 s at most).
async fn probe<E: std::fmt::Display>(
    name: &str,
    check: impl Future<Output = Result<(), E>>,
) -> &'static str {
    match tokio::time::timeout(Duration::from_secs(2), check).await {
        Ok(Ok(())) => "ok",
        Ok(Err(e)) => {
            tracing::warn!(error = %e, dependency = name, "readiness: unreachable");
            "unreachable"
        }
        Err(_) => "timeout",
    }
}

/// Readiness: the database, the hold store and the bus answer (each within 2 s); the outbox's
/// backlog and lag.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready: `status`, `checks` per dependency, `outbox`", body = serde_json::Value),
        (status = 503, description = "A dependency is unreachable (`Retry-After`)", body = serde_json::Value),
    ))]
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let (db, holds) = tokio::join!(
        probe("database", state.db.ping()),
        probe("hold store", state.holds.ping())
    );
    let nats = state
        .nats
        .as_ref()
        .map(|bus| if bus.connected() { "ok" } else { "unreachable" });
    let bounded = Duration::from_secs(2);
    let lag = tokio::time::timeout(bounded, crate::events::outbox_lag_seconds(&state.db))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or(-1.0);
    let backlog = tokio::time::timeout(bounded, crate::events::outbox_backlog(&state.db))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or(-1);
    if lag > 10.0 {
        tracing::warn!(lag_seconds = lag, backlog, "outbox relay is behind");
    }
    let published = state.relay_stats.published.load(Ordering::Relaxed);
    let duplicates = state.relay_stats.duplicates.load(Ordering::Relaxed);
    let ready = db == "ok" && holds == "ok" && nats.is_none_or(|n| n == "ok");
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let retry_after = [(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static(if ready { "0" } else { "1" }),
    )];
    (
        status,
        retry_after,
        Json(json!({
            "status": if ready { "ready" } else { "unavailable" },
            "checks": {
                "database": { "status": db, "backend": state.db.backend().as_str() },
                "holds": { "status": holds, "backend": state.holds.kind() },
                "event_bus": {
                    "status": nats.unwrap_or("ok"),
                    "backend": if state.nats.is_some() { "nats" } else { "in-process" },
                },
                "outbox": {
                    "lag_seconds": lag,
                    "unpublished": backlog,
                    "published_by_this_node": published,
                    "republished_duplicates": duplicates,
                },
            },
        })),
    )
}
