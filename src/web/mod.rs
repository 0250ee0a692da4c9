//! The web app (SPEC §12), embedded in the binary: one HTML page, one stylesheet and plain ES
//! modules (`app.js` imports the rest), no build step. Served with an ETag so browsers
//! revalidate cheaply.
//!
//! While working on the app, `BOXOFFICE_WEB_ASSETS=src/web/assets` serves the files from that
//! directory instead, read afresh on every request: edit, reload, no rebuild.

use std::borrow::Cow;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};

use crate::app::AppState;

const INDEX: &str = include_str!("assets/index.html");
const STYLE: &str = include_str!("assets/app.css");
const ICON: &str = include_str!("assets/favicon.svg");

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
    ("event.js", include_str!("assets/event.js")),
    ("search.js", include_str!("assets/search.js")),
    ("show.js", include_str!("assets/show.js")),
    ("seatmap.js", include_str!("assets/seatmap.js")),
    ("queue.js", include_str!("assets/queue.js")),
    ("checkout.js", include_str!("assets/checkout.js")),
    ("bookings.js", include_str!("assets/bookings.js")),
    ("organiser.js", include_str!("assets/organiser.js")),
    ("venues.js", include_str!("assets/venues.js")),
];

pub fn router() -> Router<AppState> {
    let dir = std::env::var_os("BOXOFFICE_WEB_ASSETS").map(std::path::PathBuf::from);
    if let Some(dir) = &dir {
        tracing::warn!(dir = %dir.display(), "serving the web app from disk (development)");
    }
    let files = [
        ("index.html", INDEX, "text/html; charset=utf-8"),
        ("app.css", STYLE, "text/css; charset=utf-8"),
        ("favicon.svg", ICON, "image/svg+xml"),
    ]
    .into_iter()
    .chain(
        SCRIPTS
            .iter()
            .map(|&(name, body)| (name, body, "text/javascript; charset=utf-8")),
    );
    files.fold(Router::new(), |router, (name, body, content_type)| {
        let dir = dir.clone();
        let path = match name {
            "index.html" => "/".to_owned(),
            "favicon.svg" => "/favicon.svg".to_owned(),
            _ => format!("/assets/{name}"),
        };
        router.route(
            &path,
            get(move |h: HeaderMap| async move {
                let body = match &dir {
                    Some(dir) => match tokio::fs::read_to_string(dir.join(name)).await {
                        Ok(text) => Cow::Owned(text),
                        Err(_) => return StatusCode::NOT_FOUND.into_response(),
                    },
                    None => Cow::Borrowed(body),
                };
                let mut response = asset(&h, body, content_type);
                if name == "index.html" {
                    // The scripts and styles the page loads carry no policy of their own: a
                    // policy applies to the document.
                    response.headers_mut().insert(
                        header::CONTENT_SECURITY_POLICY,
                        HeaderValue::from_static(crate::http::security::WEB_APP_CSP),
                    );
                }
                response
            }),
        )
    })
}

fn asset(request: &HeaderMap, body: Cow<'static, str>, content_type: &'static str) -> Response {
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
