//! Live availability (SPEC §5, §10; issue 11): the layout, the packed snapshot and the seat
//! stream follow every hold, release, sale, expiry and cancellation, resume with
//! `Last-Event-ID`, cross nodes, and recover from a flushed hold store.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use boxoffice::availability::live::decode_seats;
use boxoffice::domain::SeatStatus;
use boxoffice::holds::HoldStore;
use serde_json::{json, Value};

use crate::common::{self, layout_indexes as indexes, Backend, EventStream, TestApp};

both_backends!(
    layout_and_availability_follow_holds_sales_releases_and_cancellations,
    an_expiry_is_pushed_to_stream_clients,
    a_sale_goes_from_held_to_sold_and_ends_the_buyers_holds,
    last_event_id_resumes_with_the_missed_deltas,
    a_signed_in_stream_through_the_router_gets_the_same_events,
    availability_is_corrected_after_the_hold_store_loses_its_holds,
    a_cancelled_show_is_blocked_everywhere,
);

mod postgres_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hold_on_one_node_reaches_a_stream_on_another_within_a_second() {
        super::a_hold_on_one_node_reaches_a_stream_on_another_within_a_second().await
    }
}

/// Seat label → index, by walking the layout's rows and runs in order.
struct Seats {
    version: u64,
    statuses: Vec<SeatStatus>,
    body: Value,
}

async fn availability(app: &TestApp, show: i64) -> Seats {
    let body = app
        .get(&format!("/api/v1/shows/{show}/availability"), None)
        .await
        .expect(200);
    let n = body["seat_count"].as_u64().expect("seat_count") as usize;
    Seats {
        version: body["version"].as_u64().expect("version"),
        statuses: decode_seats(body["seats"].as_str().expect("seats"), n).expect("decodes"),
        body,
    }
}

/// Waits until the snapshot shows `label` as `status`.
async fn until_status(
    app: &TestApp,
    show: i64,
    index: &HashMap<String, usize>,
    label: &str,
    status: SeatStatus,
) -> Seats {
    let i = index[label];
    let mut last = None;
    for _ in 0..60 {
        let seats = availability(app, show).await;
        if seats.statuses[i] == status {
            return seats;
        }
        last = Some(seats.statuses[i]);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{label} never became {status:?} (last {last:?})");
}

/// The show's layout and each seat label's index in it.
async fn layout(app: &TestApp, show: i64) -> (Value, HashMap<String, usize>) {
    let layout = app
        .get(&format!("/api/v1/shows/{show}/layout"), None)
        .await
        .expect(200);
    let index = indexes(&layout);
    (layout, index)
}

async fn layout_and_availability_follow_holds_sales_releases_and_cancellations(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    let path = format!("/api/v1/shows/{}/layout", fx.show);
    let res = app.get(&path, None).await;
    let etag = res.header("etag").expect("etag").to_owned();
    let cache = res
        .header("cache-control")
        .expect("cache-control")
        .to_owned();
    assert!(
        cache.contains("public") && cache.contains("immutable"),
        "{cache}"
    );
    let layout = res.expect(200);
    assert_eq!(layout["seat_count"], 30);
    assert_eq!(layout["sections"][0]["name"], "Gold");
    assert_eq!(layout["sections"][0]["price"], 450);
    // Row B of Gold has an aisle: B1-B2, then B4-B6 after a gap.
    let row_b = &layout["rows"][1];
    assert_eq!(row_b["label"], "B");
    assert_eq!(row_b["runs"].as_array().map(Vec::len), Some(2), "{row_b}");
    let index = indexes(&layout);
    assert_eq!(index.len(), 30);
    let cached = app
        .client
        .get(app.url(&path))
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("sent");
    assert_eq!(cached.status(), 304);

    let start = availability(&app, fx.show).await;
    assert!(start.statuses.iter().all(|s| *s == SeatStatus::Available));
    assert_eq!(start.body["encoding"], "2bit-base64");
    let buyer = app.visitor().await;
    let other = app.visitor().await;
    app.reserve(&buyer, fx.show, &["A1", "A2"])
        .await
        .expect(202);
    let held = until_status(&app, fx.show, &index, "A2", SeatStatus::Held).await;
    assert_eq!(held.statuses[index["A1"]], SeatStatus::Held);
    assert!(held.version > start.version);
    assert_eq!(held.body["sections"][0]["held"], 2);
    // The buyer sees their own holds after a reload; someone else does not.
    let mine = app.holds_mine(&buyer.token, fx.show).await.expect(200);
    assert_eq!(mine["seat_ids"], json!(["A1", "A2"]));
    let theirs = app.holds_mine(&other.token, fx.show).await.expect(200);
    assert_eq!(theirs["seat_ids"], json!([]));
    let seats = app
        .get(
            &format!("/api/v1/shows/{}/seats", fx.show),
            Some(&buyer.token),
        )
        .await
        .expect(200);
    let a1 = seats["seats"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["seat_id"] == "A1"))
        .cloned()
        .expect("A1");
    assert_eq!(
        (a1["status"].clone(), a1["mine"].clone()),
        (json!("held"), json!(true))
    );
    assert_eq!(seats["held"], 2);

    // A release, then a sale, then its cancellation.
    app.request(
        reqwest::Method::DELETE,
        "/api/v1/book/reserve",
        Some(&buyer.token),
        Some(json!({ "show_id": fx.show, "seat_ids": ["A2"] })),
    )
    .await
    .expect(200);
    until_status(&app, fx.show, &index, "A2", SeatStatus::Available).await;
    let booked = app
        .client
        .post(app.url("/api/v1/book"))
        .bearer_auth(&buyer.token)
        .header("idempotency-key", "avail-1")
        .json(&json!({ "show_id": fx.show, "seat_ids": ["A1"] }))
        .send()
        .await
        .expect("sent");
    let booked = TestApp::read(booked).await.expect(201);
    let sold = until_status(&app, fx.show, &index, "A1", SeatStatus::Sold).await;
    assert_eq!(sold.body["sections"][0]["sold"], 1);
    app.post(
        &format!("/api/v1/bookings/{}/cancel", booked["booking_id"]),
        Some(&buyer.token),
        json!({}),
    )
    .await
    .expect(200);
    let back = until_status(&app, fx.show, &index, "A1", SeatStatus::Available).await;
    assert!(back.statuses.iter().all(|s| *s == SeatStatus::Available));
}

