//! SPEC §4–5 authorization matrix: every mutating route of venues, events and shows, called by
//! an anonymous caller, a plain visitor, someone who does not own the resource and its owner.
//! A refused call changes nothing. An admin (created with the CLI) manages anyone's shows; the
//! admin role cannot be self-registered. Every test runs on SQLite and PostgreSQL.

use crate::common;

use common::{show_body, small_venue_body, unique, Backend, TestApp, User};
use reqwest::Method;
use serde_json::{json, Value};

both_backends!(
    venue_routes_matrix,
    event_routes_matrix,
    show_creation_matrix,
    live_show_management_matrix,
    draft_show_management_matrix,
    admin_from_the_cli_manages_another_organisers_show,
    admin_role_cannot_be_self_registered,
);

/// One caller of a matrix row and the error it must get.
struct Refusal<'a> {
    who: &'a str,
    token: Option<&'a str>,
    status: u16,
    code: &'a str,
}

fn refusal<'a>(who: &'a str, user: Option<&'a User>, status: u16, code: &'a str) -> Refusal<'a> {
    Refusal {
        who,
        token: user.map(|u| u.token.as_str()),
        status,
        code,
    }
}

/// Calls `method path` as every caller of `refusals` and checks each error.
async fn expect_refusals(
    app: &TestApp,
    method: &Method,
    path: &str,
    body: Option<&Value>,
    refusals: &[Refusal<'_>],
) {
    for r in refusals {
        let res = app
            .request(method.clone(), path, r.token, body.cloned())
            .await;
        assert_eq!(
            res.status.as_u16(),
            r.status,
            "{method} {path} as {}: {}",
            r.who,
            res.body
        );
        res.expect_error(r.status, r.code);
    }
}

async fn venue_count(app: &TestApp, token: Option<&str>, mine: bool) -> usize {
    let path = if mine {
        "/api/v1/venues?mine=true"
    } else {
        "/api/v1/venues"
    };
    app.get(path, token)
        .await
        .expect(200)
        .as_array()
        .expect("venue list")
        .len()
}

async fn venue_routes_matrix(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.venue_owner().await;
    let other_owner = app.venue_owner().await;
    let organiser = app.organiser().await;
    let visitor = app.visitor().await;
    let body = small_venue_body("Matrix Hall", "Pune");

    // POST /api/v1/venues needs the venue_owner role.
    expect_refusals(
        &app,
        &Method::POST,
        "/api/v1/venues",
        Some(&body),
        &[
            refusal("anonymous", None, 401, "UNAUTHORIZED"),
            refusal("visitor", Some(&visitor), 403, "FORBIDDEN"),
            refusal("organiser", Some(&organiser), 403, "FORBIDDEN"),
        ],
    )
    .await;
    assert_eq!(
        venue_count(&app, None, false).await,
        0,
        "a refused create wrote nothing"
    );
    for u in [&visitor, &organiser, &owner] {
        assert_eq!(venue_count(&app, Some(&u.token), true).await, 0);
    }

    let created = app
        .post("/api/v1/venues", Some(&owner.token), body.clone())
        .await
        .expect(201);
    assert_eq!(created["owner_id"], owner.user_id);
    assert_eq!(created["seat_count"], 30);
    let theirs = app
        .venue(&other_owner, small_venue_body("Other Hall", "Pune"))
        .await;
    // Each owner's own list holds only their own venue.
    let mine = app
        .get("/api/v1/venues?mine=true", Some(&owner.token))
        .await
        .expect(200);
    assert_eq!(mine.as_array().map(Vec::len), Some(1), "{mine}");
    assert_eq!(mine[0]["venue_id"], created["venue_id"]);
    let other = app
        .get("/api/v1/venues?mine=true", Some(&other_owner.token))
        .await
        .expect(200);
    assert_eq!(other.as_array().map(Vec::len), Some(1), "{other}");
    assert_eq!(other[0]["venue_id"], theirs);
    assert_eq!(venue_count(&app, Some(&organiser.token), true).await, 0);

    // POST /api/v1/venues/preview: any signed-in user may preview; it saves nothing.
    let preview = json!({ "sections": body["sections"] });
    expect_refusals(
        &app,
        &Method::POST,
        "/api/v1/venues/preview",
        Some(&preview),
        &[refusal("anonymous", None, 401, "UNAUTHORIZED")],
    )
    .await;
    for (who, user) in [
        ("visitor", &visitor),
        ("organiser", &organiser),
        ("owner", &owner),
    ] {
        let res = app
            .post("/api/v1/venues/preview", Some(&user.token), preview.clone())
            .await;
        assert_eq!(res.status, 200, "preview as {who}: {}", res.body);
        assert_eq!(res.body["seat_count"], 30);
    }
    assert_eq!(
        venue_count(&app, None, false).await,
        2,
        "a preview saves nothing"
    );
}

async fn event_routes_matrix(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let organiser = app.organiser().await;
    let other_organiser = app.organiser().await;
    let owner = app.venue_owner().await;
    let visitor = app.visitor().await;

    // POST /api/v1/events needs the organiser role.
    let body = json!({ "title": "Matrix Live", "category": "concert" });
    expect_refusals(
        &app,
        &Method::POST,
        "/api/v1/events",
        Some(&body),
        &[
            refusal("anonymous", None, 401, "UNAUTHORIZED"),
            refusal("visitor", Some(&visitor), 403, "FORBIDDEN"),
            refusal("venue owner", Some(&owner), 403, "FORBIDDEN"),
        ],
    )
    .await;
    let first = app
        .post("/api/v1/events", Some(&organiser.token), body.clone())
        .await
        .expect(201);
    let event = first["event_id"].as_i64().expect("event_id");
    assert_eq!(first["organiser_id"], organiser.user_id);
    // Identity columns only advance on an insert: the refused creates wrote no row.
    let second = app.event(&other_organiser, "Another", "movie").await;
    assert_eq!(second, event + 1, "refused creates wrote nothing");

    // PATCH /api/v1/events/{id}: only the event's organiser.
    let path = format!("/api/v1/events/{event}");
    let before = app.get(&path, Some(&organiser.token)).await.expect(200);
    let hijack = json!({ "title": "Hijacked", "category": "movie", "tags": ["x"] });
    expect_refusals(
        &app,
        &Method::PATCH,
        &path,
        Some(&hijack),
        &[
            refusal("anonymous", None, 401, "UNAUTHORIZED"),
            refusal("visitor", Some(&visitor), 403, "FORBIDDEN"),
            refusal("venue owner", Some(&owner), 403, "FORBIDDEN"),
            refusal("other organiser", Some(&other_organiser), 403, "FORBIDDEN"),
        ],
    )
    .await;
    let after = app.get(&path, Some(&organiser.token)).await.expect(200);
    assert_eq!(after, before, "a refused PATCH changed nothing");

    let updated = app
        .patch(
            &path,
            Some(&organiser.token),
            json!({ "title": "Matrix Live II" }),
        )
        .await
        .expect(200);
    assert_eq!(updated["title"], "Matrix Live II");
    assert_eq!(updated["category"], "concert", "fields not sent are kept");
    // The other organiser still cannot touch it, and their own event is untouched.
    app.patch(
        &path,
        Some(&other_organiser.token),
        json!({ "title": "Mine now" }),
    )
    .await
    .expect_error(403, "FORBIDDEN");
    let theirs = app
        .get(&format!("/api/v1/events/{second}"), None)
        .await
        .expect(200);
    assert_eq!(theirs["title"], "Another");
}

async fn show_creation_matrix(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.venue_owner().await;
    let organiser = app.organiser().await;
    let other_organiser = app.organiser().await;
    let visitor = app.visitor().await;
    let venue = app
        .venue(&owner, small_venue_body("Show Hall", "Delhi"))
        .await;
    let event = app.event(&organiser, "Show Matrix", "movie").await;

    // POST /api/v1/events/{id}/shows: only the event's organiser, not even the venue's owner.
    let path = format!("/api/v1/events/{event}/shows");
    let body = show_body(venue, 5);
    expect_refusals(
        &app,
        &Method::POST,
        &path,
        Some(&body),
        &[
            refusal("anonymous", None, 401, "UNAUTHORIZED"),
            refusal("visitor", Some(&visitor), 403, "FORBIDDEN"),
            refusal("venue owner", Some(&owner), 403, "FORBIDDEN"),
            refusal("other organiser", Some(&other_organiser), 403, "FORBIDDEN"),
        ],
    )
    .await;
    let shows = app
        .get(&format!("/api/v1/events/{event}"), Some(&organiser.token))
        .await
        .expect(200)["shows"]
        .clone();
    assert_eq!(
        shows,
        json!([]),
        "refused creates wrote no show (drafts included)"
    );

    let created = app
        .post(&path, Some(&organiser.token), body)
        .await
        .expect(201);
    assert_eq!(created["status"], "draft");
    assert_eq!(created["event_id"], event);
    let shows = app
        .get(&format!("/api/v1/events/{event}"), Some(&organiser.token))
        .await
        .expect(200)["shows"]
        .clone();
    assert_eq!(shows.as_array().map(Vec::len), Some(1), "{shows}");
}

/// The manager-only show routes with a body each.
fn show_routes(show: i64) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (
            Method::PATCH,
            format!("/api/v1/shows/{show}"),
            Some(json!({ "max_seats_per_user": 2, "hold_seconds": 60,
                         "queue": { "enabled": true, "admit_per_minute": 5 } })),
        ),
        (Method::POST, format!("/api/v1/shows/{show}/launch"), None),
        (Method::POST, format!("/api/v1/shows/{show}/cancel"), None),
    ]
}

