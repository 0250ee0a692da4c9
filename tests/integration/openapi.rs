//! The OpenAPI document (issue 15): `GET /api/v1/openapi.json` describes every route, and the
//! answers of a whole journey match the schemas it gives them.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::common::{self, Backend, TestApp};

both_backends!(
    the_document_is_served_and_every_documented_route_exists,
    answers_match_their_documented_schemas,
);

/// `(METHOD, path)` of every operation of `document`.
fn operations(document: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

/// Every `.route(` call in the crate's sources, as `file: call`. Routes registered that way
/// bypass the OpenAPI registration (`utoipa_axum::routes!`), so only the web app's pages and
/// assets and `/metrics` (Prometheus text, for the operator, not the API) may use it, and the
/// load generator (`src/bench/`), whose tests stand up a server of their own, never the service's.
fn plain_routes() -> Vec<String> {
    let mut found = Vec::new();
    let mut dirs = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("src dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("source");
                for (at, _) in text.match_indices(".route(") {
                    let call: String = text[at..].chars().take(120).collect();
                    let call = call.split_whitespace().collect::<Vec<_>>().join(" ");
                    found.push(format!("{}: {call}", path.display()));
                }
            }
        }
    }
    found
}

/// A test fails when a route exists without its description: every route but the web app's and
/// `/metrics` is registered from an annotated handler.
#[test]
fn no_api_route_is_registered_without_its_description() {
    let allowed = |call: &str| {
        call.contains("src/web/")
            || call.contains("src/bench/")
            || call.contains("\"/metrics\"")
            // `OpenApiRouter::route` inside utoipa-axum's own docs is not ours; ours only.
            || call.contains("src/router.rs") && call.contains("metrics")
    };
    let undocumented: Vec<String> = plain_routes().into_iter().filter(|c| !allowed(c)).collect();
    assert!(
        undocumented.is_empty(),
        "routes registered without an OpenAPI description (use `.routes(routes!(handler))` \
         with `#[utoipa::path]`): {undocumented:#?}"
    );
}

async fn the_document_is_served_and_every_documented_route_exists(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("document");
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let document: Value = res.json().await.expect("json");
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(
        document,
        serde_json::to_value(boxoffice::router::openapi()).expect("value"),
        "the served document is the generated one"
    );
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let codes = document["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("error codes");
    for code in [
        "SEAT_LOCKED",
        "PAYMENT_DECLINED",
        "QUEUE_PASS_REQUIRED",
        "RATE_LIMITED",
    ] {
        assert!(codes.contains(&json!(code)), "{code}");
    }

    let operations = operations(&document);
    // The operations the spec and the web app rely on, by name.
    for expected in [
        ("POST", "/api/v1/auth/register"),
        ("POST", "/api/v1/book/reserve"),
        ("DELETE", "/api/v1/book/reserve"),
        ("POST", "/api/v1/book"),
        ("GET", "/api/v1/shows/{show_id}/seats/stream"),
        ("POST", "/api/v1/shows/{show_id}/queue/join"),
        ("POST", "/api/v1/checkin"),
        ("GET", "/healthz"),
    ] {
        assert!(
            operations.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{expected:?} is not documented"
        );
    }
    for (method, path) in &operations {
        let operation = &document["paths"][path][method.to_lowercase()];
        assert!(
            operation["responses"]["4XX"]["content"]["application/json"]["schema"]["$ref"]
                == "#/components/schemas/ErrorBody",
            "{method} {path}: no error answer"
        );
        assert!(operation["tags"].is_array(), "{method} {path}: no tag");
        let secured = operation["security"]
            .as_array()
            .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
        let needs_token = operation["security"].as_array().is_some_and(|s| {
            !s.iter()
                .any(|r| r.as_object().is_some_and(|o| o.is_empty()))
        });
        // Each documented route is a real one: never the fallback's "No route for".
        let concrete = path
            .replace("{show_id}", "999999")
            .replace("{event_id}", "999999")
            .replace("{venue_id}", "999999")
            .replace("{booking_id}", "999999")
            .replace("{ticket_id}", "999999")
            .replace("{webhook_id}", "999999");
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let answer = app
            .client
            .request(method.clone(), app.url(&concrete))
            .send()
            .await
            .expect("answered");
        let status = answer.status().as_u16();
        let text = answer.text().await.unwrap_or_default();
        assert!(
            !text.contains("No route for") && status != 405,
            "{method} {path} is documented but not routed: {status} {text}"
        );
        // Without a token, an operation that requires one says 401 before anything else.
        if needs_token && secured && concrete.starts_with("/api/v1/") && method != "DELETE" {
            assert_eq!(status, 401, "{method} {path} without a token: {text}");
        }
    }
}

/// Validates answers against the document's component schemas.
struct Schemas {
    document: Value,
}

impl Schemas {
    async fn load(app: &TestApp) -> Self {
        Self {
            document: app.get("/api/v1/openapi.json", None).await.expect(200),
        }
    }

    /// The schema an operation documents for `status`.
    fn response_schema(&self, method: &str, path: &str, status: u16) -> Value {
        let schema = self.document["paths"][path][method]["responses"][status.to_string()]
            ["content"]["application/json"]["schema"]
            .clone();
        assert!(
            !schema.is_null(),
            "{method} {path} documents no JSON body for {status}"
        );
        schema
    }

    /// Asserts `body` (answered by `method path` with `status`) matches its documented schema.
    fn check(&self, method: &str, path: &str, status: u16, body: &Value) {
        let schema = self.response_schema(method, path, status);
        let mut root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.document["components"].clone(),
        });
        for (k, v) in schema.as_object().expect("schema object") {
            root[k] = v.clone();
        }
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(&root)
            .unwrap_or_else(|e| panic!("{method} {path}: bad schema: {e}"));
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        let short = |s: String| s.chars().take(400).collect::<String>();
        assert!(
            errors.is_empty(),
            "{method} {path} {status}: the answer does not match its schema: {:#?}\n{}",
            errors.into_iter().map(short).collect::<Vec<_>>(),
            short(body.to_string())
        );
    }
}

