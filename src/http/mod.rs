//! Gateway concerns shared by every route: auth extractors, JSON rejections in our shape,
//! cache headers, request ids and the fallbacks.

pub mod auth;
pub mod cache;
pub mod json;
pub mod metrics;
pub mod openapi;
pub mod security;
pub mod serve;
pub mod strict;

use std::future::Future;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::error::{ApiError, ErrorCode};

/// What the gateway needs of each request: the node (for the rate limits) and the request
/// bounds.
#[derive(Clone)]
pub struct Gateway {
    pub state: AppState,
    pub limits: crate::router::RequestLimits,
}

/// The gateway's work on each request, in one layer (four layers were four boxed futures and
/// four clones of the stack beneath them per request): the request's metrics, the rate
/// limits, the size limits, then the deadline around the handler.
pub async fn gateway(State(gw): State<Gateway>, request: Request, next: Next) -> Response {
    let timer = metrics::RequestTimer::start(&request);
    let response = crate::limits::admit(&gw.state, request, |request| async move {
        match within_limits(gw.limits.max_body_bytes, request).await {
            Ok(request) => within_deadline(gw.limits.request_timeout, next.run(request)).await,
            Err(refused) => refused,
        }
    })
    .await;
    timer.finish(&response);
    response
}

/// Every answer on its way out: put in our error shape if it is an error that is not (see
/// [`error_shape`]), with the security headers.
pub async fn finish(response: Response) -> Response {
    security::security_headers(error_shape(response))
}

/// The answer for a path no route matches.
pub async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("No route for {method} {}", uri.path()),
    )
}

/// Rewrites an error answer that is not in our shape (axum's plain-text 405 and body-limit 413,
/// tower-http's timeouts, an empty 503) into our shape, keeping `Allow` and `Retry-After`.
fn error_shape(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (code, message) = match status {
        StatusCode::BAD_REQUEST => (ErrorCode::InvalidRequest, "The request is malformed"),
        StatusCode::NOT_FOUND => (ErrorCode::NotFound, "Not found"),
        StatusCode::METHOD_NOT_ALLOWED => (
            ErrorCode::MethodNotAllowed,
            "Method not allowed on this route",
        ),
        StatusCode::REQUEST_TIMEOUT => (
            ErrorCode::RequestTimeout,
            "The request took too long to arrive",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (ErrorCode::PayloadTooLarge, "Request body is too large"),
        StatusCode::URI_TOO_LONG => (ErrorCode::UriTooLong, "The request URI is too long"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            (ErrorCode::UnsupportedMediaType, "Unsupported content type")
        }
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => (
            ErrorCode::HeadersTooLarge,
            "The request headers are too large",
        ),
        StatusCode::TOO_MANY_REQUESTS => (ErrorCode::RateLimited, "Too many requests"),
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => (
            ErrorCode::Unavailable,
            "The service is busy, try again shortly",
        ),
        s if s.is_server_error() => (ErrorCode::Internal, "Something went wrong"),
        _ => (ErrorCode::InvalidRequest, "The request was refused"),
    };
    let keep: Vec<_> = [header::ALLOW, header::RETRY_AFTER]
        .into_iter()
        .filter_map(|name| response.headers().get(&name).cloned().map(|v| (name, v)))
        .collect();
    let mut rewritten = ApiError::new(code, message).into_response();
    *rewritten.status_mut() = status;
    for (name, value) in keep {
        rewritten.headers_mut().insert(name, value);
    }
    rewritten
}

/// Longest request target accepted (longer: 414 in our shape).
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Largest total size of the request headers (larger: 431 in our shape).
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// Most request header fields (more: 431 in our shape).
pub const MAX_HEADERS: usize = 100;

/// Refuses request targets and header sections over our limits, and bodies declared larger
/// than `max_body_bytes`, in our shape (`Err`: the answer). hyper's own limits sit above these
/// (see `serve`), so every request hyper parses meets this check. The body check comes first so
/// a route that never reads its body (a launch, a cancellation) still answers 413, as every
/// other route does.
async fn within_limits(max_body_bytes: usize, request: Request) -> Result<Request, Response> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max_body_bytes as u64) {
        linger(request.into_body()).await;
        let mut refused = ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("Request body is larger than {max_body_bytes} bytes"),
        )
        .into_response();
        refused.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
        return Err(refused);
    }
    let uri_len = request
        .uri()
        .path_and_query()
        .map_or(0, |pq| pq.as_str().len());
    if uri_len > MAX_URI_BYTES {
        return Err(ApiError::new(
            ErrorCode::UriTooLong,
            format!("The request URI is longer than {MAX_URI_BYTES} bytes"),
        )
        .into_response());
    }
    let headers = request.headers();
    let header_bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if headers.len() > MAX_HEADERS || header_bytes > MAX_HEADER_BYTES {
        return Err(ApiError::new(
            ErrorCode::HeadersTooLarge,
            format!("The request headers exceed {MAX_HEADERS} fields or {MAX_HEADER_BYTES} bytes"),
        )
        .into_response());
    }
    Ok(request)
}

/// Reads and discards what a refused body sends within a bound ([`LINGER_BYTES`] or
/// [`LINGER_TIME`]), as a lingering close does: closing with unread data would reset the
/// connection before the client read our answer.
async fn linger(body: axum::body::Body) {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut read = 0usize;
    let drain = async {
        while let Some(Ok(frame)) = body.frame().await {
            read += frame.data_ref().map_or(0, |d| d.len());
            if read > LINGER_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(LINGER_TIME, drain).await;
}

/// The most of a refused body read before answering.
const LINGER_BYTES: usize = 4 * 1024 * 1024;
/// The longest a refused body is read before answering.
const LINGER_TIME: Duration = Duration::from_secs(2);

/// Answers 503 when a request is not answered within `limit` (the work a handler spawned, such
/// as a booking, goes on).
async fn within_deadline(limit: Duration, answer: impl Future<Output = Response>) -> Response {
    match tokio::time::timeout(limit, answer).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(limit_ms = limit.as_millis() as u64, "request timed out");
            ApiError::new(
                ErrorCode::Unavailable,
                "The request could not be answered in time, try again shortly",
            )
            .with_details(serde_json::json!({ "reason": "timeout" }))
            .into_response()
        }
    }
}

/// A panic inside a handler becomes a 500 in our shape, never a dropped connection.
pub fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::internal(anyhow::anyhow!("handler panicked")).into_response()
}