async fn live_show_management_matrix(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    let other_organiser = app.organiser().await;
    let visitor = app.visitor().await;
    let show_path = format!("/api/v1/shows/{}", fx.show);
    let before = app
        .get(&show_path, Some(&fx.organiser.token))
        .await
        .expect(200);
    assert_eq!(before["status"], "live");

    // A live show is visible to all, so a non-organiser is refused with 403, not 404.
    let refusals = [
        refusal("anonymous", None, 401, "UNAUTHORIZED"),
        refusal("visitor", Some(&visitor), 403, "FORBIDDEN"),
        refusal("venue owner", Some(&fx.owner), 403, "FORBIDDEN"),
        refusal("other organiser", Some(&other_organiser), 403, "FORBIDDEN"),
    ];
    for (method, path, body) in show_routes(fx.show) {
        expect_refusals(&app, &method, &path, body.as_ref(), &refusals).await;
        let now = app
            .get(&show_path, Some(&fx.organiser.token))
            .await
            .expect(200);
        assert_eq!(now, before, "refused {method} {path} changed nothing");
    }
    let seats = app
        .get(&format!("{show_path}/seats"), None)
        .await
        .expect(200);
    let seats = seats["seats"].as_array().expect("seats");
    assert_eq!(seats.len(), 30);
    assert!(
        seats.iter().all(|s| s["status"] == "available"),
        "still on sale"
    );

    // The organiser: PATCH works, launching a live show is a state error, cancel works.
    let [patch, launch, cancel]: [(Method, String, Option<Value>); 3] =
        show_routes(fx.show).try_into().expect("three routes");
    let patched = app
        .request(patch.0, &patch.1, Some(&fx.organiser.token), patch.2)
        .await
        .expect(200);
    assert_eq!(patched["max_seats_per_user"], 2);
    assert_eq!(patched["hold_seconds"], 60);
    assert_eq!(
        patched["queue"],
        json!({ "enabled": true, "admit_per_minute": 5, "opens_at": null, "pass_minutes": 10 })
    );
    assert_eq!(patched["status"], "live");
    app.request(launch.0, &launch.1, Some(&fx.organiser.token), None)
        .await
        .expect_error(409, "INVALID_STATE");
    let cancelled = app
        .request(cancel.0.clone(), &cancel.1, Some(&fx.organiser.token), None)
        .await
        .expect(200);
    assert_eq!(cancelled["status"], "cancelled");
    // Others are still refused on the cancelled show.
    expect_refusals(&app, &cancel.0, &cancel.1, None, &refusals).await;
}

