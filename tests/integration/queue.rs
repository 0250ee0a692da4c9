//! The waiting room and the rate limits (SPEC §10, issue 12): passes gate `reserve` and `book`,
//! one place per user, FIFO after opening, a pre-queue shuffled at opening that anyone can
//! recompute from the published seed, one admission clock for several nodes, and limits that
//! answer 429 and hold across nodes.

use std::time::{Duration, Instant};

use boxoffice::queue::shuffle;
use serde_json::{json, Value};

use crate::common::{Backend, TestApp, User};

both_backends!(
    a_waiting_room_gates_reserve_and_book_with_a_pass,
    one_place_per_user_under_concurrent_joins,
    the_pre_queue_is_shuffled_at_opening_and_later_joins_are_fifo,
    a_burst_from_one_address_is_limited_and_others_are_not,
    logins_are_limited_per_account_across_addresses,
    with_limits_on_the_handler_answers_for_the_verified_caller_and_bad_tokens_stay_401,
);

mod postgres_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn three_nodes_admit_at_the_rate_and_never_ahead_of_the_clock() {
        super::three_nodes_admit_at_the_rate_and_never_ahead_of_the_clock().await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn limits_hold_across_three_nodes() {
        super::limits_hold_across_three_nodes().await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn with_redis_gone_each_node_limits_on_its_own() {
        super::with_redis_gone_each_node_limits_on_its_own().await
    }
}

/// `t` without its fraction of a second, as opening times are stored.
fn whole_second(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(t.timestamp(), 0).expect("in range")
}

async fn turn_on(app: &TestApp, show: i64, organiser: &User, queue: Value) {
    app.patch(
        &format!("/api/v1/shows/{show}"),
        Some(&organiser.token),
        json!({ "queue": queue }),
    )
    .await
    .expect(200);
}

async fn join(app: &TestApp, show: i64, user: &User) -> Value {
    app.post(
        &format!("/api/v1/shows/{show}/queue/join"),
        Some(&user.token),
        json!({}),
    )
    .await
    .expect(200)
}

async fn status(app: &TestApp, show: i64, user: &User) -> Value {
    app.get(
        &format!("/api/v1/shows/{show}/queue/status"),
        Some(&user.token),
    )
    .await
    .expect(200)
}

/// Polls the caller's place until it is admitted; returns the place with its pass.
async fn until_admitted(app: &TestApp, show: i64, user: &User) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let place = status(app, show, user).await;
        if place["state"] == "admitted" {
            return place;
        }
        assert!(Instant::now() < deadline, "never admitted: {place}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn reserve_with(
    app: &TestApp,
    show: i64,
    user: &User,
    seat: &str,
    pass: Option<&str>,
) -> (u16, Value) {
    let mut req = app
        .client
        .post(app.url("/api/v1/book/reserve"))
        .bearer_auth(&user.token)
        .json(&json!({ "show_id": show, "seat_ids": [seat] }));
    if let Some(pass) = pass {
        req = req.header("x-queue-pass", pass);
    }
    let res = req.send().await.expect("answered");
    let code = res.status().as_u16();
    (code, res.json().await.unwrap_or(Value::Null))
}

fn refusal(body: &Value) -> (&str, &str) {
    (
        body["error_code"].as_str().unwrap_or_default(),
        body["details"]["reason"].as_str().unwrap_or_default(),
    )
}

async fn a_waiting_room_gates_reserve_and_book_with_a_pass(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    let other = app.live_show().await;
    turn_on(
        &app,
        fx.show,
        &fx.organiser,
        json!({ "enabled": true, "admit_per_minute": 1200 }),
    )
    .await;
    turn_on(
        &app,
        other.show,
        &other.organiser,
        json!({ "enabled": true, "admit_per_minute": 1200 }),
    )
    .await;
    let buyer = app.visitor().await;
    let rival = app.visitor().await;

    let (code, body) = reserve_with(&app, fx.show, &buyer, "A1", None).await;
    assert_eq!(
        (code, refusal(&body)),
        (403, ("QUEUE_PASS_REQUIRED", "missing")),
        "{body}"
    );
    // Reading a place before joining is a 404 in the error shape.
    app.get(
        &format!("/api/v1/shows/{}/queue/status", fx.show),
        Some(&buyer.token),
    )
    .await
    .expect(404);

    let joined = join(&app, fx.show, &buyer).await;
    assert!(joined["queue_token"].is_string());
    assert_eq!(joined["position"], 1);
    let place = until_admitted(&app, fx.show, &buyer).await;
    let pass = place["pass"].as_str().expect("pass").to_owned();
    assert!(place["pass_expires_at"].is_string());
    assert_eq!(place["ahead"], 0);

    // The rival's own pass, and the buyer's pass for another show.
    join(&app, fx.show, &rival).await;
    let rival_pass = until_admitted(&app, fx.show, &rival).await["pass"]
        .as_str()
        .expect("pass")
        .to_owned();
    join(&app, other.show, &buyer).await;
    let other_show_pass = until_admitted(&app, other.show, &buyer).await["pass"]
        .as_str()
        .expect("pass")
        .to_owned();
    // A signature character changed (one in the middle: every value there is valid base64).
    let (text, signature) = pass.rsplit_once('.').expect("signed");
    let mut chars: Vec<char> = signature.chars().collect();
    chars[10] = if chars[10] == 'A' { 'B' } else { 'A' };
    let forged = format!("{text}.{}", chars.into_iter().collect::<String>());
    let tampered = pass.replacen(
        &format!(".{}.", buyer.user_id),
        &format!(".{}.", rival.user_id),
        1,
    );
    let now = chrono::Utc::now().timestamp_millis();
    let expired = app
        .state
        .queue
        .keys
        .pass(fx.show, buyer.user_id, now - 1_000);
    for (bad, reason) in [
        (forged.as_str(), "forged"),
        (tampered.as_str(), "forged"),
        ("p1.1.2.3", "malformed"),
        (expired.as_str(), "expired"),
        (rival_pass.as_str(), "other_user"),
        (other_show_pass.as_str(), "other_show"),
    ] {
        let (code, body) = reserve_with(&app, fx.show, &buyer, "A1", Some(bad)).await;
        assert_eq!(
            (code, refusal(&body)),
            (403, ("QUEUE_PASS_REQUIRED", reason)),
            "{bad}: {body}"
        );
    }

    let (code, body) = reserve_with(&app, fx.show, &buyer, "A1", Some(&pass)).await;
    assert_eq!(code, 202, "{body}");
    // Booking needs the pass too.
    let book = |pass: Option<String>, key: &'static str| {
        let mut req = app
            .client
            .post(app.url("/api/v1/book"))
            .bearer_auth(&buyer.token)
            .header("idempotency-key", key)
            .json(&json!({ "show_id": fx.show, "seat_ids": ["A1"] }));
        if let Some(pass) = pass {
            req = req.header("x-queue-pass", pass);
        }
        req.send()
    };
    let refused = book(None, "k-no-pass").await.expect("answered");
    assert_eq!(refused.status(), 403);
    let booked = book(Some(pass.clone()), "k-pass").await.expect("answered");
    assert_eq!(booked.status(), 201);

