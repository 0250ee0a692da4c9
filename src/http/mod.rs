//! Gateway concerns shared by every route: auth extractors, JSON rejections in our shape,
//! cache headers, request ids and the fallbacks.

pub mod auth;
pub mod cache;
pub mod json;
pub mod security;

use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, ErrorCode};

/// The answer for a path no route matches.
pub async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("No route for {method} {}", uri.path()),
    )
}

/// Rewrites axum's plain-text 405 into our shape.
pub async fn method_not_allowed(response: Response) -> Response {
    if response.status() == axum::http::StatusCode::METHOD_NOT_ALLOWED
        && response
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .is_none()
    {
        let allow = response.headers().get(axum::http::header::ALLOW).cloned();
        let mut rewritten = ApiError::new(
            ErrorCode::MethodNotAllowed,
            "Method not allowed on this route",
        )
        .into_response();
        if let Some(allow) = allow {
            rewritten
                .headers_mut()
                .insert(axum::http::header::ALLOW, allow);
        }
        return rewritten;
    }
    response
}

/// A panic inside a handler becomes a 500 in our shape, never a dropped connection.
pub fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::internal(anyhow::anyhow!("handler panicked")).into_response()
}