async fn answers_match_their_documented_schemas(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let schemas = Schemas::load(&app).await;
    let fx = app.live_show().await;
    let show = fx.show;
    let buyer = app.buyer().await;

    let me = app.get("/api/v1/me", Some(&buyer.token)).await.expect(200);
    schemas.check("get", "/api/v1/me", 200, &me);
    let tokens = app.login(&buyer.email).await.expect(200);
    schemas.check("post", "/api/v1/auth/login", 200, &tokens);
    let venue = app
        .get(&format!("/api/v1/venues/{}", fx.venue), None)
        .await
        .expect(200);
    schemas.check("get", "/api/v1/venues/{venue_id}", 200, &venue);
    let venues = app.get("/api/v1/venues", None).await.expect(200);
    schemas.check("get", "/api/v1/venues", 200, &venues);
    let event = app
        .get(&format!("/api/v1/events/{}", fx.event), None)
        .await
        .expect(200);
    schemas.check("get", "/api/v1/events/{event_id}", 200, &event);
    let shows = app.get("/api/v1/shows", None).await.expect(200);
    schemas.check("get", "/api/v1/shows", 200, &shows);
    let detail = app
        .get(&format!("/api/v1/shows/{show}"), None)
        .await
        .expect(200);
    schemas.check("get", "/api/v1/shows/{show_id}", 200, &detail);
    let layout = app
        .get(&format!("/api/v1/shows/{show}/layout"), None)
        .await
        .expect(200);
    schemas.check("get", "/api/v1/shows/{show_id}/layout", 200, &layout);

    let held = app.reserve(&buyer, show, &["A1", "A2"]).await.expect(202);
    schemas.check("post", "/api/v1/book/reserve", 202, &held);
    let availability = app
        .get(&format!("/api/v1/shows/{show}/availability"), None)
        .await
        .expect(200);
    schemas.check(
        "get",
        "/api/v1/shows/{show_id}/availability",
        200,
        &availability,
    );
    let seats = app
        .get(&format!("/api/v1/shows/{show}/seats"), Some(&buyer.token))
        .await
        .expect(200);
    schemas.check("get", "/api/v1/shows/{show_id}/seats", 200, &seats);
    let mine = app.holds_mine(&buyer.token, show).await.expect(200);
    schemas.check("get", "/api/v1/shows/{show_id}/holds/mine", 200, &mine);
    let rival = app.buyer().await;
    let locked = app.reserve(&rival, show, &["A1"]).await.expect(409);
    schemas.check("post", "/api/v1/book/reserve", 409, &locked);

    let booked = app
        .book(&buyer, show, &["A1", "A2"], &common::unique())
        .await
        .expect(201);
    schemas.check("post", "/api/v1/book", 201, &booked);
    let id = booked["booking_id"].as_i64().expect("booking");
    let booking = app
        .get(&format!("/api/v1/bookings/{id}"), Some(&buyer.token))
        .await
        .expect(200);
    schemas.check("get", "/api/v1/bookings/{booking_id}", 200, &booking);
    let list = app
        .get("/api/v1/bookings", Some(&buyer.token))
        .await
        .expect(200);
    schemas.check("get", "/api/v1/bookings", 200, &list);

    let released = app
        .request(
            reqwest::Method::DELETE,
            "/api/v1/book/reserve",
            Some(&rival.token),
            Some(json!({ "show_id": show, "seat_ids": ["B1"] })),
        )
        .await
        .expect(200);
    schemas.check("delete", "/api/v1/book/reserve", 200, &released);
    let key = app
        .get("/api/v1/tickets/public-key", None)
        .await
        .expect(200);
    schemas.check("get", "/api/v1/tickets/public-key", 200, &key);

    app.patch(
        &format!("/api/v1/shows/{show}"),
        Some(&fx.organiser.token),
        json!({ "queue": { "enabled": true, "admit_per_minute": 600 } }),
    )
    .await
    .expect(200);
    let place = app
        .post(
            &format!("/api/v1/shows/{show}/queue/join"),
            Some(&rival.token),
            json!({}),
        )
        .await
        .expect(200);
    schemas.check("post", "/api/v1/shows/{show_id}/queue/join", 200, &place);
    let stats = app
        .get(
            &format!("/api/v1/shows/{show}/queue"),
            Some(&fx.organiser.token),
        )
        .await
        .expect(200);
    schemas.check("get", "/api/v1/shows/{show_id}/queue", 200, &stats);
    let cancelled = app
        .post(
            &format!("/api/v1/bookings/{id}/cancel"),
            Some(&buyer.token),
            json!({}),
        )
        .await
        .expect(200);
    schemas.check(
        "post",
        "/api/v1/bookings/{booking_id}/cancel",
        200,
        &cancelled,
    );
    let search = app.get("/api/v1/search?q=test", None).await.expect(200);
    schemas.check("get", "/api/v1/search", 200, &search);
    let missing = app.get("/api/v1/shows/987654", None).await.expect(404);
    schemas.check("get", "/api/v1/shows/{show_id}", 404, &missing);
}
