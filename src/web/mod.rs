//! The web app (SPEC §12), embedded in the binary: one HTML page, one stylesheet and plain ES
//! modules (`app.js` imports the rest), no build step. Served with an ETag so browsers
//! revalidate cheaply.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};

use crate::app::AppState;

const INDEX: &str = include_str!("assets/index.html");
const STYLE: &str = include_str!("assets/app.css");

/// Every module of the app, served as `/assets/<name>`.
const SCRIPTS: &[(&str, &str)] = &[
    ("app.js", include_str!("assets/app.js")),
    ("api.js", include_str!("assets/api.js")),
    ("template.js", include_str!("assets/template.js")),
    ("router.js", include_str!("assets/router.js")),
    ("ui.js", include_str!("assets/ui.js")),
    ("nav.js", include_str!("assets/nav.js")),
    ("account.js", include_str!("assets/account.js")),
    ("home.js", include_str!("assets/home.js")),
    ("search.js", include_str!("assets/search.js")),
    ("show.js", include_str!("assets/show.js")),
    ("queue.js", include_str!("assets/queue.js")),
    ("checkout.js", include_str!("assets/checkout.js")),
    ("bookings.js", include_str!("assets/bookings.js")),
    ("organiser.js", include_str!("assets/organiser.js")),
    ("venues.js", include_str!("assets/venues.js")),
];

pub fn router() -> Router<AppState> {
    let router = Router::new()
        .route("/", get(|h: HeaderMap| async move { page(&h) }))
        .route(
            "/assets/app.css",
            get(|h: HeaderMap| async move { asset(&h, STYLE, "text/css; charset=utf-8") }),
        );
    SCRIPTS.iter().fold(router, |router, &(name, body)| {
        router.route(
            &format!("/assets/{name}"),
            get(move |h: HeaderMap| async move { asset(&h, body, "text/javascript; charset=utf-8") }),
        )
    })
}

/// The app's page, under its strict Content-Security-Policy (the scripts and styles it loads
/// carry none of their own: a policy applies to the document).
fn page(request: &HeaderMap) -> Response {
    let mut response = asset(request, INDEX, "text/html; charset=utf-8");
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(crate::http::security::WEB_APP_CSP),
    );
    response
}

fn asset(request: &HeaderMap, body: &'static str, content_type: &'static str) -> Response {
    let etag = format!(
        "\"{}\"",
        hex::encode(&Sha256::digest(body.as_bytes())[..10])
    );
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=60, must-revalidate"),
        ),
        (
            header::ETAG,
            HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"0\"")),
        ),
    ];
    if request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains(&etag))
    {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (headers, body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The modules a script imports (`from "./x.js"`).
    fn imports(body: &str) -> Vec<&str> {
        body.split("from \"./")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .collect()
    }

    /// Every module the app imports is served, and every served module is imported (the
    /// browser asks for them one by one: a missing one stops the whole app).
    #[test]
    fn every_imported_module_is_served_and_every_served_one_used() {
        let served: Vec<&str> = SCRIPTS.iter().map(|(name, _)| *name).collect();
        let mut used = vec!["app.js"];
        for (name, body) in SCRIPTS {
            for module in imports(body) {
                assert!(
                    served.contains(&module),
                    "{name} imports {module}, not served"
                );
                used.push(module);
            }
        }
        for name in served {
            assert!(
                used.contains(&name),
                "{name} is served but nothing imports it"
            );
        }
        assert!(INDEX.contains(r#"<script type="module" src="/assets/app.js"></script>"#));
    }
}