async fn draft_show_management_matrix(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.venue_owner().await;
    let organiser = app.organiser().await;
    let other_organiser = app.organiser().await;
    let visitor = app.visitor().await;
    let venue = app
        .venue(&owner, small_venue_body("Draft Hall", "Chennai"))
        .await;
    let event = app.event(&organiser, "Draft Matrix", "concert").await;
    let show = app.show(&organiser, event, venue, 4).await;
    let show_path = format!("/api/v1/shows/{show}");
    let before = app
        .get(&show_path, Some(&organiser.token))
        .await
        .expect(200);
    assert_eq!(before["status"], "draft");

    // A draft is invisible to everyone but its organiser: they get the same 404 as for a
    // show that does not exist, so the draft's existence does not leak.
    let refusals = [
        refusal("anonymous", None, 401, "UNAUTHORIZED"),
        refusal("visitor", Some(&visitor), 404, "SHOW_NOT_FOUND"),
        refusal("venue owner", Some(&owner), 404, "SHOW_NOT_FOUND"),
        refusal(
            "other organiser",
            Some(&other_organiser),
            404,
            "SHOW_NOT_FOUND",
        ),
    ];
    for (method, path, body) in show_routes(show) {
        expect_refusals(&app, &method, &path, body.as_ref(), &refusals).await;
        let now = app
            .get(&show_path, Some(&organiser.token))
            .await
            .expect(200);
        assert_eq!(now, before, "refused {method} {path} changed nothing");
    }
    for (who, token) in [
        ("anonymous", None),
        ("visitor", Some(visitor.token.as_str())),
        ("other organiser", Some(other_organiser.token.as_str())),
    ] {
        for path in [show_path.clone(), format!("{show_path}/seats")] {
            let res = app.get(&path, token).await;
            assert_eq!(res.status, 404, "GET {path} as {who}: {}", res.body);
            let err = res.expect_error(404, "SHOW_NOT_FOUND");
            assert_eq!(err["details"]["show_id"], show);
        }
    }
    let missing = app
        .post(
            "/api/v1/shows/987654321/launch",
            Some(&visitor.token),
            json!({}),
        )
        .await
        .expect_error(404, "SHOW_NOT_FOUND");
    let hidden = app
        .post(
            &format!("{show_path}/launch"),
            Some(&visitor.token),
            json!({}),
        )
        .await
        .expect_error(404, "SHOW_NOT_FOUND");
    assert_eq!(
        missing["message"]
            .as_str()
            .map(|m| m.replace("987654321", "ID")),
        hidden["message"]
            .as_str()
            .map(|m| m.replace(&show.to_string(), "ID")),
        "a hidden draft looks exactly like a missing show"
    );
    let listed = app.get("/api/v1/shows", None).await.expect(200);
    assert_eq!(listed, json!([]), "a draft is not listed");

    // The organiser launches it.
    let launched = app.launch(&organiser, show).await;
    assert_eq!(launched["status"], "live");
    assert_eq!(launched["available"], 30);
}

