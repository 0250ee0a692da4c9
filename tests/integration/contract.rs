//! The public JSON bodies, as snapshots (`tests/integration/snapshots/`, reviewed like code):
//! a change to a field's name, type, nesting or presence in any answer below fails here until
//! the snapshot is accepted on purpose (`cargo insta review`, or `INSTA_UPDATE=always` and a
//! look at the diff).
//!
//! Each test runs on both backends against the same snapshots, so SQLite and PostgreSQL must
//! answer alike. Values that change from run to run (ids, instants, dates, tokens, ticket codes,
//! transaction ids) are redacted; the status is part of each snapshot.

use crate::common;

use std::time::Duration;

use common::{eventually, small_venue_body, Backend, Resp, TestApp, User, PASSWORD};
use insta::internals::Content;
use serde_json::json;

both_backends!(catalog_bodies, auth_bodies, booking_bodies, error_bodies);

/// What a field that changes from run to run holds, and so how it is redacted: only when it
/// has the expected type and form, so a change of type or format still shows in the snapshot
/// (and `null` stays `null`).
#[derive(Clone, Copy)]
enum Volatile {
    /// An integer id: `[id]`.
    Id,
    /// An RFC 3339 instant: `[instant]`.
    Instant,
    /// An RFC 3339 instant whose date depends on the day the test runs (shows are created N
    /// days ahead): `[date]T18:30:00+05:30`, the time of day and offset kept.
    Dated,
    /// A non-empty opaque string (token, hold id, ticket code): the label.
    Opaque(&'static str),
    /// A URL path with ids in it (`/api/v1/tickets/17/qr.svg`): `/api/v1/tickets/[id]/qr.svg`.
    PathWithIds,
}

/// Fields redacted wherever they appear.
const VOLATILE: &[(&str, Volatile)] = &[
    ("user_id", Volatile::Id),
    ("owner_id", Volatile::Id),
    ("organiser_id", Volatile::Id),
    ("venue_id", Volatile::Id),
    ("event_id", Volatile::Id),
    ("show_id", Volatile::Id),
    ("booking_id", Volatile::Id),
    ("ticket_id", Volatile::Id),
    ("created_at", Volatile::Instant),
    ("updated_at", Volatile::Instant),
    ("cancelled_at", Volatile::Instant),
    ("checked_in_at", Volatile::Instant),
    ("expires_at", Volatile::Instant),
    ("start_time", Volatile::Dated),
    ("end_time", Volatile::Dated),
    ("hold_id", Volatile::Opaque("[hold id]")),
    ("transaction_id", Volatile::Opaque("[transaction id]")),
    ("code", Volatile::Opaque("[ticket code]")),
    ("access_token", Volatile::Opaque("[token]")),
    ("refresh_token", Volatile::Opaque("[token]")),
    ("qr_svg", Volatile::PathWithIds),
    ("qr_png", Volatile::PathWithIds),
];

fn redact(kind: Volatile, value: Content) -> Content {
    let text = value.as_str().map(str::to_owned);
    let redacted = match (kind, text.as_deref()) {
        (Volatile::Id, _) => value.as_i64().map(|_| "[id]".to_owned()),
        (Volatile::Instant, Some(s)) => chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|_| "[instant]".to_owned()),
        (Volatile::Dated, Some(s)) => chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .and_then(|_| s.split_once('T'))
            .map(|(_, time)| format!("[date]T{time}")),
        (Volatile::Opaque(label), Some(s)) => (!s.is_empty()).then(|| label.to_owned()),
        (Volatile::PathWithIds, Some(s)) => Some(
            s.split('/')
                .map(|part| {
                    if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
                        "[id]"
                    } else {
                        part
                    }
                })
                .collect::<Vec<_>>()
                .join("/"),
        ),
        _ => None,
    };
    redacted.map_or(value, Content::from)
}

/// Asserts `res` (status and body) against the snapshot `name`, volatile values redacted.
fn snapshot(name: &str, res: Resp) {
    let answer = json!({ "status": res.status.as_u16(), "body": res.body });
    let mut settings = insta::Settings::clone_current();
    settings.set_sort_maps(true);
    settings.set_omit_expression(true);
    for &(field, kind) in VOLATILE {
        settings
            .add_dynamic_redaction(&format!(".**.{field}"), move |value, _| redact(kind, value));
    }
    settings.bind(|| insta::assert_json_snapshot!(name, answer));
}

/// Registers `email` (fixed: every test has a database of its own) with `roles` and signs in;
/// returns the user and both raw answers.
async fn sign_up(app: &TestApp, email: &str, name: &str, roles: &[&str]) -> (User, Resp, Resp) {
    let registered = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({ "email": email, "password": PASSWORD, "name": name, "roles": roles }),
        )
        .await;
    assert_eq!(registered.status, 201, "{}", registered.body);
    let login = app.login(email).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let user = User {
        user_id: registered.body["user_id"].as_i64().expect("user_id"),
        email: email.to_owned(),
        token: login.body["access_token"]
            .as_str()
            .expect("token")
            .to_owned(),
        refresh_token: login.body["refresh_token"]
            .as_str()
            .expect("refresh token")
            .to_owned(),
    };
    (user, registered, login)
}