impl EventStream {
    /// A stream as a browser opens it: the first request on a new connection, which the server
    /// takes over from hyper (`availability::stream::takeover`).
    async fn open(app: &TestApp, show: i64, last_event_id: Option<u64>) -> Self {
        Self::open_as(app, show, last_event_id, None).await
    }

    /// A signed-in stream, which the server answers through its router.
    async fn open_as(
        app: &TestApp,
        show: i64,
        last_event_id: Option<u64>,
        token: Option<&str>,
    ) -> Self {
        // As the web app does: the availability first (which has this node follow the show),
        // then the stream on a connection of its own.
        app.get(&format!("/api/v1/shows/{show}/availability"), None)
            .await
            .expect(200);
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("client");
        let mut req = client.get(app.url(&format!("/api/v1/shows/{show}/seats/stream")));
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id.to_string());
        }
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let res = req.send().await.expect("stream opened");
        assert_eq!(res.status(), 200);
        let header = |name: &str| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        assert_eq!(header("content-type").as_deref(), Some("text/event-stream"));
        assert_eq!(header("cache-control").as_deref(), Some("no-store"));
        assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"));
        assert!(header("x-request-id").is_some());
        // Which path answered: the takeover closes the connection to end its body, the router
        // streams it in chunks on a kept-alive one.
        match token {
            None => assert_eq!(header("connection").as_deref(), Some("close")),
            Some(_) => assert_eq!(header("transfer-encoding").as_deref(), Some("chunked")),
        }
        Self::new(res)
    }
}

async fn an_expiry_is_pushed_to_stream_clients(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    app.patch(
        &format!("/api/v1/shows/{}", fx.show),
        Some(&fx.organiser.token),
        json!({ "hold_seconds": 2 }),
    )
    .await
    .expect(200);
    // The sale settings are cached for a second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_, index) = layout(&app, fx.show).await;
    let mut stream = EventStream::open(&app, fx.show, None).await;
    let (name, snapshot_version, data) =
        stream.next(Duration::from_secs(5)).await.expect("snapshot");
    assert_eq!(name, "snapshot");
    assert_eq!(data["version"], snapshot_version);
    let buyer = app.visitor().await;
    app.reserve(&buyer, fx.show, &["C5"]).await.expect(202);
    let (held_version, held_at) = stream
        .until(index["C5"], "held", Duration::from_secs(3))
        .await;
    assert!(held_version > snapshot_version);
    // Nobody releases it: the expiry itself is pushed, about two seconds later.
    let (expired_version, expired_at) = stream
        .until(index["C5"], "available", Duration::from_secs(5))
        .await;
    assert!(expired_version > held_version);
    let after = expired_at - held_at;
    assert!(
        after >= Duration::from_millis(1500) && after < Duration::from_millis(3500),
        "expired {after:?} after the hold"
    );
}

