//! Bounds that a slow handler, a client that hangs up, a frozen dependency or an oversized body
//! must not get past: each test crosses one.

use std::time::{Duration, Instant};

use boxoffice::faults::Fault;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{self, Backend, Fixture, TestApp, User};

both_backends!(
    a_request_past_its_deadline_is_a_503_and_its_booking_still_lands,
    a_booking_whose_client_hangs_up_gives_its_key_back_when_it_fails,
    every_route_refuses_a_declared_oversized_body,
);

mod postgres_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn readiness_answers_in_time_while_redis_is_frozen() {
        super::readiness_answers_in_time_while_redis_is_frozen().await
    }
}

fn book_request(app: &TestApp, user: &User, key: &str, body: &Value) -> reqwest::RequestBuilder {
    app.client
        .post(app.url("/api/v1/book"))
        .bearer_auth(&user.token)
        .header("idempotency-key", key)
        .json(body)
}

async fn book(app: &TestApp, user: &User, key: &str, body: &Value) -> common::Resp {
    let res = book_request(app, user, key, body)
        .send()
        .await
        .expect("sent");
    TestApp::read(res).await
}

async fn a_request_past_its_deadline_is_a_503_and_its_booking_still_lands(backend: Backend) {
    // The booking pauses 600 ms before its commit; the request may take 250 ms.
    let app = TestApp::spawn_with(backend, |c| c.request_timeout_ms = 250).await;
    let fx = app.live_show().await;
    let buyer = app.visitor().await;
    app.reserve(&buyer, fx.show, &["A1"]).await.expect(202);
    let body = json!({ "show_id": fx.show, "seat_ids": ["A1"] });
    app.state.faults.arm(Fault::PauseBeforeBookingCommit, 1);
    let started = Instant::now();
    let late = book(&app, &buyer, "slow-key", &body).await;
    assert!(
        started.elapsed() < Duration::from_millis(550),
        "answered after {:?}",
        started.elapsed()
    );
    assert!(late.header("retry-after").is_some(), "{:?}", late.headers);
    let err = late.expect_error(503, "SERVICE_UNAVAILABLE");
    assert_eq!(err["details"]["reason"], "timeout");
    // The booking went on without its client: a retry with the key gets it, once.
    let replay = common::eventually(Duration::from_secs(5), || async {
        let res = book(&app, &buyer, "slow-key", &body).await;
        (res.status == 200).then_some(res.body)
    })
    .await
    .expect("the booking landed after its request timed out");
    assert_eq!(replay["seat_ids"], json!(["A1"]));
    assert_one_booking(&app, &buyer).await;
}

async fn a_booking_whose_client_hangs_up_gives_its_key_back_when_it_fails(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fx: Fixture = app.live_show().await;
    let buyer = app.visitor().await;
    app.reserve(&buyer, fx.show, &["B1"]).await.expect(202);
    let body = json!({ "show_id": fx.show, "seat_ids": ["B1"] });
    // The booking fails before its commit, 600 ms in; its client has gone after 100 ms.
    app.state.faults.arm(Fault::PauseBeforeBookingCommit, 1);
    app.state.faults.arm(Fault::FailBeforeCommit, 1);
    let hung_up = book_request(&app, &buyer, "hangup-key", &body)
        .timeout(Duration::from_millis(100))
        .send()
        .await;
    assert!(
        hung_up.as_ref().is_err_and(|e| e.is_timeout()),
        "{hung_up:?}"
    );
    // Once the failure is done, the key is free again: the retry books at once instead of
    // waiting out the claim's lease behind IDEMPOTENCY_IN_PROGRESS.
    tokio::time::sleep(boxoffice::faults::PAUSE + Duration::from_millis(300)).await;
    let started = Instant::now();
    let retried = common::eventually(Duration::from_secs(3), || async {
        let res = book(&app, &buyer, "hangup-key", &body).await;
        (res.status == 201).then_some(res.body)
    })
    .await
    .unwrap_or_else(|| panic!("the key stayed locked for {:?}", started.elapsed()));
    assert_eq!(retried["seat_ids"], json!(["B1"]));
    assert_one_booking(&app, &buyer).await;
}

