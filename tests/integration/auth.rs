//! SPEC §4: register, login, refresh rotation with reuse detection, logout, `/me`, and the
//! seed's 401 for every kind of bad token. Every test runs on SQLite and PostgreSQL.

use crate::common;

use common::{unique, Backend, TestApp};
use serde_json::json;

both_backends!(
    register_login_and_me,
    duplicate_email_is_a_conflict_in_any_case,
    register_rejects_bad_input,
    admin_cannot_be_self_assigned,
    login_refuses_wrong_password_and_unknown_email_alike,
    refresh_rotates_and_reuse_revokes_the_family,
    concurrent_refreshes_of_one_token_all_get_the_same_successor,
    reuse_after_the_grace_window_revokes_the_family,
    password_hashing_is_bounded,
    logout_revokes_refresh_tokens,
    bad_tokens_are_the_seeds_401,
    expired_tokens_are_refused,
);

async fn register_login_and_me(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = format!("Asha{}@Example.com", unique());
    let created = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({ "email": email, "password": "s3cret-pass", "name": "Asha", "roles": ["organiser"] }),
        )
        .await
        .expect(201);
    assert_eq!(created["email"], email);
    assert_eq!(created["roles"], json!(["user", "organiser"]));
    assert!(
        created.get("password_hash").is_none(),
        "never leak the hash: {created}"
    );

    let tokens = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({ "email": email.to_lowercase(), "password": "s3cret-pass" }),
        )
        .await
        .expect(200);
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    let access = tokens["access_token"].as_str().expect("access");
    assert_eq!(access.split('.').count(), 3, "a JWT");
    assert!(tokens["refresh_token"]
        .as_str()
        .is_some_and(|t| t.len() > 30));

    let me = app.get("/api/v1/me", Some(access)).await.expect(200);
    assert_eq!(me["user_id"], created["user_id"]);
    assert_eq!(me["name"], "Asha");
    assert_eq!(me["roles"], json!(["user", "organiser"]));
    app.get("/api/v1/me", None)
        .await
        .expect_error(401, "UNAUTHORIZED");
}

async fn duplicate_email_is_a_conflict_in_any_case(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = format!("dup{}@example.com", unique());
    let body = |e: &str| json!({ "email": e, "password": "long enough", "name": "D" });
    app.post("/api/v1/auth/register", None, body(&email))
        .await
        .expect(201);
    let err = app
        .post("/api/v1/auth/register", None, body(&email.to_uppercase()))
        .await
        .expect_error(409, "EMAIL_TAKEN");
    assert_eq!(err["details"]["field"], "email");
}

async fn register_rejects_bad_input(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cases = [
        (
            json!({ "email": "not-an-email", "password": "long enough", "name": "A" }),
            "email",
        ),
        (
            json!({ "email": "a@b.com", "password": "short", "name": "A" }),
            "password",
        ),
        (
            json!({ "email": "a@b.com", "password": "long enough", "name": "  " }),
            "name",
        ),
        (
            json!({ "email": "a@b.com", "password": "long enough", "name": "A", "roles": ["pilot"] }),
            "roles[0]",
        ),
        (
            json!({ "email": 5, "password": "long enough", "name": "A" }),
            "email",
        ),
        (json!({ "password": "long enough", "name": "A" }), "."),
        (
            json!({ "email": "a@b.com", "password": "long enough", "name": "A", "extra": 1 }),
            ".",
        ),
    ];
    for (body, field) in cases {
        let err = app
            .post("/api/v1/auth/register", None, body.clone())
            .await
            .expect_error(400, "INVALID_REQUEST");
        if field != "." {
            assert_eq!(err["details"]["field"], field, "{body} -> {err}");
        }
    }
    // Nothing was half-written: the email is still free.
    app.post(
        "/api/v1/auth/register",
        None,
        json!({ "email": "a@b.com", "password": "long enough", "name": "A" }),
    )
    .await
    .expect(201);
}

async fn admin_cannot_be_self_assigned(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let err = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({ "email": format!("x{}@example.com", unique()), "password": "long enough", "name": "X", "roles": ["admin"] }),
        )
        .await
        .expect_error(400, "INVALID_REQUEST");
    assert_eq!(err["details"]["field"], "roles[0]");
}