/// A booking's seats go from held to sold on the stream, never through available; the
/// buyer's holds on them end with the sale, and nobody else can hold them.
async fn a_sale_goes_from_held_to_sold_and_ends_the_buyers_holds(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    let (_, index) = layout(&app, fx.show).await;
    let mut stream = EventStream::open(&app, fx.show, None).await;
    stream.next(Duration::from_secs(5)).await.expect("snapshot");
    let buyer = app.visitor().await;
    app.reserve(&buyer, fx.show, &["B4", "B5", "B6"])
        .await
        .expect(202);
    stream
        .until(index["B6"], "held", Duration::from_secs(3))
        .await;
    let booked = app
        .client
        .post(app.url("/api/v1/book"))
        .bearer_auth(&buyer.token)
        .header("idempotency-key", "held-to-sold")
        .json(&json!({ "show_id": fx.show, "seat_ids": ["B4", "B5"] }))
        .send()
        .await
        .expect("sent");
    TestApp::read(booked).await.expect(201);
    let watched = [index["B4"], index["B5"]];
    let mut sold = Vec::new();
    while sold.len() < watched.len() {
        let (name, _, data) = stream
            .next(Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("no event sold {watched:?}; sold so far {sold:?}"));
        if name != "seats" {
            continue;
        }
        for change in data["changes"].as_array().expect("changes") {
            let seat = change[0].as_u64().expect("index") as usize;
            if watched.contains(&seat) {
                assert_ne!(
                    change[1], "available",
                    "seat {seat} went through available: {data}"
                );
                if change[1] == "sold" {
                    sold.push(seat);
                }
            }
        }
    }
    // The seat held but not booked stays held; the sold ones are no longer the buyer's holds.
    let mine = app.holds_mine(&buyer.token, fx.show).await.expect(200);
    assert_eq!(mine["seat_ids"], json!(["B6"]));
    let other = app.visitor().await;
    app.reserve(&other, fx.show, &["B5"])
        .await
        .expect_error(409, "SEAT_LOCKED");
}

/// The router's stream (signed in) and the taken-over one (a browser's first request) send the
/// same events with the same ids; an unknown show is the router's 404 in the error shape.
async fn a_signed_in_stream_through_the_router_gets_the_same_events(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    let (_, index) = layout(&app, fx.show).await;
    let buyer = app.visitor().await;
    let mut routed = EventStream::open_as(&app, fx.show, None, Some(&buyer.token)).await;
    let mut taken = EventStream::open(&app, fx.show, None).await;
    let (name_a, version_a, snapshot_a) = routed.next(Duration::from_secs(10)).await.expect("a");
    let (name_b, version_b, snapshot_b) = taken.next(Duration::from_secs(10)).await.expect("b");
    assert_eq!((name_a.as_str(), name_b.as_str()), ("snapshot", "snapshot"));
    assert_eq!((version_a, &snapshot_a), (version_b, &snapshot_b));
    app.reserve(&buyer, fx.show, &["B2"]).await.expect(202);
    let (held_a, _) = routed
        .until(index["B2"], "held", Duration::from_secs(10))
        .await;
    let (held_b, _) = taken
        .until(index["B2"], "held", Duration::from_secs(10))
        .await;
    assert_eq!(held_a, held_b);
    // Resuming through the takeover from the routed stream's id: nothing missed, no snapshot.
    let mut resumed = EventStream::open(&app, fx.show, Some(held_a)).await;
    app.reserve(&buyer, fx.show, &["B4"]).await.expect(202);
    let Some((name, _, _)) = resumed.next(Duration::from_secs(10)).await else {
        let now = availability(&app, fx.show).await.version;
        let more = taken.next(Duration::from_secs(1)).await;
        panic!(
            "the resumed stream got no delta: resumed from {held_a}, availability at {now}, \
             the other stream's next event {more:?}, unread {:?}",
            resumed.unread()
        );
    };
    assert_eq!(name, "seats");
    let missing = reqwest::Client::new()
        .get(app.url("/api/v1/shows/987654/seats/stream"))
        .send()
        .await
        .expect("answered");
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.expect("json");
    assert!(body["error_code"].is_string(), "{body}");
}

