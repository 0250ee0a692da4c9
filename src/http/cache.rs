//! Cache headers for catalog reads: `ETag` from the body, `304` on a matching `If-None-Match`,
//! `public` (or `private` when the catalog needs auth) with a `max-age`. Seat availability is
//! never cached (`no-store`).

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::catalog::cache::Rendered;
use crate::error::ApiError;

/// A cacheable JSON answer to a catalog read.
pub fn catalog_json<T: Serialize>(
    request_headers: &HeaderMap,
    value: &T,
    max_age: u32,
    private: bool,
) -> Result<Response, ApiError> {
    let body = serde_json::to_vec(value).map_err(ApiError::internal)?;
    catalog_rendered(request_headers, &Rendered::new(body), max_age, private)
}

/// A catalog answer rendered before (kept in memory): `304` on a matching `If-None-Match`.
pub fn catalog_rendered(
    request_headers: &HeaderMap,
    answer: &Rendered,
    max_age: u32,
    private: bool,
) -> Result<Response, ApiError> {
    let etag: &str = &answer.etag;
    let cache_control = format!(
        "{}, max-age={max_age}",
        if private { "private" } else { "public" }
    );
    let matches = if_none_match(request_headers, etag);
    let mut headers = HeaderMap::new();
    headers.insert(header::ETAG, header_value(etag)?);
    headers.insert(header::CACHE_CONTROL, header_value(&cache_control)?);
    headers.insert(header::VARY, HeaderValue::from_static("Authorization"));
    if matches {
        return Ok((StatusCode::NOT_MODIFIED, headers).into_response());
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Authorization, Accept-Encoding"),
    );
    match &answer.gzip {
        Some(gzip) if accepts_gzip(request_headers) => {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            Ok((StatusCode::OK, headers, gzip.clone()).into_response())
        }
        _ => Ok((StatusCode::OK, headers, answer.body.clone()).into_response()),
    }
}

/// Whether the request's `If-None-Match` names `etag` (or `*`): the client has it already.
pub fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == etag || t == "*")
        })
}

/// Whether the request accepts a gzip body (`Accept-Encoding: gzip` or `*`, not with `q=0`).
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| p.trim().replace(' ', "") == "q=0");
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// A JSON answer that no cache may keep (live seat availability).
pub fn no_store_json<T: Serialize>(value: &T) -> Result<Response, ApiError> {
    let body = serde_json::to_vec(value).map_err(ApiError::internal)?;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
            (header::VARY, "Authorization"),
        ],
        body,
    )
        .into_response())
}

fn header_value(s: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(s).map_err(ApiError::internal)
}