async fn login_refuses_wrong_password_and_unknown_email_alike(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.visitor().await;
    let wrong = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({ "email": user.email, "password": "nope nope nope" }),
        )
        .await
        .expect_error(401, "UNAUTHORIZED");
    let unknown = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({ "email": "ghost@example.com", "password": "nope nope nope" }),
        )
        .await
        .expect_error(401, "UNAUTHORIZED");
    assert_eq!(
        wrong["message"], unknown["message"],
        "no account enumeration"
    );
}

async fn refresh_rotates_and_reuse_revokes_the_family(backend: Backend) {
    // No grace window: any second use of a spent token is reuse.
    let app = TestApp::spawn_with(backend, |c| c.refresh_reuse_grace_seconds = 0).await;
    let user = app.visitor().await;
    let first = app
        .post(
            "/api/v1/auth/refresh_token",
            None,
            json!({ "refresh_token": user.refresh_token }),
        )
        .await
        .expect(200);
    let second_refresh = first["refresh_token"].as_str().expect("rotated").to_owned();
    assert_ne!(second_refresh, user.refresh_token);
    app.get("/api/v1/me", first["access_token"].as_str())
        .await
        .expect(200);

    // Reusing the spent token is refused and revokes the family, including the live successor.
    app.post(
        "/api/v1/auth/refresh_token",
        None,
        json!({ "refresh_token": user.refresh_token }),
    )
    .await
    .expect_error(401, "UNAUTHORIZED");
    app.post(
        "/api/v1/auth/refresh_token",
        None,
        json!({ "refresh_token": second_refresh }),
    )
    .await
    .expect_error(401, "UNAUTHORIZED");

    // Another login is a new family and works.
    let other = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({ "email": user.email, "password": "correct horse battery" }),
        )
        .await
        .expect(200);
    app.post(
        "/api/v1/auth/refresh_token",
        None,
        json!({ "refresh_token": other["refresh_token"] }),
    )
    .await
    .expect(200);
    app.post(
        "/api/v1/auth/refresh_token",
        None,
        json!({ "refresh_token": "rt_forged" }),
    )
    .await
    .expect_error(401, "UNAUTHORIZED");
}

/// Several tabs refreshing one token at once all stay signed in, with one successor.
async fn concurrent_refreshes_of_one_token_all_get_the_same_successor(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.visitor().await;
    let attempts = (0..10).map(|_| {
        app.post(
            "/api/v1/auth/refresh_token",
            None,
            json!({ "refresh_token": user.refresh_token }),
        )
    });
    let results = futures::future::join_all(attempts).await;
    let mut successors: Vec<String> = results
        .into_iter()
        .map(|r| {
            let body = r.expect(200);
            app_token(&body["refresh_token"])
        })
        .collect();
    successors.sort();
    successors.dedup();
    assert_eq!(successors.len(), 1, "one successor: {successors:?}");
    assert_ne!(successors[0], user.refresh_token);

    // The successor is live: it rotates, and its own successor works too.
    let next = app
        .post(
            "/api/v1/auth/refresh_token",
            None,
            json!({ "refresh_token": successors[0] }),
        )
        .await
        .expect(200);
    app.get("/api/v1/me", next["access_token"].as_str())
        .await
        .expect(200);
    app.post(
        "/api/v1/auth/refresh_token",
        None,
        json!({ "refresh_token": next["refresh_token"] }),
    )
    .await
    .expect(200);
}

fn app_token(value: &serde_json::Value) -> String {
    value.as_str().expect("a refresh token").to_owned()
}

/// A spent token is answered with its successor only within the grace window; later it is
/// reuse, and the whole family (the successor included) is revoked.
async fn reuse_after_the_grace_window_revokes_the_family(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.refresh_reuse_grace_seconds = 1).await;
    let user = app.visitor().await;
    let refresh = |token: String| {
        app.post(
            "/api/v1/auth/refresh_token",
            None,
            json!({ "refresh_token": token }),
        )
    };
    let first = refresh(user.refresh_token.clone()).await.expect(200);
    let again = refresh(user.refresh_token.clone()).await.expect(200);
    assert_eq!(
        first["refresh_token"], again["refresh_token"],
        "within the window: the same successor"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    refresh(user.refresh_token.clone())
        .await
        .expect_error(401, "UNAUTHORIZED");
    refresh(app_token(&first["refresh_token"]))
        .await
        .expect_error(401, "UNAUTHORIZED");
}