async fn last_event_id_resumes_with_the_missed_deltas(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    let (_, index) = layout(&app, fx.show).await;
    let mut stream = EventStream::open(&app, fx.show, None).await;
    let (_, version, _) = stream.next(Duration::from_secs(5)).await.expect("snapshot");
    drop(stream);
    // Missed while disconnected.
    let buyer = app.visitor().await;
    app.reserve(&buyer, fx.show, &["B4"]).await.expect(202);
    until_status(&app, fx.show, &index, "B4", SeatStatus::Held).await;
    // The node flushes deltas every 100 ms.
    tokio::time::sleep(Duration::from_millis(250)).await;
    let mut resumed = EventStream::open(&app, fx.show, Some(version)).await;
    let (name, id, data) = resumed
        .next(Duration::from_secs(5))
        .await
        .expect("an event");
    assert_eq!(name, "seats", "{data}");
    assert!(id > version);
    assert!(
        data["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .any(|c| c[0] == index["B4"] && c[1] == "held"),
        "{data}"
    );
    // Up to date: nothing to send at once. Unknown or too old: a snapshot.
    let mut current = EventStream::open(&app, fx.show, Some(id)).await;
    assert!(current.next(Duration::from_millis(500)).await.is_none());
    let mut ancient = EventStream::open(&app, fx.show, Some(1)).await;
    let (name, _, data) = ancient
        .next(Duration::from_secs(5))
        .await
        .expect("snapshot");
    assert_eq!(name, "snapshot");
    let n = data["seat_count"].as_u64().expect("n") as usize;
    let statuses = decode_seats(data["seats"].as_str().expect("seats"), n).expect("decodes");
    assert_eq!(statuses[index["B4"]], SeatStatus::Held);
}

async fn availability_is_corrected_after_the_hold_store_loses_its_holds(backend: Backend) {
    let redis = match backend {
        Backend::Postgres => Some(common::PrivateRedis::start().await),
        Backend::Sqlite => None,
    };
    let url = redis.as_ref().map(|r| r.url.clone());
    let app = TestApp::spawn_with(backend, |c| {
        c.availability_repair_ms = 300;
        if let Some(url) = url {
            c.redis_url = Some(boxoffice::config::DatabaseUrl::new(url));
        }
    })
    .await;
    let fx = app.live_show().await;
    let (_, index) = layout(&app, fx.show).await;
    let buyer = app.visitor().await;
    app.reserve(&buyer, fx.show, &["C1", "C2"])
        .await
        .expect(202);
    until_status(&app, fx.show, &index, "C2", SeatStatus::Held).await;
    match (&app.state.holds, &redis) {
        (HoldStore::Memory(m), _) => m.forget_all(),
        (HoldStore::Redis(_), Some(redis)) => redis.flush_all().await,
        (HoldStore::Redis(_), None) => panic!("a Redis deployment needs its private Redis"),
    }
    let started = Instant::now();
    until_status(&app, fx.show, &index, "C1", SeatStatus::Available).await;
    assert!(started.elapsed() < Duration::from_secs(3));
    // And the feed goes on from there, with versions that still grow.
    let before = availability(&app, fx.show).await.version;
    app.reserve(&buyer, fx.show, &["C3"]).await.expect(202);
    let after = until_status(&app, fx.show, &index, "C3", SeatStatus::Held).await;
    assert!(after.version > before, "{} > {before}", after.version);
}

async fn a_cancelled_show_is_blocked_everywhere(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fx = app.live_show().await;
    let (_, index) = layout(&app, fx.show).await;
    let buyer = app.visitor().await;
    app.reserve(&buyer, fx.show, &["A3"]).await.expect(202);
    until_status(&app, fx.show, &index, "A3", SeatStatus::Held).await;
    app.post(
        &format!("/api/v1/shows/{}/cancel", fx.show),
        Some(&fx.organiser.token),
        json!({}),
    )
    .await
    .expect(200);
    let seats = until_status(&app, fx.show, &index, "C20", SeatStatus::Blocked).await;
    assert!(
        seats.statuses.iter().all(|s| *s == SeatStatus::Blocked),
        "{:?}",
        seats.statuses
    );
}

async fn a_hold_on_one_node_reaches_a_stream_on_another_within_a_second() {
    let a = TestApp::spawn(Backend::Postgres).await;
    let b = a.another_node().await;
    let fx = a.live_show().await;
    let (_, index) = layout(&b, fx.show).await;
    let mut stream = EventStream::open(&b, fx.show, None).await;
    stream.next(Duration::from_secs(5)).await.expect("snapshot");
    let buyer = a.visitor().await;
    let sent = Instant::now();
    a.reserve(&buyer, fx.show, &["C7", "C8"]).await.expect(202);
    let (_, seen) = stream
        .until(index["C8"], "held", Duration::from_secs(1))
        .await;
    assert!(seen - sent < Duration::from_secs(1), "{:?}", seen - sent);
    // And a sale made on B shows on A's snapshot.
    let booked = b
        .client
        .post(b.url("/api/v1/book"))
        .bearer_auth(&buyer.token)
        .header("idempotency-key", "two-nodes")
        .json(&json!({ "show_id": fx.show, "seat_ids": ["C7"] }))
        .send()
        .await
        .expect("sent");
    TestApp::read(booked).await.expect(201);
    until_status(&a, fx.show, &index, "C7", SeatStatus::Sold).await;
}
