//! One error type for every failure, rendered in the seed's JSON shape:
//! `{"error_code": "...", "message": "...", "details": {...}}`.
//!
//! Internal failures become `500 INTERNAL_ERROR` with a fixed message; their cause chain is
//! logged, never sent.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// The stable error codes of SPEC §3, with their HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    ShowNotFound,
    MethodNotAllowed,
    InvalidState,
    Conflict,
    EmailTaken,
    SeatLocked,
    SeatNotAvailable,
    HoldExpired,
    SeatLimitExceeded,
    QueuePassRequired,
    PaymentDeclined,
    IdempotencyKeyReused,
    IdempotencyInProgress,
    InvalidTicket,
    AlreadyCheckedIn,
    PayloadTooLarge,
    UnsupportedMediaType,
    RequestTimeout,
    UriTooLong,
    HeadersTooLarge,
    RateLimited,
    Internal,
    Unavailable,
}

impl ErrorCode {
    /// Every code, as the OpenAPI document lists them.
    pub const ALL: [ErrorCode; 27] = [
        Self::InvalidRequest,
        Self::Unauthorized,
        Self::Forbidden,
        Self::NotFound,
        Self::ShowNotFound,
        Self::MethodNotAllowed,
        Self::InvalidState,
        Self::Conflict,
        Self::EmailTaken,
        Self::SeatLocked,
        Self::SeatNotAvailable,
        Self::HoldExpired,
        Self::SeatLimitExceeded,
        Self::QueuePassRequired,
        Self::PaymentDeclined,
        Self::IdempotencyKeyReused,
        Self::IdempotencyInProgress,
        Self::InvalidTicket,
        Self::AlreadyCheckedIn,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::RequestTimeout,
        Self::UriTooLong,
        Self::HeadersTooLarge,
        Self::RateLimited,
        Self::Internal,
        Self::Unavailable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "INVALID_REQUEST",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::ShowNotFound => "SHOW_NOT_FOUND",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::InvalidState => "INVALID_STATE",
            Self::Conflict => "CONFLICT",
            Self::EmailTaken => "EMAIL_TAKEN",
            Self::SeatLocked => "SEAT_LOCKED",
            Self::SeatNotAvailable => "SEAT_NOT_AVAILABLE",
            Self::HoldExpired => "HOLD_EXPIRED",
            Self::SeatLimitExceeded => "SEAT_LIMIT_EXCEEDED",
            Self::QueuePassRequired => "QUEUE_PASS_REQUIRED",
            Self::PaymentDeclined => "PAYMENT_DECLINED",
            Self::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            Self::IdempotencyInProgress => "IDEMPOTENCY_IN_PROGRESS",
            Self::InvalidTicket => "INVALID_TICKET",
            Self::AlreadyCheckedIn => "ALREADY_CHECKED_IN",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::RequestTimeout => "REQUEST_TIMEOUT",
            Self::UriTooLong => "URI_TOO_LONG",
            Self::HeadersTooLarge => "HEADERS_TOO_LARGE",
            Self::RateLimited => "RATE_LIMITED",
            Self::Internal => "INTERNAL_ERROR",
            Self::Unavailable => "SERVICE_UNAVAILABLE",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Self::InvalidRequest => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound | Self::ShowNotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::InvalidState
            | Self::Conflict
            | Self::EmailTaken
            | Self::SeatLocked
            | Self::SeatNotAvailable
            | Self::HoldExpired
            | Self::IdempotencyInProgress
            | Self::AlreadyCheckedIn => StatusCode::CONFLICT,
            Self::InvalidTicket => StatusCode::BAD_REQUEST,
            Self::SeatLimitExceeded | Self::QueuePassRequired => StatusCode::FORBIDDEN,
            Self::PaymentDeclined => StatusCode::PAYMENT_REQUIRED,
            Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::UriTooLong => StatusCode::URI_TOO_LONG,
            Self::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// An error answered to a client.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Value,
    /// Seconds a client should wait before retrying (`Retry-After`); 503 and 429 always carry
    /// one (1 s unless set).
    pub retry_after: Option<u64>,
    /// The internal cause of a 500, logged and never sent.
    source: Option<anyhow::Error>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: json!({}),
            retry_after: None,
            source: None,
        }
    }

    /// Tells the client when to retry (`Retry-After`, in seconds).
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// A 503: a dependency (`what`) is down or overloaded; the client may retry shortly.
    pub fn unavailable(what: &str) -> Self {
        Self::new(
            ErrorCode::Unavailable,
            format!("{what} is unavailable right now, try again shortly"),
        )
        .with_details(json!({ "dependency": what }))
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// A 400 naming the offending field in `details.field`.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message).with_details(json!({ "field": field.into() }))
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(ErrorCode::Unauthorized, "Authentication required")
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    pub fn not_found(what: &str, id: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} {id} not found"))
    }

    pub fn show_not_found(show_id: i64) -> Self {
        Self::new(ErrorCode::ShowNotFound, format!("Show {show_id} not found"))
            .with_details(json!({ "show_id": show_id }))
    }

    pub fn invalid_state(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidState, message)
    }

    /// A 500 whose cause is logged but never shown to the client; a cause that is a lost or
    /// unreachable dependency (database, Redis) is a 503 with `Retry-After` instead.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        let cause = cause.into();
        for link in cause.chain() {
            if let Some(db) = link.downcast_ref::<sqlx::Error>() {
                if database_unavailable(db) {
                    tracing::warn!(error = %cause, "database unavailable");
                    return Self::unavailable("The database");
                }
            }
            if link.is::<crate::holds::HoldStoreError>() {
                tracing::warn!(error = %cause, "hold store unavailable");
                return Self::unavailable("Seat holds");
            }
        }
        Self {
            code: ErrorCode::Internal,
            message: "Something went wrong".into(),
            details: json!({}),
            retry_after: None,
            source: Some(cause),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        if database_unavailable(&err) {
            tracing::warn!(error = %err, "database unavailable");
            return Self::unavailable("The database");
        }
        Self::internal(err)
    }
}

/// Whether a database error means "the database is down, busy or the connection was lost"
/// (answered 503 with `Retry-After`) rather than a bug (500).
pub fn database_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // PostgreSQL: class 08 (connection exception), 57P01-57P05 (admin/crash shutdown,
            // cannot connect now, idle session timeout), 53300 (too many connections), 57014
            // (statement timeout). SQLite: 5 (busy), 6 (locked).
            if code.len() == 5 {
                code.starts_with("08")
                    || code.starts_with("57P")
                    || code == "53300"
                    || code == "57014"
            } else {
                // SQLite's (extended) result codes: the primary code is the low byte.
                code.parse::<u32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6))
            }
        }
        _ => false,
    }
}

impl From<crate::holds::HoldStoreError> for ApiError {
    fn from(err: crate::holds::HoldStoreError) -> Self {
        tracing::warn!(error = %err, "hold store unavailable");
        Self::unavailable("Seat holds")
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        Self::internal(err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(source) = &self.source {
            tracing::error!(error = ?source, "request failed with an internal error");
        }
        let body = json!({
            "error_code": self.code.as_str(),
            "message": self.message,
            "details": self.details,
        });
        let mut response = (self.code.status(), axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        let retry_after = match self.code {
            ErrorCode::Unavailable | ErrorCode::RateLimited => Some(self.retry_after.unwrap_or(1)),
            _ => self.retry_after,
        };
        if let Some(seconds) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