/// With one hash at a time and two waiting, a burst of logins is partly refused with 503 and
/// `Retry-After` (never held in memory, never hung); one at a time they all succeed.
async fn password_hashing_is_bounded(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.password_hash_concurrency = Some(1);
        c.password_hash_queue = 2;
    })
    .await;
    let user = app.visitor().await;
    let login = json!({ "email": user.email, "password": "correct horse battery" });
    let burst = (0..20).map(|_| app.post("/api/v1/auth/login", None, login.clone()));
    let results = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        futures::future::join_all(burst),
    )
    .await
    .expect("no login hangs");
    let refused: Vec<_> = results.iter().filter(|r| r.status == 503).collect();
    let ok = results.iter().filter(|r| r.status == 200).count();
    assert_eq!(ok + refused.len(), 20, "only 200 or 503: {results:?}");
    assert!(ok >= 1, "the admitted logins succeed");
    assert!(!refused.is_empty(), "a burst beyond the queue is refused");
    for r in refused {
        assert_eq!(r.body["error_code"], "SERVICE_UNAVAILABLE", "{r:?}");
        assert!(
            r.header("retry-after")
                .is_some_and(|s| s.parse::<u64>().is_ok_and(|n| n >= 1)),
            "Retry-After: {r:?}"
        );
    }
    for _ in 0..5 {
        app.post("/api/v1/auth/login", None, login.clone())
            .await
            .expect(200);
    }
}

async fn logout_revokes_refresh_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.visitor().await;
    let res = app
        .post(
            "/api/v1/auth/logout",
            Some(&user.token),
            json!({ "refresh_token": user.refresh_token }),
        )
        .await;
    assert_eq!(res.status, 204);
    app.post(
        "/api/v1/auth/refresh_token",
        None,
        json!({ "refresh_token": user.refresh_token }),
    )
    .await
    .expect_error(401, "UNAUTHORIZED");

    // Bearer-only logout revokes every session of the user.
    let again = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({ "email": user.email, "password": "correct horse battery" }),
        )
        .await
        .expect(200);
    let res = app
        .request(
            reqwest::Method::POST,
            "/api/v1/auth/logout",
            again["access_token"].as_str(),
            None,
        )
        .await;
    assert_eq!(res.status, 204);
    app.post(
        "/api/v1/auth/refresh_token",
        None,
        json!({ "refresh_token": again["refresh_token"] }),
    )
    .await
    .expect_error(401, "UNAUTHORIZED");
    app.request(reqwest::Method::POST, "/api/v1/auth/logout", None, None)
        .await
        .expect_error(401, "UNAUTHORIZED");
}

async fn bad_tokens_are_the_seeds_401(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.visitor().await;
    let [tampered, alg_none] = crate::common::client::forged_tokens(user.user_id, &user.token);
    for token in [tampered.as_str(), alg_none.as_str(), "garbage", "a.b.c"] {
        let err = app
            .get("/api/v1/me", Some(token))
            .await
            .expect_error(401, "UNAUTHORIZED");
        assert_eq!(err["message"], "Authentication required");
    }
    let res = app
        .client
        .get(app.url("/api/v1/me"))
        .header("authorization", format!("Basic {}", user.token))
        .send()
        .await
        .expect("sent");
    TestApp::read(res).await.expect_error(401, "UNAUTHORIZED");
}

async fn expired_tokens_are_refused(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.access_token_seconds = 1).await;
    let user = app.visitor().await;
    app.get("/api/v1/me", Some(&user.token)).await.expect(200);
    // The validator allows 5 s of clock skew.
    tokio::time::sleep(std::time::Duration::from_secs(7)).await;
    app.get("/api/v1/me", Some(&user.token))
        .await
        .expect_error(401, "UNAUTHORIZED");
}
