//! SPEC §3 and §5: bad input on every route is a clear 400/404/405/413/415 in the seed's error
//! shape, naming the offending field where there is one, never a 500 and never a partial
//! write. Every test runs on SQLite and PostgreSQL.

use crate::common;

use common::{show_body, small_venue_body, Backend, Resp, TestApp, User};
use reqwest::Method;
use serde_json::{json, Value};

both_backends!(
    missing_fields_and_bad_path_ids_are_named,
    empty_and_malformed_bodies_on_every_json_route,
    wrong_types_name_the_field,
    unknown_fields_are_refused_and_change_nothing,
    unknown_ids_in_the_path_are_404,
    non_numeric_path_ids_are_400,
    unknown_venue_in_a_show_body_is_400,
    oversized_bodies_are_413,
    wrong_content_types_are_415,
    unknown_routes_and_wrong_methods_answer_json,
    venue_layout_errors_name_the_field,
    show_creation_errors_name_the_field,
    show_and_event_updates_refuse_bad_values,
    event_creation_errors_name_the_field,
    list_query_errors_name_the_parameter,
    nul_characters_are_400_naming_the_field,
    arrays_where_objects_belong_are_400,
    every_error_is_in_our_shape,
    empty_query_parameters_mean_absent,
    search_answers_carry_etag_and_vary,
    a_layout_over_the_seat_cap_is_refused_before_it_is_built,
);

/// An id no test ever reaches.
const MISSING: i64 = 987_654;

/// A running app with a venue, an event with a live show, an event without shows and a
/// venue owner who has no venue yet.
struct World {
    app: TestApp,
    /// A venue owner with no venue: refused venue creates must leave their list empty.
    builder: User,
    organiser: User,
    venue: i64,
    event: i64,
    show: i64,
    /// The newest event, with no show: refused show creates must leave it empty.
    empty_event: i64,
}

async fn world(backend: Backend) -> World {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    let builder = app.venue_owner().await;
    let empty_event = app.event(&fx.organiser, "No Shows Yet", "concert").await;
    World {
        builder,
        organiser: fx.organiser,
        venue: fx.venue,
        event: fx.event,
        show: fx.show,
        empty_event,
        app,
    }
}

impl World {
    fn org(&self) -> Option<&str> {
        Some(&self.organiser.token)
    }

    fn builder(&self) -> Option<&str> {
        Some(&self.builder.token)
    }

    async fn show_snapshot(&self) -> Value {
        self.app
            .get(&format!("/api/v1/shows/{}", self.show), self.org())
            .await
            .expect(200)
    }

    async fn event_snapshot(&self) -> Value {
        self.app
            .get(&format!("/api/v1/events/{}", self.event), self.org())
            .await
            .expect(200)
    }

    /// The builder still has no venue.
    async fn assert_no_venue_written(&self) {
        let mine = self
            .app
            .get("/api/v1/venues?mine=true", self.builder())
            .await
            .expect(200);
        assert_eq!(mine, json!([]), "a refused venue create wrote nothing");
    }

    /// The empty event still has no show, drafts included.
    async fn assert_no_show_written(&self) {
        let event = self
            .app
            .get(&format!("/api/v1/events/{}", self.empty_event), self.org())
            .await
            .expect(200);
        assert_eq!(
            event["shows"],
            json!([]),
            "a refused show create wrote nothing"
        );
    }

    /// Identity columns only advance on an insert, so the next event gets the next id exactly
    /// when no refused create wrote a row. Call once, at the end of a test.
    async fn assert_no_event_written(&self) {
        let next = self.app.event(&self.organiser, "Next", "movie").await;
        assert_eq!(
            next,
            self.empty_event + 1,
            "a refused event create wrote nothing"
        );
    }
}

/// Sends `body` as is with `content_type` (no Content-Type header when `None`).
async fn send_raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Resp {
    let mut req = app.client.request(method, app.url(path)).body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    TestApp::read(req.send().await.expect("request sent")).await
}

/// Asserts a 400 naming `field` in `details.field`, with context on failure.
fn expect_field(res: Resp, field: &str, context: &str) -> Value {
    assert_eq!(res.status, 400, "{context}: {}", res.body);
    let err = res.expect_error(400, "INVALID_REQUEST");
    assert_eq!(err["details"]["field"], field, "{context}: {err}");
    err
}

/// Applies `f` to a copy of `base`.
fn with(base: &Value, f: impl FnOnce(&mut Value)) -> Value {
    let mut v = base.clone();
    f(&mut v);
    v
}

/// A JSON-bodied route, one field it knows and whether `{}` is a valid (no-op) body for it.
struct JsonRoute<'a> {
    method: Method,
    path: String,
    token: Option<&'a str>,
    field: &'static str,
    empty_object_ok: bool,
}

fn json_routes(w: &World) -> Vec<JsonRoute<'_>> {
    let rows: Vec<(Method, String, Option<&str>, &'static str, bool)> = vec![
        (
            Method::POST,
            "/api/v1/auth/register".into(),
            None,
            "email",
            false,
        ),
        (
            Method::POST,
            "/api/v1/auth/login".into(),
            None,
            "email",
            false,
        ),
        (
            Method::POST,
            "/api/v1/auth/refresh_token".into(),
            None,
            "refresh_token",
            false,
        ),
        (
            Method::POST,
            "/api/v1/venues".into(),
            w.builder(),
            "name",
            false,
        ),
        (
            Method::POST,
            "/api/v1/venues/preview".into(),
            w.builder(),
            "sections",
            false,
        ),
        (
            Method::POST,
            "/api/v1/events".into(),
            w.org(),
            "title",
            false,
        ),
        (
            Method::PATCH,
            format!("/api/v1/events/{}", w.event),
            w.org(),
            "title",
            true,
        ),
        (
            Method::POST,
            format!("/api/v1/events/{}/shows", w.empty_event),
            w.org(),
            "venue_id",
            false,
        ),
        (
            Method::PATCH,
            format!("/api/v1/shows/{}", w.show),
            w.org(),
            "hold_seconds",
            true,
        ),
    ];
    rows.into_iter()
        .map(|(method, path, token, field, empty_object_ok)| JsonRoute {
            method,
            path,
            token,
            field,
            empty_object_ok,
        })
        .collect()
}