/// Creates an admin with `boxoffice admin create` against the app's database and signs in.
async fn cli_admin(app: &TestApp) -> User {
    let email = format!("admin{}@example.com", unique());
    let password = "admin password 1234";
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_boxoffice"));
    cmd.args(["admin", "create", "--email", &email, "--password", password])
        .env_remove("DATABASE_URL")
        .env_remove("DATABASE_READ_URL")
        .env_remove("BOXOFFICE_DATA_DIR")
        .env_remove("BOXOFFICE_JWT_SECRET")
        .env_remove("BOXOFFICE_ADMIN_PASSWORD")
        .env("RUST_LOG", "warn");
    match app.backend {
        Backend::Sqlite => {
            cmd.arg("--data-dir").arg(app.data_dir.path());
        }
        Backend::Postgres => {
            let url = app.database_url.as_deref().expect("PostgreSQL URL");
            // The data dir is not used with PostgreSQL; keep it out of the working directory.
            cmd.env("DATABASE_URL", url)
                .arg("--data-dir")
                .arg(app.data_dir.path().join("cli"));
        }
    }
    let out = cmd.output().await.expect("run boxoffice admin create");
    assert!(
        out.status.success(),
        "admin create failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ready"));
    let tokens = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({ "email": email, "password": password }),
        )
        .await
        .expect(200);
    let token = tokens["access_token"].as_str().expect("token").to_owned();
    let me = app.get("/api/v1/me", Some(&token)).await.expect(200);
    assert!(
        me["roles"]
            .as_array()
            .is_some_and(|r| r.contains(&json!("admin"))),
        "{me}"
    );
    User {
        user_id: me["user_id"].as_i64().expect("user_id"),
        email,
        token,
        refresh_token: tokens["refresh_token"]
            .as_str()
            .expect("refresh")
            .to_owned(),
    }
}