async fn assert_one_booking(app: &TestApp, buyer: &User) {
    let bookings = app
        .get("/api/v1/bookings", Some(&buyer.token))
        .await
        .expect(200);
    let list = bookings
        .as_array()
        .or_else(|| bookings["bookings"].as_array())
        .cloned()
        .unwrap_or_default();
    assert_eq!(list.len(), 1, "{bookings}");
}

async fn every_route_refuses_a_declared_oversized_body(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.max_body_bytes = 64 * 1024).await;
    let fx = app.live_show().await;
    let buyer = app.visitor().await;
    let huge = vec![b' '; 64 * 1024 + 1];
    let org = Some(fx.organiser.token.as_str());
    let me = Some(buyer.token.as_str());
    let routes: Vec<(Method, String, Option<&str>)> = vec![
        (Method::POST, "/api/v1/auth/login".into(), None),
        (Method::POST, "/api/v1/auth/refresh_token".into(), None),
        (Method::POST, "/api/v1/auth/logout".into(), me),
        (Method::POST, "/api/v1/book/reserve".into(), me),
        (Method::DELETE, "/api/v1/book/reserve".into(), me),
        (Method::POST, "/api/v1/book".into(), me),
        (Method::POST, "/api/v1/checkin".into(), org),
        (
            Method::POST,
            format!("/api/v1/events/{}/webhooks", fx.event),
            org,
        ),
        // Routes that never read a body answer 413 too, before doing anything.
        (
            Method::POST,
            format!("/api/v1/shows/{}/launch", fx.show),
            org,
        ),
        (
            Method::POST,
            format!("/api/v1/shows/{}/cancel", fx.show),
            org,
        ),
        (Method::POST, "/api/v1/bookings/1/cancel".into(), me),
        (Method::GET, "/api/v1/shows".into(), None),
        (Method::GET, "/healthz".into(), None),
    ];
    for (method, path, token) in routes {
        let mut req = app
            .client
            .request(method.clone(), app.url(&path))
            .header("content-type", "application/json")
            .header("idempotency-key", "oversized")
            .body(huge.clone());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = TestApp::read(req.send().await.expect("sent")).await;
        assert_eq!(res.status, 413, "{method} {path}: {}", res.body);
        res.expect_error(413, "PAYLOAD_TOO_LARGE");
    }
    // Nothing ran: the show is still live.
    let show = app.get(&format!("/api/v1/shows/{}", fx.show), None).await;
    assert_eq!(show.expect(200)["status"], "live");
}

async fn readiness_answers_in_time_while_redis_is_frozen() {
    let redis = common::PrivateRedis::start().await;
    let url = redis.url.clone();
    let app = TestApp::spawn_with(Backend::Postgres, |c| {
        c.redis_url = Some(boxoffice::config::DatabaseUrl::new(url));
    })
    .await;
    app.get("/readyz", None).await.expect(200);
    redis.pause();
    let started = Instant::now();
    let ready = app.get("/readyz", None).await;
    let took = started.elapsed();
    redis.resume();
    assert!(took < Duration::from_secs(4), "readiness took {took:?}");
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert!(ready.header("retry-after").is_some());
    assert_ne!(
        ready.body["checks"]["holds"]["status"], "ok",
        "{}",
        ready.body
    );
    assert_eq!(ready.body["checks"]["database"]["status"], "ok");
    // Thawed, it is ready again.
    let back = common::eventually(Duration::from_secs(5), || async {
        (app.get("/readyz", None).await.status == 200).then_some(())
    })
    .await;
    assert!(back.is_some(), "ready again after Redis thawed");
}