    // The organiser sees the line.
    let stats = app
        .get(
            &format!("/api/v1/shows/{}/queue", fx.show),
            Some(&fx.organiser.token),
        )
        .await
        .expect(200);
    assert_eq!(stats["joined"], 2);
    assert_eq!(stats["waiting"], 0);
    assert_eq!(stats["admit_per_minute"], 1200);
    app.get(
        &format!("/api/v1/shows/{}/queue", fx.show),
        Some(&buyer.token),
    )
    .await
    .expect(403);

    // Turned off, the seat map is open to all again.
    turn_on(&app, fx.show, &fx.organiser, json!({ "enabled": false })).await;
    let (code, body) = reserve_with(&app, fx.show, &rival, "A2", None).await;
    assert_eq!(code, 202, "{body}");
}

async fn one_place_per_user_under_concurrent_joins(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    turn_on(
        &app,
        fx.show,
        &fx.organiser,
        json!({ "enabled": true, "admit_per_minute": 1 }),
    )
    .await;
    let first = app.visitor().await;
    join(&app, fx.show, &first).await;
    let user = app.visitor().await;
    let joins = (0..50).map(|_| join(&app, fx.show, &user));
    let places = futures_util::future::join_all(joins).await;
    let tokens: std::collections::HashSet<String> = places
        .iter()
        .map(|p| p["queue_token"].as_str().expect("token").to_owned())
        .collect();
    assert_eq!(tokens.len(), 1, "one place, not {}", tokens.len());
    assert!(places
        .iter()
        .all(|p| p["position"] == 2 && p["state"] == "waiting"));
    // With its queue token a status read is answered from the node's recent read of the line:
    // the same place. Someone else's token, or a forged one, is no shortcut to their place.
    let own = places[0]["queue_token"].as_str().expect("token");
    let theirs = join(&app, fx.show, &first).await["queue_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let forged = own.replace(".1.", ".0.");
    for token in [own, theirs.as_str(), forged.as_str()] {
        let place = app
            .client
            .get(app.url(&format!("/api/v1/shows/{}/queue/status", fx.show)))
            .bearer_auth(&user.token)
            .header("x-queue-token", token)
            .send()
            .await
            .expect("answered");
        assert_eq!(place.status(), 200);
        let place: Value = place.json().await.expect("json");
        assert_eq!(
            (place["position"].clone(), place["state"].clone()),
            (json!(2), json!("waiting")),
            "{token}"
        );
    }
    let stats = app
        .get(
            &format!("/api/v1/shows/{}/queue", fx.show),
            Some(&fx.organiser.token),
        )
        .await
        .expect(200);
    assert_eq!(stats["joined"], 2);
    // One a minute: the second in line waits about a minute, and says so.
    let wait = places[0]["estimated_wait_seconds"].as_u64().expect("wait");
    assert!((60..=125).contains(&wait), "{wait}");
}

async fn the_pre_queue_is_shuffled_at_opening_and_later_joins_are_fifo(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    let early = app.quick_users(20).await;
    let late = app.quick_users(5).await;
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    turn_on(
        &app,
        fx.show,
        &fx.organiser,
        json!({ "enabled": true, "admit_per_minute": 60, "opens_at": later }),
    )
    .await;
    let mut commitment = String::new();
    for user in &early {
        let place = join(&app, fx.show, user).await;
        assert_eq!(
            place["position"],
            Value::Null,
            "no place before opening: {place}"
        );
        assert_eq!(place["pre_queue"], true);
        assert_eq!(place["fairness"]["seed"], Value::Null);
        commitment = place["fairness"]["seed_sha256"]
            .as_str()
            .expect("commitment")
            .to_owned();
    }
    // The organiser brings the opening forward (the line has not opened: it still can).
    let opens = whole_second(chrono::Utc::now() + chrono::Duration::seconds(2));
    turn_on(
        &app,
        fx.show,
        &fx.organiser,
        json!({ "opens_at": opens.to_rfc3339() }),
    )
    .await;
    let wait = opens - chrono::Utc::now();
    tokio::time::sleep(wait.to_std().unwrap_or_default() + Duration::from_millis(200)).await;
    let mut late_positions = Vec::new();
    for user in &late {
        late_positions.push(
            join(&app, fx.show, user).await["position"]
                .as_u64()
                .expect("position"),
        );
    }
    assert_eq!(
        late_positions,
        [21, 22, 23, 24, 25],
        "after opening: first come, first served"
    );

    let mut positions = Vec::new();
    let mut seed = Vec::new();
    for user in &early {
        let place = status(&app, fx.show, user).await;
        positions.push(place["position"].as_u64().expect("position"));
        let published = place["fairness"]["seed"]
            .as_str()
            .expect("seed after opening");
        seed = hex::decode(published).expect("hex");
        assert_eq!(place["fairness"]["pre_queue_size"], 20);
    }
    assert_eq!(
        shuffle::commitment(&seed),
        commitment,
        "the seed is the one committed to"
    );
    let mut sorted = positions.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (1..=20).collect::<Vec<u64>>(),
        "a permutation of the first 20 places"
    );
    assert_ne!(positions, sorted, "shuffled, not in arrival order");
    // Anyone can recompute every place from the published seed and the arrival order.
    for (arrival, position) in positions.iter().enumerate() {
        assert_eq!(shuffle::permute(&seed, 20, arrival as u64) + 1, *position);
    }
}

