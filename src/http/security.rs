//! Security headers on every response. The web app's page carries its own strict
//! Content-Security-Policy ([`WEB_APP_CSP`], set by `crate::web`); everything else (JSON, QR
//! images, errors) gets one that allows nothing, since none of it is meant to be rendered as a
//! page. `tests/integration/web.rs::security_headers_on_the_page_and_the_api` checks both.

use axum::http::header::{
    CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::HeaderValue;
use axum::response::Response;

/// The web app's policy: its own scripts, styles and API only; QR images arrive as `blob:`
/// URLs; no plugins, no `<base>`, no framing. No `'unsafe-inline'` anywhere: the app sets
/// dynamic colours through the CSSOM, never a `style` attribute.
pub const WEB_APP_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// What a response that is not the web app's page may load: nothing.
pub const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// Adds `X-Content-Type-Options`, `Referrer-Policy`, `X-Frame-Options` and, where the handler
/// set none, a deny-all `Content-Security-Policy`.
pub fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers
        .entry(CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(API_CSP));
    response
}