async fn empty_and_malformed_bodies_on_every_json_route(backend: Backend) {
    let w = world(backend).await;
    let show_before = w.show_snapshot().await;
    let event_before = w.event_snapshot().await;
    let malformed: [(&str, &str); 11] = [
        ("", "empty"),
        ("  \n\t ", "empty"),
        ("{", "Malformed JSON"),
        (r#"{"na"#, "Malformed JSON"),
        ("not json", "must be a JSON object"),
        ("{,}", "Malformed JSON"),
        ("{'a': 1}", "Malformed JSON"),
        ("[]", "must be a JSON object"),
        ("null", "must be a JSON object"),
        (r#""a string""#, "must be a JSON object"),
        ("42", "must be a JSON object"),
    ];
    for route in json_routes(&w) {
        for (body, message) in malformed {
            let res = send_raw(
                &w.app,
                route.method.clone(),
                &route.path,
                route.token,
                Some("application/json"),
                body.as_bytes().to_vec(),
            )
            .await;
            let context = format!("{} {} with {body:?}", route.method, route.path);
            assert_eq!(res.status, 400, "{context}: {}", res.body);
            let err = res.expect_error(400, "INVALID_REQUEST");
            assert!(
                err["message"].as_str().is_some_and(|m| m.contains(message)),
                "{context}: {err}"
            );
        }
        // Cut off after a field the route knows: the error names that field.
        for body in [
            format!(r#"{{"{}":"#, route.field),
            format!(r#"{{"{}": "#, route.field),
        ] {
            let res = send_raw(
                &w.app,
                route.method.clone(),
                &route.path,
                route.token,
                Some("application/json"),
                body.clone().into_bytes(),
            )
            .await;
            let context = format!("{} {} with {body:?}", route.method, route.path);
            let err = expect_field(res, route.field, &context);
            assert!(
                err["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("Malformed JSON")),
                "{context}: {err}"
            );
        }
        // `{}`: every create needs fields; a PATCH of nothing is a no-op.
        let res = w
            .app
            .request(
                route.method.clone(),
                &route.path,
                route.token,
                Some(json!({})),
            )
            .await;
        let context = format!("{} {} with {{}}", route.method, route.path);
        if route.empty_object_ok {
            assert_eq!(res.status, 200, "{context}: {}", res.body);
        } else {
            assert_eq!(res.status, 400, "{context}: {}", res.body);
            let err = res.expect_error(400, "INVALID_REQUEST");
            assert!(
                err["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("is required")),
                "{context}: {err}"
            );
            assert!(
                err["details"]["field"].is_string(),
                "{context}: the missing field is named: {err}"
            );
        }
    }
    // Logout accepts an empty body (Bearer-only) but not a malformed one.
    for body in [r#"{"refresh_token":"#, "nope", "[]"] {
        send_raw(
            &w.app,
            Method::POST,
            "/api/v1/auth/logout",
            w.org(),
            Some("application/json"),
            body.as_bytes().to_vec(),
        )
        .await
        .expect_error(400, "INVALID_REQUEST");
    }

    w.assert_no_venue_written().await;
    w.assert_no_show_written().await;
    let show_after = w.show_snapshot().await;
    assert_eq!(
        show_after["max_seats_per_user"],
        show_before["max_seats_per_user"]
    );
    assert_eq!(show_after["hold_seconds"], show_before["hold_seconds"]);
    assert_eq!(show_after["queue"], show_before["queue"]);
    assert_eq!(show_after["status"], "live");
    let event_after = w.event_snapshot().await;
    for key in [
        "title",
        "category",
        "description",
        "tags",
        "artists",
        "shows",
    ] {
        assert_eq!(event_after[key], event_before[key], "{key}");
    }
    w.assert_no_event_written().await;
}

async fn wrong_types_name_the_field(backend: Backend) {
    let w = world(backend).await;
    let show_before = w.show_snapshot().await;
    let event_before = w.event_snapshot().await;
    let venue = small_venue_body("Typed Hall", "Mumbai");
    let event = json!({ "title": "Typed", "category": "movie" });
    let show = show_body(w.venue, 3);
    let register = json!({ "email": "typed@example.com", "password": "long enough", "name": "T" });
    let event_path = format!("/api/v1/events/{}", w.event);
    let shows_path = format!("/api/v1/events/{}/shows", w.empty_event);
    let show_path = format!("/api/v1/shows/{}", w.show);
    let post = Method::POST;
    let patch = Method::PATCH;
    let cases: Vec<(Method, &str, Option<&str>, Value, &str)> = vec![
        (
            post.clone(),
            "/api/v1/auth/register",
            None,
            with(&register, |v| v["email"] = json!(5)),
            "email",
        ),
        (
            post.clone(),
            "/api/v1/auth/register",
            None,
            with(&register, |v| v["roles"] = json!("organiser")),
            "roles",
        ),
        (
            post.clone(),
            "/api/v1/auth/register",
            None,
            with(&register, |v| v["roles"] = json!([1])),
            "roles[0]",
        ),
        (
            post.clone(),
            "/api/v1/auth/login",
            None,
            json!({ "email": "a@b.com", "password": 12345678 }),
            "password",
        ),
        (
            post.clone(),
            "/api/v1/auth/refresh_token",
            None,
            json!({ "refresh_token": 7 }),
            "refresh_token",
        ),
        // Venues: a number where an array is expected, strings where numbers are expected.
        (
            post.clone(),
            "/api/v1/venues",
            w.builder(),
            with(&venue, |v| v["sections"] = json!(5)),
            "sections",
        ),
        (
            post.clone(),
            "/api/v1/venues",
            w.builder(),
            with(&venue, |v| v["name"] = json!(5)),
            "name",
        ),
        (
            post.clone(),
            "/api/v1/venues",
            w.builder(),
            with(&venue, |v| v["sections"][0]["priority"] = json!("high")),
            "sections[0].priority",
        ),
        (
            post.clone(),
            "/api/v1/venues",
            w.builder(),
            with(&venue, |v| {
                v["sections"][0]["rows"][0]["count"] = json!("twenty")
            }),
            "sections[0].rows[0].count",
        ),
        (
            post.clone(),
            "/api/v1/venues",
            w.builder(),
            with(&venue, |v| v["sections"][0]["rows"][0]["count"] = json!(-1)),
            "sections[0].rows[0].count",
        ),
        (
            post.clone(),
            "/api/v1/venues",
            w.builder(),
            with(&venue, |v| {
                v["sections"][0]["rows"][0]["count"] = json!(2.5)
            }),
            "sections[0].rows[0].count",
        ),
        (
            post.clone(),
            "/api/v1/venues",
            w.builder(),
            with(&venue, |v| v["sections"][1]["rows"][0]["skip"] = json!(7)),
            "sections[1].rows[0].skip",
        ),
        (
            post.clone(),
            "/api/v1/venues",
            w.builder(),
            with(&venue, |v| {
                v["sections"][0]["rows"] = json!({ "label": "A" })
            }),
            "sections[0].rows",
        ),
        (
            post.clone(),
            "/api/v1/venues/preview",
            w.builder(),
            json!({ "sections": { "name": "X" } }),
            "sections",
        ),
        (
            post.clone(),
            "/api/v1/venues/preview",
            w.builder(),
            json!({ "sections": [{ "name": "X", "priority": 0, "rows": [{ "label": 7, "count": 2 }] }] }),
            "sections[0].rows[0].label",
        ),
        // Events.
        (
            post.clone(),
            "/api/v1/events",
            w.org(),
            with(&event, |v| v["title"] = json!(5)),
            "title",
        ),
        (
            post.clone(),
            "/api/v1/events",
            w.org(),
            with(&event, |v| v["tags"] = json!("a")),
            "tags",
        ),
        (
            post.clone(),
            "/api/v1/events",
            w.org(),
            with(&event, |v| v["tags"] = json!([1])),
            "tags[0]",
        ),
        (
            post.clone(),
            "/api/v1/events",
            w.org(),
            with(&event, |v| v["duration_minutes"] = json!("90")),
            "duration_minutes",
        ),
        (
            patch.clone(),
            &event_path,
            w.org(),
            json!({ "duration_minutes": 1.5 }),
            "duration_minutes",
        ),
        (
            patch.clone(),
            &event_path,
            w.org(),
            json!({ "artists": 5 }),
            "artists",
        ),
        (
            patch.clone(),
            &event_path,
            w.org(),
            json!({ "category": ["movie"] }),
            "category",
        ),
        // Shows.
        (
            post.clone(),
            &shows_path,
            w.org(),
            with(&show, |v| v["venue_id"] = json!(w.venue.to_string())),
            "venue_id",
        ),
        (
            post.clone(),
            &shows_path,
            w.org(),
            with(&show, |v| v["prices"] = json!(5)),
            "prices",
        ),
        (
            post.clone(),
            &shows_path,
            w.org(),
            with(&show, |v| v["prices"][0]["price"] = json!("450")),
            "prices[0].price",
        ),
        (
            post.clone(),
            &shows_path,
            w.org(),
            with(&show, |v| v["prices"][1] = json!("Silver")),
            "prices[1]",
        ),
        (
            post.clone(),
            &shows_path,
            w.org(),
            with(&show, |v| v["start_time"] = json!(1_800_000_000)),
            "start_time",
        ),
        (
            post.clone(),
            &shows_path,
            w.org(),
            with(&show, |v| v["max_seats_per_user"] = json!("4")),
            "max_seats_per_user",
        ),
        (
            post.clone(),
            &shows_path,
            w.org(),
            with(&show, |v| v["queue"] = json!(true)),
            "queue",
        ),
        (
            patch.clone(),
            &show_path,
            w.org(),
            json!({ "hold_seconds": "60" }),
            "hold_seconds",
        ),
        (
            patch.clone(),
            &show_path,
            w.org(),
            json!({ "max_seats_per_user": [4] }),
            "max_seats_per_user",
        ),
        (
            patch.clone(),
            &show_path,
            w.org(),
            json!({ "queue": { "enabled": "yes" } }),
            "queue.enabled",
        ),
        (
            patch.clone(),
            &show_path,
            w.org(),
            json!({ "queue": { "admit_per_minute": 10.5 } }),
            "queue.admit_per_minute",
        ),
    ];
    for (method, path, token, body, field) in cases {
        let res = w
            .app
            .request(method.clone(), path, token, Some(body.clone()))
            .await;
        let err = expect_field(res, field, &format!("{method} {path} {body}"));
        assert!(
            err["message"].as_str().is_some_and(|m| m.contains(field)),
            "the message names the field: {err}"
        );
    }
    w.assert_no_venue_written().await;
    w.assert_no_show_written().await;
    assert_eq!(w.show_snapshot().await, show_before);
    assert_eq!(w.event_snapshot().await, event_before);
    w.app
        .post(
            "/api/v1/auth/login",
            None,
            json!({ "email": "typed@example.com", "password": "long enough" }),
        )
        .await
        .expect_error(401, "UNAUTHORIZED");
    w.assert_no_event_written().await;
}

async fn unknown_fields_are_refused_and_change_nothing(backend: Backend) {
    let w = world(backend).await;
    let show_before = w.show_snapshot().await;
    let event_before = w.event_snapshot().await;
    let venue = small_venue_body("Strict Hall", "Kochi");
    let event = json!({ "title": "Strict", "category": "movie" });
    let show = show_body(w.venue, 3);
    let event_path = format!("/api/v1/events/{}", w.event);
    let shows_path = format!("/api/v1/events/{}/shows", w.empty_event);
    let show_path = format!("/api/v1/shows/{}", w.show);
    let post = Method::POST;
    let patch = Method::PATCH;
    let cases: Vec<(Method, &str, Option<&str>, Value, &str)> = vec![
        (
            post.clone(),
            "/api/v1/auth/register",
            None,
            json!({ "email": "s@example.com", "password": "long enough", "name": "S", "is_admin": true }),
            "is_admin",
        ),
        (
            post.clone(),
            "/api/v1/venues",
            w.builder(),
            with(&venue, |v| v["owner_id"] = json!(1)),
            "owner_id",
        ),
        (
            post.clone(),
            "/api/v1/venues",
            w.builder(),
            with(&venue, |v| v["sections"][0]["seats"] = json!([])),
            "sections[0].seats",
        ),
        (
            post.clone(),
            "/api/v1/venues",
            w.builder(),
            with(&venue, |v| v["sections"][1]["rows"][0]["seats"] = json!(3)),
            "sections[1].rows[0].seats",
        ),
        (
            post.clone(),
            "/api/v1/venues/preview",
            w.builder(),
            json!({ "name": "x", "sections": venue["sections"] }),
            "name",
        ),
        (
            post.clone(),
            "/api/v1/events",
            w.org(),
            with(&event, |v| v["organiser_id"] = json!(1)),
            "organiser_id",
        ),
        (
            patch.clone(),
            &event_path,
            w.org(),
            json!({ "title": "Stolen", "organiser_id": w.builder.user_id }),
            "organiser_id",
        ),
        (
            patch.clone(),
            &event_path,
            w.org(),
            json!({ "event_id": 1 }),
            "event_id",
        ),
        (
            post.clone(),
            &shows_path,
            w.org(),
            with(&show, |v| v["status"] = json!("live")),
            "status",
        ),
        (
            post.clone(),
            &shows_path,
            w.org(),
            with(&show, |v| v["prices"][0]["tier"] = json!("A")),
            "prices[0].tier",
        ),
        (
            post.clone(),
            &shows_path,
            w.org(),
            with(&show, |v| {
                v["queue"] = json!({ "enabled": true, "size": 5 })
            }),
            "queue.size",
        ),
        (
            patch.clone(),
            &show_path,
            w.org(),
            json!({ "max_seats_per_user": 2, "status": "cancelled" }),
            "status",
        ),
        (
            patch.clone(),
            &show_path,
            w.org(),
            json!({ "currency": "USD" }),
            "currency",
        ),
        (
            patch.clone(),
            &show_path,
            w.org(),
            json!({ "prices": [] }),
            "prices",
        ),
        (
            patch.clone(),
            &show_path,
            w.org(),
            json!({ "queue": { "enabled": true, "limit": 1 } }),
            "queue.limit",
        ),
    ];
    for (method, path, token, body, field) in cases {
        let res = w
            .app
            .request(method.clone(), path, token, Some(body.clone()))
            .await;
        let err = expect_field(res, field, &format!("{method} {path} {body}"));
        assert!(
            err["message"]
                .as_str()
                .is_some_and(|m| m.contains("unknown field")),
            "{err}"
        );
    }
    w.assert_no_venue_written().await;
    w.assert_no_show_written().await;
    let show_after = w.show_snapshot().await;
    assert_eq!(
        show_after["status"], "live",
        "a refused PATCH cannot cancel"
    );
    assert_eq!(show_after, show_before);
    assert_eq!(w.event_snapshot().await, event_before);
    w.app
        .post(
            "/api/v1/auth/login",
            None,
            json!({ "email": "s@example.com", "password": "long enough" }),
        )
        .await
        .expect_error(401, "UNAUTHORIZED");
    w.assert_no_event_written().await;
}

async fn unknown_ids_in_the_path_are_404(backend: Backend) {
    let w = world(backend).await;
    let event_patch = json!({ "title": "Ghost" });
    let show_patch = json!({ "max_seats_per_user": 2 });
    for id in [MISSING, 0, -1] {
        let not_found: Vec<(Method, String, Option<&str>, Option<Value>)> = vec![
            (Method::GET, format!("/api/v1/venues/{id}"), None, None),
            (Method::GET, format!("/api/v1/events/{id}"), None, None),
            (
                Method::PATCH,
                format!("/api/v1/events/{id}"),
                w.org(),
                Some(event_patch.clone()),
            ),
            (
                Method::POST,
                format!("/api/v1/events/{id}/shows"),
                w.org(),
                Some(show_body(w.venue, 3)),
            ),
        ];
        for (method, path, token, body) in not_found {
            let res = w.app.request(method.clone(), &path, token, body).await;
            assert_eq!(res.status, 404, "{method} {path}: {}", res.body);
            let err = res.expect_error(404, "NOT_FOUND");
            assert!(
                err["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(&id.to_string())),
                "{err}"
            );
        }
        let show_not_found: Vec<(Method, String, Option<&str>, Option<Value>)> = vec![
            (Method::GET, format!("/api/v1/shows/{id}"), None, None),
            (Method::GET, format!("/api/v1/shows/{id}/seats"), None, None),
            (Method::GET, format!("/api/v1/shows/{id}"), w.org(), None),
            (
                Method::PATCH,
                format!("/api/v1/shows/{id}"),
                w.org(),
                Some(show_patch.clone()),
            ),
            (
                Method::POST,
                format!("/api/v1/shows/{id}/launch"),
                w.org(),
                None,
            ),
            (
                Method::POST,
                format!("/api/v1/shows/{id}/cancel"),
                w.org(),
                None,
            ),
        ];
        for (method, path, token, body) in show_not_found {
            let res = w.app.request(method.clone(), &path, token, body).await;
            assert_eq!(res.status, 404, "{method} {path}: {}", res.body);
            let err = res.expect_error(404, "SHOW_NOT_FOUND");
            assert_eq!(err["details"]["show_id"], id, "{err}");
        }
    }
    w.assert_no_show_written().await;
}

async fn non_numeric_path_ids_are_400(backend: Backend) {
    let w = world(backend).await;
    let routes: [(Method, &str, bool, Option<Value>); 9] = [
        (Method::GET, "/api/v1/venues/{}", false, None),
        (Method::GET, "/api/v1/events/{}", false, None),
        (
            Method::PATCH,
            "/api/v1/events/{}",
            true,
            Some(json!({ "title": "X" })),
        ),
        (
            Method::POST,
            "/api/v1/events/{}/shows",
            true,
            Some(show_body(w.venue, 3)),
        ),
        (Method::GET, "/api/v1/shows/{}", false, None),
        (Method::GET, "/api/v1/shows/{}/seats", false, None),
        (
            Method::PATCH,
            "/api/v1/shows/{}",
            true,
            Some(json!({ "hold_seconds": 60 })),
        ),
        (Method::POST, "/api/v1/shows/{}/launch", true, None),
        (Method::POST, "/api/v1/shows/{}/cancel", true, None),
    ];
    for (method, template, needs_auth, body) in &routes {
        for id in ["abc", "1.5", "1e3", "99999999999999999999", "%20"] {
            let path = template.replace("{}", id);
            let token = if *needs_auth { w.org() } else { None };
            let res = w
                .app
                .request(method.clone(), &path, token, body.clone())
                .await;
            assert_eq!(res.status, 400, "{method} {path}: {}", res.body);
            let err = res.expect_error(400, "INVALID_REQUEST");
            assert!(
                err["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("path parameter")),
                "{method} {path}: {err}"
            );
        }
        if *needs_auth {
            // Authentication is checked before the path.
            let path = template.replace("{}", "abc");
            w.app
                .request(method.clone(), &path, None, body.clone())
                .await
                .expect_error(401, "UNAUTHORIZED");
        }
    }
    w.assert_no_show_written().await;
    assert_eq!(w.show_snapshot().await["status"], "live");
}

async fn unknown_venue_in_a_show_body_is_400(backend: Backend) {
    let w = world(backend).await;
    let path = format!("/api/v1/events/{}/shows", w.empty_event);
    for venue_id in [MISSING, 0, -1] {
        let err = expect_field(
            w.app.post(&path, w.org(), show_body(venue_id, 3)).await,
            "venue_id",
            &format!("venue {venue_id}"),
        );
        assert!(
            err["message"]
                .as_str()
                .is_some_and(|m| m.contains(&venue_id.to_string())),
            "{err}"
        );
    }
    w.assert_no_show_written().await;
    // The same body with the real venue is fine.
    w.app
        .post(&path, w.org(), show_body(w.venue, 3))
        .await
        .expect(201);
}

async fn oversized_bodies_are_413(backend: Backend) {
    let w = world(backend).await;
    let show_before = w.show_snapshot().await;
    let huge = "x".repeat(1024 * 1024 + 100);
    let venue = with(&small_venue_body("Huge Hall", "Agra"), |v| {
        v["address"] = json!(huge)
    });
    let cases: Vec<(Method, String, Option<&str>, Value)> = vec![
        (
            Method::POST,
            "/api/v1/venues".into(),
            w.builder(),
            venue.clone(),
        ),
        (
            Method::POST,
            "/api/v1/venues/preview".into(),
            w.builder(),
            json!({ "sections": venue["sections"], "pad": huge }),
        ),
        (
            Method::POST,
            "/api/v1/auth/register".into(),
            None,
            json!({ "email": "huge@example.com", "password": "long enough", "name": huge }),
        ),
        (
            Method::POST,
            "/api/v1/events".into(),
            w.org(),
            json!({ "title": "Huge", "category": "movie", "description": huge }),
        ),
        (
            Method::POST,
            format!("/api/v1/events/{}/shows", w.empty_event),
            w.org(),
            with(&show_body(w.venue, 3), |v| v["pad"] = json!(huge)),
        ),
        (
            Method::PATCH,
            format!("/api/v1/shows/{}", w.show),
            w.org(),
            json!({ "max_seats_per_user": 1, "pad": huge }),
        ),
    ];
    for (method, path, token, body) in cases {
        let bytes = serde_json::to_vec(&body).expect("serialise");
        assert!(bytes.len() > 1024 * 1024);
        let res = send_raw(
            &w.app,
            method.clone(),
            &path,
            token,
            Some("application/json"),
            bytes,
        )
        .await;
        assert_eq!(res.status, 413, "{method} {path}: {}", res.body);
        res.expect_error(413, "PAYLOAD_TOO_LARGE");
    }
    // Just under the limit the body is read and validated: the address is too long.
    let under = "x".repeat(1024 * 1024 - 2048);
    let venue = with(&small_venue_body("Big Hall", "Agra"), |v| {
        v["address"] = json!(under)
    });
    expect_field(
        w.app.post("/api/v1/venues", w.builder(), venue).await,
        "address",
        "a body just under the limit",
    );
    w.assert_no_venue_written().await;
    w.assert_no_show_written().await;
    assert_eq!(w.show_snapshot().await, show_before);
    w.app
        .post(
            "/api/v1/auth/login",
            None,
            json!({ "email": "huge@example.com", "password": "long enough" }),
        )
        .await
        .expect_error(401, "UNAUTHORIZED");
    w.assert_no_event_written().await;
}

async fn wrong_content_types_are_415(backend: Backend) {
    let w = world(backend).await;
    let show_before = w.show_snapshot().await;
    let venue = serde_json::to_vec(&small_venue_body("Typed Hall", "Surat")).expect("json");
    let register = serde_json::to_vec(
        &json!({ "email": "ct@example.com", "password": "long enough", "name": "C" }),
    )
    .expect("json");
    let show_patch = serde_json::to_vec(&json!({ "max_seats_per_user": 3 })).expect("json");
    let show_path = format!("/api/v1/shows/{}", w.show);
    let routes: [(Method, &str, Option<&str>, &Vec<u8>); 4] = [
        (Method::POST, "/api/v1/venues", w.builder(), &venue),
        (Method::POST, "/api/v1/venues/preview", w.builder(), &venue),
        (Method::POST, "/api/v1/auth/register", None, &register),
        (Method::PATCH, &show_path, w.org(), &show_patch),
    ];
    for (method, path, token, body) in &routes {
        for ct in [
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("application/xml"),
            Some("multipart/form-data; boundary=xyz"),
            Some("application/jsonx"),
            Some("json"),
            None,
        ] {
            let res = send_raw(&w.app, method.clone(), path, *token, ct, body.to_vec()).await;
            assert_eq!(res.status, 415, "{method} {path} as {ct:?}: {}", res.body);
            res.expect_error(415, "UNSUPPORTED_MEDIA_TYPE");
        }
    }
    w.assert_no_venue_written().await;
    assert_eq!(w.show_snapshot().await, show_before);
    // JSON with parameters, another case or a +json suffix is accepted.
    send_raw(
        &w.app,
        Method::POST,
        "/api/v1/auth/register",
        None,
        Some("Application/JSON; charset=utf-8"),
        register.clone(),
    )
    .await
    .expect(201);
    let patched = send_raw(
        &w.app,
        Method::PATCH,
        &show_path,
        w.org(),
        Some("application/merge-patch+json"),
        show_patch.clone(),
    )
    .await
    .expect(200);
    assert_eq!(patched["max_seats_per_user"], 3);
}

async fn unknown_routes_and_wrong_methods_answer_json(backend: Backend) {
    let w = world(backend).await;
    let not_found: [(Method, String); 7] = [
        (Method::GET, "/api/v1/nope".into()),
        (Method::GET, "/api/v2/shows".into()),
        (Method::POST, format!("/api/v1/shows/{}/unknown", w.show)),
        (Method::GET, "/api/v1/shows/1/seats/A1".into()),
        (Method::DELETE, "/api/v1/nothing/here".into()),
        (Method::GET, "/api/v1/auth".into()),
        (Method::PATCH, "/api/v1/venues/1/sections".into()),
    ];
    for (method, path) in not_found {
        let res = w.app.request(method.clone(), &path, w.org(), None).await;
        assert_eq!(res.status, 404, "{method} {path}: {}", res.body);
        assert!(
            res.header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "{method} {path}"
        );
        let err = res.expect_error(404, "NOT_FOUND");
        assert!(
            err["message"].as_str().is_some_and(|m| m.contains(&path)),
            "{err}"
        );
    }
    let show = format!("/api/v1/shows/{}", w.show);
    let event = format!("/api/v1/events/{}", w.event);
    let wrong_method: [(Method, &str, &[&str]); 9] = [
        (Method::DELETE, &show, &["GET", "PATCH"]),
        (Method::PUT, &show, &["GET", "PATCH"]),
        (Method::PUT, &event, &["GET", "PATCH"]),
        (Method::POST, "/api/v1/shows", &["GET"]),
        (Method::DELETE, "/api/v1/events", &["GET", "POST"]),
        (Method::DELETE, "/api/v1/venues", &["GET", "POST"]),
        (Method::GET, "/api/v1/venues/preview", &["POST"]),
        (Method::GET, "/api/v1/auth/login", &["POST"]),
        (Method::GET, "/api/v1/shows/1/launch", &["POST"]),
    ];
    for (method, path, allowed) in wrong_method {
        let res = w.app.request(method.clone(), path, w.org(), None).await;
        assert_eq!(res.status, 405, "{method} {path}: {}", res.body);
        let allow = res.header("allow").unwrap_or_default().to_owned();
        for m in allowed {
            assert!(
                allow.contains(m),
                "{method} {path}: Allow {allow:?} lacks {m}"
            );
        }
        res.expect_error(405, "METHOD_NOT_ALLOWED");
    }
    assert_eq!(
        w.show_snapshot().await["status"],
        "live",
        "DELETE did nothing"
    );
}

async fn venue_layout_errors_name_the_field(backend: Backend) {
    let w = world(backend).await;
    let base = small_venue_body("Layout Hall", "Jaipur");
    type Edit = fn(&mut Value);
    // Layout errors: the same on create and on preview.
    let layout_cases: Vec<(Edit, &str)> = vec![
        (|v| v["sections"] = json!([]), "sections"),
        (
            |v| v["sections"][0]["rows"][0]["count"] = json!(0),
            "sections[0].rows[0].count",
        ),
        (
            |v| v["sections"][1]["rows"][0]["count"] = json!(1001),
            "sections[1].rows[0].count",
        ),
        (
            |v| v["sections"][0]["rows"][0]["label"] = json!("A-1"),
            "sections[0].rows[0].label",
        ),
        (
            |v| v["sections"][0]["rows"][1]["label"] = json!(""),
            "sections[0].rows[1].label",
        ),
        (
            |v| v["sections"][0]["rows"][1]["label"] = json!("ABCDEFG"),
            "sections[0].rows[1].label",
        ),
        (
            |v| v["sections"][1]["name"] = json!("gold"),
            "sections[1].name",
        ),
        (
            |v| v["sections"][0]["name"] = json!("  "),
            "sections[0].name",
        ),
        (
            |v| v["sections"][0]["priority"] = json!(-1),
            "sections[0].priority",
        ),
        (
            |v| v["sections"][1]["priority"] = json!(1001),
            "sections[1].priority",
        ),
        (
            |v| v["sections"][0]["colour"] = json!("red"),
            "sections[0].colour",
        ),
        (|v| v["sections"][1]["rows"] = json!([]), "sections[1].rows"),
        (
            |v| v["sections"][1]["rows"][0]["label"] = json!("A"),
            "sections[1].rows[0].label",
        ),
        (
            |v| v["sections"][0]["rows"][1]["skip"] = json!([0]),
            "sections[0].rows[1].skip[0]",
        ),
        (
            |v| v["sections"][0]["rows"][1]["skip"] = json!([3, 3]),
            "sections[0].rows[1].skip[1]",
        ),
        (
            |v| v["sections"][0]["rows"][0]["accessible"] = json!([1, 9]),
            "sections[0].rows[0].accessible[1]",
        ),
        (
            |v| v["sections"][0]["rows"][1]["accessible"] = json!([3]),
            "sections[0].rows[1].accessible[0]",
        ),
        (
            |v| v["sections"][1]["rows"][0]["start"] = json!(10_001),
            "sections[1].rows[0].start",
        ),
        (
            |v| {
                let rows: Vec<Value> = (0..101)
                    .map(|i: u8| {
                        // Letters only, so that no label plus number collides with another.
                        let label =
                            format!("{}{}", (b'A' + i / 26) as char, (b'A' + i % 26) as char);
                        json!({ "label": label, "count": 1000 })
                    })
                    .collect();
                v["sections"] = json!([{ "name": "Huge", "priority": 0, "rows": rows }]);
            },
            "sections",
        ),
    ];
    for (edit, field) in &layout_cases {
        let body = with(&base, edit);
        let res = w
            .app
            .post("/api/v1/venues", w.builder(), body.clone())
            .await;
        expect_field(res, field, &format!("create {body}"));
        let preview = json!({ "sections": body["sections"] });
        let res = w
            .app
            .post("/api/v1/venues/preview", w.builder(), preview)
            .await;
        expect_field(res, field, &format!("preview {body}"));
    }
    // The venue's own fields.
    let venue_cases: Vec<(Edit, &str)> = vec![
        (|v| v["name"] = json!("  "), "name"),
        (|v| v["name"] = json!("n".repeat(121)), "name"),
        (|v| v["city"] = json!(""), "city"),
        (|v| v["address"] = json!("a".repeat(301)), "address"),
        (|v| v["timezone"] = json!("Mars/Olympus"), "timezone"),
        (|v| v["timezone"] = json!(""), "timezone"),
        (|v| v["timezone"] = json!("+05:30"), "timezone"),
    ];
    for (edit, field) in &venue_cases {
        let body = with(&base, edit);
        let res = w
            .app
            .post("/api/v1/venues", w.builder(), body.clone())
            .await;
        expect_field(res, field, &format!("create {body}"));
    }
    // A missing field inside the layout names where it is missing.
    let body = with(&base, |v| {
        v["sections"][0]["rows"][0] = json!({ "label": "A" });
    });
    let err = expect_field(
        w.app.post("/api/v1/venues", w.builder(), body).await,
        "sections[0].rows[0].count",
        "row without count",
    );
    assert!(
        err["message"].as_str().is_some_and(|m| m.contains("count")),
        "{err}"
    );

    w.assert_no_venue_written().await;
    let created = w
        .app
        .post("/api/v1/venues", w.builder(), base)
        .await
        .expect(201);
    assert_eq!(created["seat_count"], 30, "the base body itself is valid");
}

async fn show_creation_errors_name_the_field(backend: Backend) {
    let w = world(backend).await;
    let path = format!("/api/v1/events/{}/shows", w.empty_event);
    // Another day than the fixture's live show at the same venue.
    let base = show_body(w.venue, 8);
    let date = |days: i64| (chrono::Utc::now() + chrono::Duration::days(days)).date_naive();
    let (d8, d9, dm1) = (date(8), date(9), date(-1));
    let cases: Vec<(Value, &str)> = vec![
        (with(&base, |v| v["venue_id"] = json!(MISSING)), "venue_id"),
        (
            with(&base, |v| {
                v["prices"]
                    .as_array_mut()
                    .expect("prices")
                    .push(json!(null))
            }),
            "prices[2]",
        ),
        (
            with(&base, |v| v["prices"][1] = json!("Silver")),
            "prices[1]",
        ),
        (
            with(&base, |v| {
                v["prices"]
                    .as_array_mut()
                    .expect("prices")
                    .push(json!({ "section": "Platinum", "price": 900 }))
            }),
            "prices[2].section",
        ),
        (
            with(&base, |v| {
                v["prices"]
                    .as_array_mut()
                    .expect("prices")
                    .push(json!({ "section": "gold", "price": 500 }))
            }),
            "prices[2].section",
        ),
        (
            with(&base, |v| v["prices"][1]["price"] = json!(249.555)),
            "prices[1].price",
        ),
        (
            with(&base, |v| v["prices"][0]["price"] = json!(-1)),
            "prices[0].price",
        ),
        (
            with(&base, |v| v["prices"][0]["price"] = json!(-0.01)),
            "prices[0].price",
        ),
        (
            with(&base, |v| v["prices"][0]["price"] = json!(1e13)),
            "prices[0].price",
        ),
        (
            with(&base, |v| v["currency"] = json!("JPY")),
            "prices[1].price",
        ),
        (
            with(&base, |v| {
                v["start_time"] = json!(format!("{dm1}T18:30:00+05:30"))
            }),
            "start_time",
        ),
        (
            with(&base, |v| v["start_time"] = json!("2020-01-01T10:00:00Z")),
            "start_time",
        ),
        (
            with(&base, |v| {
                v["end_time"] = json!(format!("{d8}T17:00:00+05:30"))
            }),
            "end_time",
        ),
        (
            with(&base, |v| {
                v["end_time"] = json!(format!("{d8}T18:30:00+05:30"))
            }),
            "end_time",
        ),
        (
            with(&base, |v| {
                v["end_time"] = json!(format!("{d9}T20:00:00+05:30"))
            }),
            "end_time",
        ),
        (with(&base, |v| v["currency"] = json!("XYZ")), "currency"),
        (with(&base, |v| v["currency"] = json!("inr")), "currency"),
        (with(&base, |v| v["currency"] = json!("")), "currency"),
        (
            with(&base, |v| v["start_time"] = json!("tomorrow at six")),
            "start_time",
        ),
        (with(&base, |v| v["start_time"] = json!("")), "start_time"),
        (
            with(&base, |v| v["end_time"] = json!(format!("{d8}T25:00"))),
            "end_time",
        ),
        (
            with(&base, |v| {
                v["end_time"] = json!("2026-13-01T10:00:00+05:30")
            }),
            "end_time",
        ),
        (
            with(&base, |v| v["max_seats_per_user"] = json!(0)),
            "max_seats_per_user",
        ),
        (
            with(&base, |v| v["max_seats_per_user"] = json!(101)),
            "max_seats_per_user",
        ),
        (
            with(&base, |v| v["hold_seconds"] = json!(0)),
            "hold_seconds",
        ),
        (
            with(&base, |v| v["hold_seconds"] = json!(3601)),
            "hold_seconds",
        ),
        (
            with(&base, |v| {
                v["queue"] = json!({ "enabled": true, "admit_per_minute": 0 })
            }),
            "queue.admit_per_minute",
        ),
    ];
    for (body, field) in cases {
        let res = w.app.post(&path, w.org(), body.clone()).await;
        expect_field(res, field, &body.to_string());
    }
    // A section without a price: the missing sections are listed.
    for (prices, missing) in [
        (
            json!([{ "section": "Gold", "price": 450 }]),
            json!(["Silver"]),
        ),
        (
            json!([{ "section": "silver", "price": 100 }]),
            json!(["Gold"]),
        ),
        (json!([]), json!(["Gold", "Silver"])),
    ] {
        let body = with(&base, |v| v["prices"] = prices);
        let err = expect_field(
            w.app.post(&path, w.org(), body).await,
            "prices",
            "missing price",
        );
        assert_eq!(err["details"]["missing_sections"], missing, "{err}");
    }
    w.assert_no_show_written().await;
    // The base body is valid, and prices with up to two decimals and free seats are fine.
    let ok = with(
        &base,
        |v| {
            v["prices"] =
                json!([{ "section": "Gold", "price": 249.55 }, { "section": "Silver", "price": 0 }])
        },
    );
    let created = w.app.post(&path, w.org(), ok).await.expect(201);
    assert_eq!(created["min_price"], 0);
    w.app
        .post(&path, w.org(), show_body(w.venue, 9))
        .await
        .expect(201);
}

async fn show_and_event_updates_refuse_bad_values(backend: Backend) {
    let w = world(backend).await;
    let show_path = format!("/api/v1/shows/{}", w.show);
    let event_path = format!("/api/v1/events/{}", w.event);
    let show_before = w.show_snapshot().await;
    let event_before = w.event_snapshot().await;
    let show_cases = [
        (json!({ "max_seats_per_user": 0 }), "max_seats_per_user"),
        (json!({ "max_seats_per_user": 101 }), "max_seats_per_user"),
        (json!({ "hold_seconds": 0 }), "hold_seconds"),
        (
            json!({ "hold_seconds": 3601, "max_seats_per_user": 5 }),
            "hold_seconds",
        ),
        (
            json!({ "queue": { "admit_per_minute": 0 } }),
            "queue.admit_per_minute",
        ),
        (
            json!({ "queue": { "enabled": true, "admit_per_minute": 1_000_001 } }),
            "queue.admit_per_minute",
        ),
    ];
    for (body, field) in show_cases {
        expect_field(
            w.app.patch(&show_path, w.org(), body.clone()).await,
            field,
            &body.to_string(),
        );
    }
    assert_eq!(
        w.show_snapshot().await,
        show_before,
        "refused PATCHes changed nothing"
    );

    let event_cases = [
        (json!({ "title": "" }), "title"),
        (json!({ "title": "t".repeat(201) }), "title"),
        (json!({ "category": "sports" }), "category"),
        (
            json!({ "title": "Fine", "duration_minutes": 0 }),
            "duration_minutes",
        ),
        (json!({ "duration_minutes": 1441 }), "duration_minutes"),
        (json!({ "tags": ["ok", " "] }), "tags[1]"),
        (json!({ "tags": vec!["t"; 31] }), "tags"),
        (json!({ "artists": ["a".repeat(81)] }), "artists[0]"),
        (json!({ "description": "d".repeat(5001) }), "description"),
        (json!({ "language": "l".repeat(41) }), "language"),
    ];
    for (body, field) in event_cases {
        let err = expect_field(
            w.app.patch(&event_path, w.org(), body.clone()).await,
            field,
            &body.to_string(),
        );
        if field == "category" {
            assert_eq!(err["details"]["category"], "sports", "{err}");
        }
    }
    assert_eq!(
        w.event_snapshot().await,
        event_before,
        "refused PATCHes changed nothing"
    );

    // State errors: a live show cannot be launched again; a cancelled one is frozen.
    let launch = format!("{show_path}/launch");
    let cancel = format!("{show_path}/cancel");
    let err = w
        .app
        .post(&launch, w.org(), json!({}))
        .await
        .expect_error(409, "INVALID_STATE");
    assert_eq!(err["details"]["status"], "live", "{err}");
    w.app.post(&cancel, w.org(), json!({})).await.expect(200);
    let err = w
        .app
        .post(&cancel, w.org(), json!({}))
        .await
        .expect_error(409, "INVALID_STATE");
    assert_eq!(err["details"]["status"], "cancelled", "{err}");
    w.app
        .post(&launch, w.org(), json!({}))
        .await
        .expect_error(409, "INVALID_STATE");
    w.app
        .patch(&show_path, w.org(), json!({ "max_seats_per_user": 2 }))
        .await
        .expect_error(409, "INVALID_STATE");
    let after = w.show_snapshot().await;
    assert_eq!(after["status"], "cancelled");
    assert_eq!(
        after["max_seats_per_user"],
        show_before["max_seats_per_user"]
    );
}

async fn event_creation_errors_name_the_field(backend: Backend) {
    let w = world(backend).await;
    let base = json!({ "title": "Valid", "category": "concert", "description": "d",
                       "language": "Hindi", "duration_minutes": 120, "tags": ["a"], "artists": ["b"] });
    let cases = [
        (with(&base, |v| v["category"] = json!("sports")), "category"),
        (with(&base, |v| v["category"] = json!("Movie")), "category"),
        (with(&base, |v| v["category"] = json!("")), "category"),
        (with(&base, |v| v["title"] = json!("   ")), "title"),
        (
            with(&base, |v| v["title"] = json!("t".repeat(201))),
            "title",
        ),
        (
            with(&base, |v| v["description"] = json!("d".repeat(5001))),
            "description",
        ),
        (
            with(&base, |v| v["language"] = json!("l".repeat(41))),
            "language",
        ),
        (
            with(&base, |v| v["duration_minutes"] = json!(0)),
            "duration_minutes",
        ),
        (
            with(&base, |v| v["duration_minutes"] = json!(-5)),
            "duration_minutes",
        ),
        (
            with(&base, |v| v["duration_minutes"] = json!(1441)),
            "duration_minutes",
        ),
        (with(&base, |v| v["tags"] = json!([""])), "tags[0]"),
        (with(&base, |v| v["tags"] = json!(vec!["t"; 31])), "tags"),
        (
            with(&base, |v| v["artists"] = json!(["ok", "a".repeat(81)])),
            "artists[1]",
        ),
    ];
    for (body, field) in cases {
        let err = expect_field(
            w.app.post("/api/v1/events", w.org(), body.clone()).await,
            field,
            &body.to_string(),
        );
        if field == "category" {
            assert_eq!(err["details"]["category"], body["category"], "{err}");
        }
    }
    // A missing required field.
    for missing in ["title", "category"] {
        let body = with(&base, |v| {
            v.as_object_mut().expect("object").remove(missing);
        });
        let err = w
            .app
            .post("/api/v1/events", w.org(), body)
            .await
            .expect_error(400, "INVALID_REQUEST");
        assert!(
            err["message"].as_str().is_some_and(|m| m.contains(missing)),
            "{err}"
        );
    }
    w.assert_no_event_written().await;
    w.app
        .post("/api/v1/events", w.org(), base)
        .await
        .expect(201);
}

async fn list_query_errors_name_the_parameter(backend: Backend) {
    let w = world(backend).await;
    // The seed's exact answer for an unknown category.
    let res = w.app.get("/api/v1/shows?cat=sports", None).await;
    assert_eq!(res.status, 400);
    assert_eq!(
        res.body,
        json!({"error_code":"INVALID_REQUEST","message":"category must be one of: movie, concert, all","details":{"category":"sports"}})
    );
    let err = w
        .app
        .get("/api/v1/shows?cat=MOVIE", None)
        .await
        .expect_error(400, "INVALID_REQUEST");
    assert_eq!(err["details"]["category"], "MOVIE");
    for ok in [
        "",
        "?cat=all",
        "?cat=movie",
        "?cat=concert",
        "?cat=",
        "?page=1&per_page=100",
    ] {
        let res = w.app.get(&format!("/api/v1/shows{ok}"), None).await;
        assert_eq!(res.status, 200, "{ok}: {}", res.body);
    }
    let cases = [
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=abc", "page"),
        ("page=1.5", "page"),
        ("page=10001", "page"),
        ("page=99999999999999999999", "page"),
        ("per_page=0", "per_page"),
        ("per_page=101", "per_page"),
        ("per_page=x", "per_page"),
        ("from=notadate", "from"),
        ("from=2026-13-45", "from"),
        ("to=notadate", "to"),
        ("to=2026-01-10T25:00:00Z", "to"),
        ("from=2026-02-01&to=2026-01-01", "to"),
        ("from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", "to"),
        ("foo=1", "foo"),
        ("cat=movie&sort=price", "sort"),
    ];
    for (query, field) in cases {
        let res = w.app.get(&format!("/api/v1/shows?{query}"), None).await;
        expect_field(res, field, query);
    }
    expect_field(
        w.app.get("/api/v1/venues?mine=maybe", w.builder()).await,
        "mine",
        "mine=maybe",
    );
    expect_field(
        w.app.get("/api/v1/venues?bogus=1", None).await,
        "bogus",
        "bogus=1",
    );
    w.app
        .get("/api/v1/venues?mine=true", None)
        .await
        .expect_error(401, "UNAUTHORIZED");
}

async fn missing_fields_and_bad_path_ids_are_named(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let err = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({ "email": "a@b.co", "name": "A" }),
        )
        .await
        .expect_error(400, "INVALID_REQUEST");
    assert_eq!(err["details"]["field"], "password", "{err}");
    let err = app
        .get("/api/v1/shows/abc", None)
        .await
        .expect_error(400, "INVALID_REQUEST");
    assert_eq!(err["details"]["field"], "show_id", "{err}");
    // Data after the JSON object is malformed, and nothing is written.
    let body = r#"{"email": "t@b.co", "password": "long enough", "name": "T"} {"x": 1}"#;
    let err = app
        .post_raw(
            "/api/v1/auth/register",
            None,
            "application/json",
            body.as_bytes().to_vec(),
        )
        .await
        .expect_error(400, "INVALID_REQUEST");
    assert!(
        err["message"]
            .as_str()
            .is_some_and(|m| m.contains("Malformed JSON")),
        "{err}"
    );
    app.post(
        "/api/v1/auth/register",
        None,
        json!({ "email": "t@b.co", "password": "long enough", "name": "T" }),
    )
    .await
    .expect(201);
}

async fn nul_characters_are_400_naming_the_field(backend: Backend) {
    let w = world(backend).await;
    let show_before = w.show_snapshot().await;
    for (path, field) in [
        ("/api/v1/shows?city=%00", "city"),
        ("/api/v1/shows?cat=movie%00", "cat"),
        ("/api/v1/shows?from=2026-01-01%00", "from"),
        ("/api/v1/search?q=pu%00shpa", "q"),
        ("/api/v1/search?city=%00", "city"),
        ("/api/v1/venues?city=A%00gra", "city"),
    ] {
        let err = expect_field(w.app.get(path, None).await, field, path);
        assert!(
            err["message"].as_str().is_some_and(|m| m.contains("NUL")),
            "{path}: {err}"
        );
    }
    let venue = with(&small_venue_body("Nul\u{0}Hall", "Agra"), |_| {});
    expect_field(
        w.app.post("/api/v1/venues", w.builder(), venue).await,
        "name",
        "a venue name with NUL",
    );
    let venue = with(&small_venue_body("Hall", "Agra"), |v| {
        v["sections"][0]["rows"][0]["label"] = json!("A\u{0}")
    });
    expect_field(
        w.app.post("/api/v1/venues", w.builder(), venue).await,
        "sections[0].rows[0].label",
        "a row label with NUL",
    );
    expect_field(
        w.app
            .post(
                "/api/v1/events",
                w.org(),
                json!({ "title": "T\u{0}", "category": "movie" }),
            )
            .await,
        "title",
        "an event title with NUL",
    );
    expect_field(
        w.app
            .post(
                "/api/v1/auth/register",
                None,
                json!({ "email": "nul@example.com", "password": "long enough\u{0}", "name": "N" }),
            )
            .await,
        "password",
        "a password with NUL",
    );
    let visitor = w.app.visitor().await;
    expect_field(
        w.app
            .post(
                "/api/v1/book/reserve",
                Some(&visitor.token),
                json!({ "show_id": w.show, "seat_ids": ["A1", "A\u{0}2"] }),
            )
            .await,
        "seat_ids[1]",
        "a seat id with NUL",
    );
    w.assert_no_venue_written().await;
    assert_eq!(w.show_snapshot().await, show_before);
    w.assert_no_event_written().await;
}

async fn arrays_where_objects_belong_are_400(backend: Backend) {
    let w = world(backend).await;
    let show_before = w.show_snapshot().await;
    // An array in place of the waiting-room object must not turn the waiting room on.
    expect_field(
        w.app
            .patch(
                &format!("/api/v1/shows/{}", w.show),
                w.org(),
                json!({ "queue": [true, 7] }),
            )
            .await,
        "queue",
        "queue as an array",
    );
    assert_eq!(w.show_snapshot().await, show_before);
    let venue = with(&small_venue_body("Hall", "Agra"), |v| {
        v["sections"][0] = json!(["Stalls", 1, []])
    });
    expect_field(
        w.app.post("/api/v1/venues", w.builder(), venue).await,
        "sections[0]",
        "a section as an array",
    );
    // A payment as an array is refused before anything is charged or booked.
    let visitor = w.app.visitor().await;
    w.app
        .post(
            "/api/v1/book/reserve",
            Some(&visitor.token),
            json!({ "show_id": w.show, "seat_ids": ["A1"] }),
        )
        .await
        .expect(202);
    let res = w
        .app
        .client
        .post(w.app.url("/api/v1/book"))
        .bearer_auth(&visitor.token)
        .header("idempotency-key", "array-payment")
        .json(
            &json!({ "show_id": w.show, "seat_ids": ["A1"], "payment": ["card", "tok_declined"] }),
        )
        .send()
        .await
        .expect("sent");
    let res = TestApp::read(res).await;
    expect_field(res, "payment", "payment as an array");
    let bookings = w
        .app
        .get("/api/v1/bookings", Some(&visitor.token))
        .await
        .expect(200);
    assert_eq!(bookings, json!([]), "nothing was booked");
    w.assert_no_venue_written().await;
}

async fn every_error_is_in_our_shape(backend: Backend) {
    let w = world(backend).await;
    // A route that reads its body as raw bytes (logout) answers 413 in our shape too.
    let huge = format!(r#"{{"refresh_token":"{}"}}"#, "x".repeat(1024 * 1024 + 10));
    send_raw(
        &w.app,
        Method::POST,
        "/api/v1/auth/logout",
        w.org(),
        Some("application/json"),
        huge.into_bytes(),
    )
    .await
    .expect_error(413, "PAYLOAD_TOO_LARGE");
    // A request target over 8 KiB: 414.
    let long = format!("/api/v1/shows?city={}", "a".repeat(10 * 1024));
    w.app
        .get(&long, None)
        .await
        .expect_error(414, "URI_TOO_LONG");
    // A header section over 32 KiB, or more than 100 fields: 431.
    let res = w
        .app
        .client
        .get(w.app.url("/api/v1/shows"))
        .header("x-padding", "p".repeat(40 * 1024))
        .send()
        .await
        .expect("sent");
    TestApp::read(res)
        .await
        .expect_error(431, "HEADERS_TOO_LARGE");
    let mut req = w.app.client.get(w.app.url("/healthz"));
    for i in 0..120 {
        req = req.header(format!("x-h{i}"), "1");
    }
    TestApp::read(req.send().await.expect("sent"))
        .await
        .expect_error(431, "HEADERS_TOO_LARGE");
    // Under the limits the same requests are served.
    w.app
        .get(&format!("/api/v1/shows?city={}", "a".repeat(4000)), None)
        .await
        .expect(200);
}

async fn empty_query_parameters_mean_absent(backend: Backend) {
    let w = world(backend).await;
    let all = w.app.get("/api/v1/shows", None).await.expect(200);
    assert!(!all.as_array().is_some_and(Vec::is_empty), "{all}");
    // The README's own template, left blank.
    let blank = w
        .app
        .get("/api/v1/shows?cat=&city=&from=&to=&page=&per_page=", None)
        .await
        .expect(200);
    assert_eq!(blank, all);
    let res = w
        .app
        .get(
            "/api/v1/search?q=&city=&cat=&from=&to=&limit=&offset=",
            None,
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    w.app
        .get("/api/v1/venues?city=&mine=", None)
        .await
        .expect(200);
}

async fn search_answers_carry_etag_and_vary(backend: Backend) {
    let w = world(backend).await;
    // The indexer may still be taking in the world's shows (it polls the outbox), which
    // changes the answer and so its ETag between two reads: the ETag of an unchanged answer
    // must give a 304, so a changed one is read again, for up to 10 s.
    let mut unchanged = false;
    for _ in 0..50 {
        let res = w.app.get("/api/v1/search?q=", None).await;
        assert_eq!(res.status, 200, "{}", res.body);
        let etag = res.header("etag").expect("search has an ETag").to_owned();
        assert!(
            res.header("vary")
                .is_some_and(|v| v.contains("Authorization")),
            "{:?}",
            res.headers
        );
        assert!(res.header("x-total-count").is_some());
        let again = w
            .app
            .client
            .get(w.app.url("/api/v1/search?q="))
            .header("if-none-match", &etag)
            .send()
            .await
            .expect("sent");
        if again.status() == 304 {
            unchanged = true;
            break;
        }
        assert_eq!(again.status(), 200, "a changed answer is a 200");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(unchanged, "the same answer's ETag never gave a 304");
    // Seat availability differs per caller (`mine`) and says so, while never being cached.
    let seats = w
        .app
        .get(&format!("/api/v1/shows/{}/seats", w.show), None)
        .await;
    assert_eq!(seats.header("cache-control"), Some("no-store"));
    assert!(seats
        .header("vary")
        .is_some_and(|v| v.contains("Authorization")));
}

async fn a_layout_over_the_seat_cap_is_refused_before_it_is_built(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.max_seats_per_venue = 500).await;
    let owner = app.venue_owner().await;
    // A small body asking for a large layout: 300 rows of 1,000 seats.
    let rows: Vec<Value> = (0..300)
        .map(|i| json!({ "label": format!("R{i}"), "count": 1000 }))
        .collect();
    let sections = json!([{ "name": "Floor", "priority": 1, "rows": rows }]);
    let body = json!({ "sections": sections });
    assert!(body.to_string().len() < 16 * 1024);
    let err = expect_field(
        app.post("/api/v1/venues/preview", Some(&owner.token), body)
            .await,
        "sections",
        "preview over the cap",
    );
    assert!(
        err["message"].as_str().is_some_and(|m| m.contains("500")),
        "{err}"
    );
    let mut venue = small_venue_body("Too Big", "Agra");
    venue["sections"] = sections;
    expect_field(
        app.post("/api/v1/venues", Some(&owner.token), venue).await,
        "sections",
        "venue over the cap",
    );
    // At the cap it is fine.
    let at_cap = json!({ "sections": [{ "name": "Floor", "priority": 1,
        "rows": [{ "label": "A", "count": 500 }] }] });
    let preview = app
        .post("/api/v1/venues/preview", Some(&owner.token), at_cap)
        .await
        .expect(200);
    assert_eq!(preview["seat_count"], 500);
}