async fn admin_from_the_cli_manages_another_organisers_show(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    let admin = cli_admin(&app).await;

    // The organiser's event.
    let event = app
        .patch(
            &format!("/api/v1/events/{}", fx.event),
            Some(&admin.token),
            json!({ "description": "Edited by an admin" }),
        )
        .await
        .expect(200);
    assert_eq!(
        event["organiser_id"], fx.organiser.user_id,
        "ownership is kept"
    );
    assert_eq!(event["description"], "Edited by an admin");

    // A new draft under the organiser's event: the admin sees, launches and cancels it.
    let draft = app
        .post(
            &format!("/api/v1/events/{}/shows", fx.event),
            Some(&admin.token),
            show_body(fx.venue, 6),
        )
        .await
        .expect(201);
    let draft_id = draft["show_id"].as_i64().expect("show_id");
    app.get(&format!("/api/v1/shows/{draft_id}"), Some(&admin.token))
        .await
        .expect(200);
    let launched = app.launch(&admin, draft_id).await;
    assert_eq!(launched["status"], "live");

    // The organiser's live show: caps and waiting room, then cancel.
    let patched = app
        .patch(
            &format!("/api/v1/shows/{}", fx.show),
            Some(&admin.token),
            json!({ "max_seats_per_user": 4, "queue": { "enabled": true } }),
        )
        .await
        .expect(200);
    assert_eq!(patched["max_seats_per_user"], 4);
    assert_eq!(patched["queue"]["enabled"], true);
    let cancelled = app
        .post(
            &format!("/api/v1/shows/{}/cancel", fx.show),
            Some(&admin.token),
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(cancelled["status"], "cancelled");
    let seen = app
        .get(
            &format!("/api/v1/shows/{}", fx.show),
            Some(&fx.organiser.token),
        )
        .await
        .expect(200);
    assert_eq!(seen["status"], "cancelled");
    assert_eq!(seen["max_seats_per_user"], 4);

    // An admin holds every role.
    app.venue(&admin, small_venue_body("Admin Hall", "Goa"))
        .await;
    app.event(&admin, "Admin Event", "movie").await;
}

async fn admin_role_cannot_be_self_registered(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    let email = format!("wannabe{}@example.com", unique());
    for (roles, field) in [
        (json!(["admin"]), "roles[0]"),
        (json!(["organiser", "admin"]), "roles[1]"),
        (json!(["venue_owner", "organiser", "admin"]), "roles[2]"),
    ] {
        let err = app
            .post(
                "/api/v1/auth/register",
                None,
                json!({ "email": email, "password": "long enough", "name": "W", "roles": roles }),
            )
            .await
            .expect_error(400, "INVALID_REQUEST");
        assert_eq!(err["details"]["field"], field, "{err}");
    }
    // Nothing was written: the email is still free, and a plain account is no admin.
    let created = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({ "email": email, "password": "long enough", "name": "W" }),
        )
        .await
        .expect(201);
    assert_eq!(created["roles"], json!(["user"]));
    let tokens = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({ "email": email, "password": "long enough" }),
        )
        .await
        .expect(200);
    let token = tokens["access_token"].as_str().expect("token");
    app.patch(
        &format!("/api/v1/shows/{}", fx.show),
        Some(token),
        json!({ "max_seats_per_user": 1 }),
    )
    .await
    .expect_error(403, "FORBIDDEN");
    app.post(
        "/api/v1/venues",
        Some(token),
        small_venue_body("Nope", "Goa"),
    )
    .await
    .expect_error(403, "FORBIDDEN");
}