async fn three_nodes_admit_at_the_rate_and_never_ahead_of_the_clock() {
    let a = TestApp::spawn(Backend::Postgres).await;
    let b = a.another_node().await;
    let c = a.another_node().await;
    let fx = a.live_show().await;
    let waiters = a.quick_users(2000).await;
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    turn_on(
        &a,
        fx.show,
        &fx.organiser,
        json!({ "enabled": true, "admit_per_minute": 600, "opens_at": later }),
    )
    .await;
    let nodes = [&a, &b, &c];
    // 2,000 joins spread over the three nodes, 50 at a time, all before opening.
    for (i, chunk) in waiters.chunks(50).enumerate() {
        let node = nodes[i % 3];
        futures_util::future::join_all(chunk.iter().map(|u| join(node, fx.show, u))).await;
    }
    // Every node's cached settings see the new opening within a second. Opening times are
    // kept to the second.
    let opens = whole_second(chrono::Utc::now() + chrono::Duration::seconds(3));
    turn_on(
        &a,
        fx.show,
        &fx.organiser,
        json!({ "opens_at": opens.to_rfc3339() }),
    )
    .await;
    let opened = Instant::now() + (opens - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep_until(opened.into()).await;
    let mut samples = Vec::new();
    for i in 1..=12u64 {
        tokio::time::sleep_until((opened + Duration::from_secs(5 * i)).into()).await;
        let node = nodes[(i % 3) as usize];
        let stats = node
            .get(
                &format!("/api/v1/shows/{}/queue", fx.show),
                Some(&fx.organiser.token),
            )
            .await
            .expect(200);
        let elapsed = opened.elapsed().as_secs_f64();
        let admitted = stats["admitted"].as_u64().expect("admitted");
        // Never ahead of the clock (10 a second from opening; 0.3 s of slack for the read).
        assert!(
            admitted as f64 <= elapsed * 10.0 + 3.0,
            "{admitted} admitted after {elapsed:.1} s"
        );
        samples.push((elapsed, admitted));
    }
    let (elapsed, admitted) = *samples.last().expect("samples");
    assert!((60.0..62.0).contains(&elapsed), "sampled at {elapsed:.1} s");
    assert!(
        (570..=630).contains(&admitted),
        "{admitted} admitted in 60 s at 600 a minute; samples {samples:?}"
    );
    // Each node reads the same line: a waiter's place and state agree everywhere.
    let someone = &waiters[1234];
    let places: Vec<Value> =
        futures_util::future::join_all(nodes.iter().map(|n| status(n, fx.show, someone))).await;
    assert!(places
        .iter()
        .all(|p| p["position"] == places[0]["position"]));
    // An admitted user's pass works on every node.
    let mut admitted_user = None;
    for user in &waiters {
        let place = status(&a, fx.show, user).await;
        if place["state"] == "admitted" {
            admitted_user = Some((user, place["pass"].as_str().expect("pass").to_owned()));
            break;
        }
    }
    let (user, pass) = admitted_user.expect("someone is admitted");
    for (node, seat) in nodes.iter().zip(["A1", "A2", "A3"]) {
        let (code, body) = reserve_with(node, fx.show, user, seat, Some(&pass)).await;
        assert_eq!(code, 202, "{body}");
    }
    for n in [b, c] {
        n.stop().await;
    }
}

/// A node with limits on, trusting loopback as its load balancer so tests can speak for
/// several client addresses.
async fn limited(
    backend: Backend,
    tweak: impl FnOnce(&mut boxoffice::limits::RateLimitConfig),
) -> TestApp {
    TestApp::spawn_with(backend, |c| {
        let mut limits = boxoffice::limits::RateLimitConfig::defaults();
        limits.trusted_proxies = vec!["127.0.0.1".parse().expect("ip")];
        tweak(&mut limits);
        c.rate_limits = limits;
    })
    .await
}

async fn get_from(app: &TestApp, path: &str, ip: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .header("x-forwarded-for", ip)
        .send()
        .await
        .expect("answered")
}

async fn a_burst_from_one_address_is_limited_and_others_are_not(backend: Backend) {
    // 8 a minute: a burst of 3, then one every 7.5 s (slow enough for a loaded machine).
    let app = limited(backend, |l| l.limit_api_ip = 8).await;
    let mut codes = Vec::new();
    for _ in 0..6 {
        let res = get_from(&app, "/api/v1/shows", "10.0.0.1").await;
        codes.push(res.status().as_u16());
        if res.status() == 200 {
            assert!(res.headers().contains_key("ratelimit-limit"));
            assert!(res.headers().contains_key("ratelimit-remaining"));
        } else {
            assert_eq!(res.status(), 429);
            let retry: u64 = res.headers()["retry-after"]
                .to_str()
                .expect("ascii")
                .parse()
                .expect("seconds");
            assert!((1..=8).contains(&retry), "retry after {retry}");
            assert_eq!(res.headers()["ratelimit-remaining"], "0");
            let body: Value = res.json().await.expect("json");
            assert_eq!(body["error_code"], "RATE_LIMITED");
        }
    }
    let allowed = codes.iter().filter(|c| **c == 200).count();
    assert!((3..=4).contains(&allowed), "{codes:?}");
    assert_eq!(codes.last(), Some(&429), "{codes:?}");
    // Another address is unaffected, and health checks are never limited.
    assert_eq!(
        get_from(&app, "/api/v1/shows", "10.0.0.2").await.status(),
        200
    );
    assert_eq!(get_from(&app, "/healthz", "10.0.0.1").await.status(), 200);

    // Booking routes are stricter, per user: the 6th reserve in a burst is refused.
    let app = limited(backend, |l| {
        l.limit_booking_user = 8; // a burst of 3
        (l.limit_register_ip, l.limit_login_ip, l.limit_login_account) = (0, 0, 0);
    })
    .await;
    let fx = app.live_show().await;
    let buyer = app.visitor().await;
    let other = app.visitor().await;
    let mut codes = Vec::new();
    for seat in ["A1", "A2", "A3", "A4"] {
        codes.push(app.reserve(&buyer, fx.show, &[seat]).await.status.as_u16());
    }
    assert_eq!(codes, [202, 202, 202, 429]);
    app.reserve(&other, fx.show, &["B1"]).await.expect(202);
}

/// With the limits on, the gateway verifies a request's token to key the caller's limit and
/// hands the verified caller to the handler (one verification a request). The handler answers
/// for that caller, and a bad token is still the seed's 401, on booking routes and others.
async fn with_limits_on_the_handler_answers_for_the_verified_caller_and_bad_tokens_stay_401(
    backend: Backend,
) {
    let app = limited(backend, |l| {
        (l.limit_register_ip, l.limit_login_ip, l.limit_login_account) = (0, 0, 0);
    })
    .await;
    let fx = app.live_show().await;
    let buyer = app.visitor().await;
    let other = app.visitor().await;
    let me = app.get("/api/v1/me", Some(&buyer.token)).await.expect(200);
    assert_eq!(me["user_id"], buyer.user_id);
    assert_eq!(me["roles"], json!(["user"]));
    app.reserve(&buyer, fx.show, &["A1", "A2"])
        .await
        .expect(202);
    // The other visitor's token names the other visitor: their release lets nothing go, their
    // reserve of a held seat is refused, and the buyer's release lets both seats go.
    let body = json!({ "show_id": fx.show, "seat_ids": ["A1", "A2"] });
    let released = app
        .request(
            reqwest::Method::DELETE,
            "/api/v1/book/reserve",
            Some(&other.token),
            Some(body.clone()),
        )
        .await
        .expect(200);
    assert_eq!(released["seat_ids"], json!([]));
    app.reserve(&other, fx.show, &["A2"])
        .await
        .expect_error(409, "SEAT_LOCKED");
    let released = app
        .request(
            reqwest::Method::DELETE,
            "/api/v1/book/reserve",
            Some(&buyer.token),
            Some(body),
        )
        .await
        .expect(200);
    assert_eq!(released["seat_ids"], json!(["A1", "A2"]));

    // Tokens that name the buyer without the server's signature.
    let [tampered, alg_none] = crate::common::client::forged_tokens(buyer.user_id, &other.token);
    for token in [tampered.as_str(), alg_none.as_str(), "garbage"] {
        app.get("/api/v1/me", Some(token))
            .await
            .expect_error(401, "UNAUTHORIZED");
        app.post(
            "/api/v1/book/reserve",
            Some(token),
            json!({ "show_id": fx.show, "seat_ids": ["B1"] }),
        )
        .await
        .expect_error(401, "UNAUTHORIZED");
    }
    app.reserve(&other, fx.show, &["B1"]).await.expect(202);
}

async fn logins_are_limited_per_account_across_addresses(backend: Backend) {
    let app = limited(backend, |l| l.limit_login_account = 4).await; // a burst of 3
    let user = app.visitor().await;
    let mut codes = Vec::new();
    for i in 0..5 {
        let res = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .header("x-forwarded-for", format!("10.9.0.{i}"))
            .json(&json!({ "email": user.email, "password": "wrong password" }))
            .send()
            .await
            .expect("answered");
        codes.push(res.status().as_u16());
    }
    // The visitor's own login counted once already.
    assert_eq!(codes, [401, 401, 429, 429, 429]);
}

async fn limits_hold_across_three_nodes() {
    let a = limited(Backend::Postgres, |l| l.limit_api_ip = 400).await; // a burst of 100
    let b = a.another_node().await;
    let c = a.another_node().await;
    let started = Instant::now();
    let nodes = [&a, &b, &c];
    let calls = (0..300).map(|i| get_from(nodes[i % 3], "/api/v1/shows", "10.7.7.7"));
    let answers = futures_util::future::join_all(calls).await;
    let elapsed = started.elapsed().as_secs_f64();
    let allowed = answers.iter().filter(|r| r.status() == 200).count() as f64;
    // The burst, plus what refilled while the calls ran (400 a minute).
    // The burst, plus at most what refilled while the calls were decided (400 a minute).
    let most = 100.0 + elapsed * 400.0 / 60.0 + 1.0;
    assert!(
        (100.0..=most).contains(&allowed),
        "{allowed} allowed across three nodes, between 100 and {most:.1} expected after {elapsed:.2} s"
    );
    for n in [b, c] {
        n.stop().await;
    }
}

/// Redis killed: the limits neither open for everyone nor close for everyone; each node keeps
/// limiting on its own buckets, and a decision does not wait for the dead Redis every time.
async fn with_redis_gone_each_node_limits_on_its_own() {
    let mut redis = crate::common::PrivateRedis::start().await;
    let url = redis.url.clone();
    let app = TestApp::spawn_with(Backend::Postgres, |c| {
        c.redis_url = Some(boxoffice::config::DatabaseUrl::new(url));
        let mut limits = boxoffice::limits::RateLimitConfig::defaults();
        limits.trusted_proxies = vec!["127.0.0.1".parse().expect("ip")];
        limits.limit_api_ip = 8; // a burst of 3, then one every 7.5 s
        c.rate_limits = limits;
    })
    .await;
    assert_eq!(
        get_from(&app, "/api/v1/shows", "10.3.3.3").await.status(),
        200
    );
    redis.kill();
    let started = Instant::now();
    let mut codes = Vec::new();
    for _ in 0..6 {
        codes.push(
            get_from(&app, "/api/v1/shows", "10.3.3.4")
                .await
                .status()
                .as_u16(),
        );
    }
    let took = started.elapsed();
    let allowed = codes.iter().filter(|c| **c == 200).count();
    assert!((3..=4).contains(&allowed), "{codes:?}");
    assert_eq!(*codes.last().expect("codes"), 429);
    assert!(took < Duration::from_secs(3), "6 decisions took {took:?}");
    // Another address still gets through.
    assert_eq!(
        get_from(&app, "/api/v1/shows", "10.3.3.5").await.status(),
        200
    );
}