/// A venue owner's 30-seat venue, an organiser's movie and a live show of it in 3 days.
struct Catalog {
    venue: i64,
    event: i64,
    show: i64,
}

async fn catalog(app: &TestApp) -> Catalog {
    let (owner, ..) = sign_up(app, "owner@example.com", "Vera Owner", &["venue_owner"]).await;
    let (organiser, ..) = sign_up(
        app,
        "organiser@example.com",
        "Omar Organiser",
        &["organiser"],
    )
    .await;
    let venue = app
        .venue(&owner, small_venue_body("Test Hall", "Bangalore"))
        .await;
    let event = app
        .post(
            "/api/v1/events",
            Some(&organiser.token),
            json!({ "title": "Test Movie", "category": "movie", "description": "A test event",
                    "language": "English", "duration_minutes": 150,
                    "tags": ["test"], "artists": ["Someone"] }),
        )
        .await
        .expect(201)["event_id"]
        .as_i64()
        .expect("event_id");
    let show = app.show(&organiser, event, venue, 3).await;
    app.launch(&organiser, show).await;
    Catalog { venue, event, show }
}

async fn catalog_bodies(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let c = catalog(&app).await;
    snapshot(
        "show_list",
        app.get("/api/v1/shows?cat=movie&city=Bangalore", None)
            .await,
    );
    snapshot(
        "venue",
        app.get(&format!("/api/v1/venues/{}", c.venue), None).await,
    );
    snapshot(
        "event",
        app.get(&format!("/api/v1/events/{}", c.event), None).await,
    );
}

async fn auth_bodies(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (buyer, registered, login) = sign_up(&app, "buyer@example.com", "Bea Buyer", &[]).await;
    snapshot("register", registered);
    snapshot("login", login);
    snapshot("me", app.get("/api/v1/me", Some(&buyer.token)).await);
}

async fn booking_bodies(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let c = catalog(&app).await;
    let (buyer, ..) = sign_up(&app, "buyer@example.com", "Bea Buyer", &[]).await;
    let seats = ["A1", "C2"];
    snapshot("reserve", app.reserve(&buyer, c.show, &seats).await);
    let booked = app.book(&buyer, c.show, &seats, "contract-1").await;
    let created = booked.body.clone();
    snapshot("book", booked);
    let replay = app.book(&buyer, c.show, &seats, "contract-1").await;
    assert_eq!(replay.body, created, "a replay answers the same booking");
    snapshot("book_replay", replay);
    let id = created["booking_id"].as_i64().expect("booking_id");
    // Ticket codes are signed after the commit (from the outbox): wait for them.
    let booking = eventually(Duration::from_secs(10), || async {
        let res = app
            .get(&format!("/api/v1/bookings/{id}"), Some(&buyer.token))
            .await;
        let tickets = res.body["tickets"].as_array()?;
        tickets.iter().all(|t| t["code"].is_string()).then_some(res)
    })
    .await
    .expect("the tickets get their codes");
    snapshot("booking", booking);
    snapshot(
        "bookings",
        app.get("/api/v1/bookings", Some(&buyer.token)).await,
    );
    // The show and its seat map with seats sold (A1, C2) and held (B1) by someone else.
    let (other, ..) = sign_up(&app, "other@example.com", "Otto Other", &[]).await;
    app.reserve(&other, c.show, &["B1"]).await.expect(202);
    snapshot(
        "show",
        app.get(&format!("/api/v1/shows/{}", c.show), None).await,
    );
    snapshot(
        "show_seats",
        app.get(&format!("/api/v1/shows/{}/seats", c.show), None)
            .await,
    );
}

async fn error_bodies(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let c = catalog(&app).await;
    let (asha, ..) = sign_up(&app, "asha@example.com", "Asha", &[]).await;
    let (ravi, ..) = sign_up(&app, "ravi@example.com", "Ravi", &[]).await;
    app.reserve(&asha, c.show, &["A1"]).await.expect(202);
    snapshot(
        "error_409_seat_locked",
        app.reserve(&ravi, c.show, &["A1", "A2"]).await,
    );
    snapshot(
        "error_400_validation",
        app.post(
            "/api/v1/auth/register",
            None,
            json!({ "email": "not-an-email", "password": PASSWORD, "name": "X" }),
        )
        .await,
    );
    snapshot(
        "error_400_empty_seats",
        app.reserve(&asha, c.show, &[]).await,
    );
    snapshot("error_401_no_token", app.get("/api/v1/me", None).await);
    snapshot(
        "error_401_wrong_password",
        app.post(
            "/api/v1/auth/login",
            None,
            json!({ "email": "asha@example.com", "password": "wrong password 123" }),
        )
        .await,
    );
    snapshot(
        "error_404_show",
        app.get("/api/v1/shows/999999", None).await,
    );
    snapshot(
        "error_404_booking",
        app.get("/api/v1/bookings/999999", Some(&asha.token)).await,
    );
}
