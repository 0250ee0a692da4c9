//! A deployment as docs/DEPLOY.md describes it (issue 15): three `boxoffice serve` processes
//! behind a real nginx configured by `deploy/nginx.conf`, on one PostgreSQL, Redis and NATS.
//! Every request goes through the balancer; one node is killed (SIGKILL) mid-journey.

use std::collections::HashSet;
use std::time::Duration;

use boxoffice::availability::live::decode_seats;
use boxoffice::domain::SeatStatus;
use serde_json::{json, Value};

use crate::common::{
    self, Api, Backend, Deployment, EventStream, RedisCluster, Resp, SmtpSink, TestApp, User,
};

/// Retries what a client retries when the balancer answers for a node that just died: 502, 503
/// and 504, with the same request (for a booking, the same `Idempotency-Key`).
async fn through_balancer(api: &Api, send: impl Fn() -> reqwest::RequestBuilder) -> Resp {
    for _ in 0..10 {
        match send().send().await {
            Ok(res) if ![502, 503, 504].contains(&res.status().as_u16()) => {
                return Api::read(res).await
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    panic!("the balancer at {} never answered", api.base);
}

/// Joins the waiting room of `show` and polls until admitted; the pass.
async fn admitted(api: &Api, show: i64, user: &User) -> String {
    through_balancer(api, || {
        api.client
            .post(api.url(&format!("/api/v1/shows/{show}/queue/join")))
            .bearer_auth(&user.token)
            .json(&json!({}))
    })
    .await
    .expect(200);
    for _ in 0..200 {
        let place = through_balancer(api, || {
            api.client
                .get(api.url(&format!("/api/v1/shows/{show}/queue/status")))
                .bearer_auth(&user.token)
        })
        .await
        .expect(200);
        if let Some(pass) = place["pass"].as_str() {
            return pass.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never admitted");
}

/// Holds `seats` with the queue pass.
async fn hold(api: &Api, show: i64, user: &User, pass: &str, seats: &[&str]) {
    let body = json!({ "show_id": show, "seat_ids": seats });
    through_balancer(api, || {
        api.client
            .post(api.url("/api/v1/book/reserve"))
            .bearer_auth(&user.token)
            .header("x-queue-pass", pass)
            .json(&body)
    })
    .await
    .expect(202);
}

/// Books the held `seats` with the queue pass; the booking.
async fn book(api: &Api, show: i64, user: &User, pass: &str, seats: &[&str]) -> Value {
    let body = json!({ "show_id": show, "seat_ids": seats });
    let key = format!("book-{}-{}", user.user_id, seats.join("-"));
    through_balancer(api, || {
        api.client
            .post(api.url("/api/v1/book"))
            .bearer_auth(&user.token)
            .header("x-queue-pass", pass)
            .header("idempotency-key", &key)
            .json(&body)
    })
    .await
    .expect(201)
}

/// Opens the seat stream through the balancer, as the web app does (the availability first).
async fn open_stream(api: &Api, show: i64, last_event_id: Option<u64>) -> EventStream {
    through_balancer(api, || {
        api.client
            .get(api.url(&format!("/api/v1/shows/{show}/availability")))
    })
    .await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    for _ in 0..10 {
        let mut req = client.get(api.url(&format!("/api/v1/shows/{show}/seats/stream")));
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id.to_string());
        }
        if let Ok(res) = req.send().await {
            if res.status() == 200 {
                let kind = res
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                assert_eq!(kind.as_deref(), Some("text/event-stream"));
                return EventStream::new(res);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the stream never opened through the balancer");
}

/// A hold made through the balancer (on whichever node) reaches the stream (on whichever node):
/// waits for an event marking seat `index` held, reopening the stream with `Last-Event-ID` when
/// it ends (its node died). A node that did not follow the show before resumes with a snapshot.
async fn until_held(api: &Api, show: i64, stream: &mut EventStream, last: &mut u64, index: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while tokio::time::Instant::now() < deadline {
        match stream.next(Duration::from_secs(3)).await {
            Some((name, id, data)) => {
                *last = (*last).max(id);
                let held = match name.as_str() {
                    "seats" => data["changes"].as_array().is_some_and(|changes| {
                        changes.iter().any(|c| c[0] == index && c[1] == "held")
                    }),
                    "snapshot" => {
                        let count = data["seat_count"].as_u64().expect("seat_count");
                        let seats = decode_seats(
                            data["seats"].as_str().expect("seats"),
                            usize::try_from(count).expect("count"),
                        )
                        .expect("decodes");
                        seats[index] == SeatStatus::Held
                    }
                    _ => false,
                };
                if held {
                    return;
                }
            }
            None => *stream = open_stream(api, show, Some(*last)).await,
        }
    }
    panic!("seat {index} was never seen held on the stream");
}

/// The seat map's index of `label`.
async fn seat_index(api: &Api, show: i64, label: &str) -> usize {
    let layout = api
        .get(&format!("/api/v1/shows/{show}/layout"), None)
        .await
        .expect(200);
    common::layout_indexes(&layout)[label]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_node_processes_behind_nginx_are_one_system_and_lose_nothing_when_one_dies() {
    let sink = SmtpSink::start().await;
    let mut deployment = Deployment::start(3, &sink.url).await;
    let api = Api::new(deployment.base());

    let fx = api.live_show().await;
    let show = fx.show;
    api.patch(
        &format!("/api/v1/shows/{show}"),
        Some(&fx.organiser.token),
        json!({ "queue": { "enabled": true, "admit_per_minute": 6000 } }),
    )
    .await
    .expect(200);
    let a1 = seat_index(&api, show, "A1").await;
    let c1 = seat_index(&api, show, "C1").await;
    let mut stream = open_stream(&api, show, None).await;
    let mut last = 0;

    // Before: three buyers through the balancer, so through every node in turn.
    let mut bookings: Vec<(User, Value)> = Vec::new();
    for (i, seats) in [["A1", "A2"], ["A3", "A4"], ["B1", "B2"]]
        .iter()
        .enumerate()
    {
        let buyer = api.visitor().await;
        let pass = admitted(&api, show, &buyer).await;
        hold(&api, show, &buyer, &pass, seats).await;
        if i == 0 {
            until_held(&api, show, &mut stream, &mut last, a1).await;
        }
        bookings.push((buyer.clone(), book(&api, show, &buyer, &pass, seats).await));
    }

    // A node dies at once: no graceful shutdown, whatever it had claimed or fetched unfinished.
    deployment.nodes[0].kill();

    // After: joins, admissions, holds and bookings go on through the other two.
    let mut late = Vec::new();
    for seats in [["C5", "C6"], ["C1", "C2"], ["C3", "C4"]] {
        let buyer = api.visitor().await;
        let pass = admitted(&api, show, &buyer).await;
        hold(&api, show, &buyer, &pass, &seats).await;
        if seats[0] == "C1" {
            until_held(&api, show, &mut stream, &mut last, c1).await;
        }
        late.push((buyer.clone(), book(&api, show, &buyer, &pass, &seats).await));
    }
    // A seat taken before the kill is still taken.
    let (first_buyer, first_booking) = &bookings[0];
    let rival = api.visitor().await;
    let rival_pass = admitted(&api, show, &rival).await;
    through_balancer(&api, || {
        api.client
            .post(api.url("/api/v1/book/reserve"))
            .bearer_auth(&rival.token)
            .header("x-queue-pass", &rival_pass)
            .json(&json!({ "show_id": show, "seat_ids": ["A1"] }))
    })
    .await
    .expect(409);
    // A replay of a booking made before the kill answers the same booking.
    let first_pass = admitted(&api, show, first_buyer).await;
    let replay = through_balancer(&api, || {
        api.client
            .post(api.url("/api/v1/book"))
            .bearer_auth(&first_buyer.token)
            .header("x-queue-pass", &first_pass)
            .header(
                "idempotency-key",
                format!("book-{}-A1-A2", first_buyer.user_id),
            )
            .json(&json!({ "show_id": show, "seat_ids": ["A1", "A2"] }))
    })
    .await;
    assert!(replay.status.is_success(), "{}", replay.body);
    assert_eq!(replay.body["booking_id"], first_booking["booking_id"]);
    bookings.extend(late);

    // Nothing lost: every booking gets its signed ticket codes and its email from the surviving
    // nodes (what the dead node had fetched and not acknowledged comes back after the stream's
    // ack wait, 30 s).
    for (buyer, booked) in &bookings {
        let id = booked["booking_id"].as_i64().expect("booking id");
        let signed = common::eventually(Duration::from_secs(60), || async {
            let booking = api
                .get(&format!("/api/v1/bookings/{id}"), Some(&buyer.token))
                .await
                .expect(200);
            let tickets = booking["tickets"].as_array().cloned().unwrap_or_default();
            (tickets.len() == 2 && tickets.iter().all(|t| t["code"].is_string())).then_some(())
        })
        .await;
        assert!(signed.is_some(), "booking {id} never got its ticket codes");
    }
    let emailed = common::eventually(Duration::from_secs(60), || async {
        let to: HashSet<String> = sink.messages().into_iter().flat_map(|m| m.to).collect();
        bookings
            .iter()
            .all(|(buyer, _)| to.contains(&buyer.email))
            .then_some(())
    })
    .await;
    assert!(emailed.is_some(), "a confirmation email never went out");

    // The database agrees: six bookings, twelve seats sold, twelve tickets, six captured
    // payments, every outbox row published.
    let pool = sqlx::PgPool::connect(&deployment.database.url)
        .await
        .expect("database");
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
        }
    };
    assert_eq!(
        count("SELECT count(*) FROM bookings WHERE status = 'confirmed'").await,
        6
    );
    assert_eq!(
        count("SELECT count(*) FROM inventory WHERE status = 'sold'").await,
        12
    );
    assert_eq!(
        count("SELECT count(*) FROM tickets WHERE status = 'valid'").await,
        12
    );
    assert_eq!(
        count("SELECT count(*) FROM payments WHERE status = 'captured'").await,
        6
    );
    // A row the dead node claimed, and perhaps published before it died without marking it,
    // is taken over by a survivor only when the claim's 30 s lease ends (`events::LEASE`).
    // The emails can all be out well before that (a survivor consumed what the dead node had
    // published), so this wait alone covers the whole lease, and then some.
    let unpublished = common::eventually(Duration::from_secs(45), || {
        let count = count("SELECT count(*) FROM outbox WHERE published_at IS NULL");
        async move { (count.await == 0).then_some(()) }
    })
    .await;
    assert!(unpublished.is_some(), "outbox rows left unpublished");
    pool.close().await;
}

/// Reads a response body until it ends or `within` passes; the text and whether it ended.
async fn read_until_end(mut res: reqwest::Response, within: Duration) -> (String, bool) {
    let deadline = tokio::time::Instant::now() + within;
    let mut text = String::new();
    loop {
        match tokio::time::timeout_at(deadline, res.chunk()).await {
            Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            Ok(Ok(None) | Err(_)) => return (text, true),
            Err(_) => return (text, false),
        }
    }
}

/// SIGTERM, as an orchestrator stops a node: it stops accepting connections, finishes the
/// booking in flight, tells its stream clients when to reconnect and ends their streams,
/// publishes the outbox rows committed meanwhile (the relay's last flush) and exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_booking_in_flight_ends_streams_with_a_hint_and_flushes_the_relay() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let sink = SmtpSink::start().await;
    let mut deployment = Deployment::without_balancer(1, &sink.url).await;
    let port = deployment.nodes[0].port;
    let api = Api::new(deployment.nodes[0].base());
    let fx = api.live_show().await;
    let buyer = api.visitor().await;
    api.reserve(&buyer, fx.show, &["A1", "A2"])
        .await
        .expect(202);

    // A stream client, on a connection of its own.
    api.get(&format!("/api/v1/shows/{}/availability", fx.show), None)
        .await
        .expect(200);
    let stream = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
        .get(api.url(&format!("/api/v1/shows/{}/seats/stream", fx.show)))
        .send()
        .await
        .expect("stream");
    assert_eq!(stream.status(), 200);
    let reading = tokio::spawn(read_until_end(stream, Duration::from_secs(15)));

    // A booking whose body is still arriving when SIGTERM comes.
    let body = json!({ "show_id": fx.show, "seat_ids": ["A1", "A2"] }).to_string();
    let (head, tail) = body.split_at(12);
    let mut booking = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let request = format!(
        "POST /api/v1/book HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\nidempotency-key: k-term\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{head}",
        buyer.token,
        body.len()
    );
    booking
        .write_all(request.as_bytes())
        .await
        .expect("write head");
    tokio::time::sleep(Duration::from_millis(300)).await;
    deployment.nodes[0].terminate();

    // It stops accepting at once, while the booking is still in flight.
    let closed = common::eventually(Duration::from_secs(5), || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
            .then_some(())
    })
    .await;
    assert!(
        closed.is_some(),
        "still accepting connections after SIGTERM"
    );
    booking
        .write_all(tail.as_bytes())
        .await
        .expect("write tail");
    let mut response = String::new();
    booking.read_to_string(&mut response).await.expect("read");
    assert!(
        response.starts_with("HTTP/1.1 201"),
        "the booking in flight completed: {response}"
    );

    // The stream ended with a reconnection hint after the opening one.
    let (text, ended) = reading.await.expect("join");
    assert!(ended, "the stream never ended: {text}");
    let retries: Vec<&str> = text.lines().filter(|l| l.starts_with("retry: ")).collect();
    assert_eq!(retries.len(), 2, "{text}");
    assert!(text.contains(": node stopping"), "{text}");

    let status = deployment.nodes[0]
        .exited(Duration::from_secs(15))
        .await
        .expect("the node exits after SIGTERM");
    assert!(status.success(), "{status:?}");

    // The booking's events were published before the node exited: nothing waits for another
    // node or a restart.
    let pool = sqlx::PgPool::connect(&deployment.database.url)
        .await
        .expect("database");
    let (booked, unpublished): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM bookings WHERE status = 'confirmed'), \
                (SELECT count(*) FROM outbox WHERE published_at IS NULL)",
    )
    .fetch_one(&pool)
    .await
    .expect("counts");
    assert_eq!((booked, unpublished), (1, 0));
    pool.close().await;
}

/// The master of `cluster` holding `key`: the one that answers for it (the others redirect).
async fn master_of(cluster: &RedisCluster, key: &str) -> u16 {
    for port in &cluster.ports {
        let answer: redis::RedisResult<i64> = redis::cmd("EXISTS")
            .arg(key)
            .query_async(&mut cluster.node(*port).await)
            .await;
        if answer == Ok(1) {
            return *port;
        }
    }
    panic!("no master holds {key}");
}

/// Redis Cluster for real (issue 15): two nodes of a PostgreSQL deployment whose `REDIS_URL`
/// is `redis+cluster://` and a real three-master cluster. Shows whose keys land on each of the
/// three masters take holds, refuse rivals, stream their changes from one node to the other,
/// keep a waiting room and book; a rate limit is shared between the nodes through the cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_cluster_serves_holds_the_waiting_room_limits_and_the_live_map_on_every_master() {
    let cluster = RedisCluster::start().await;
    let url = cluster.url();
    let a = TestApp::spawn_with(Backend::Postgres, |c| {
        c.redis_url = Some(boxoffice::config::DatabaseUrl::new(url));
        let mut limits = boxoffice::limits::RateLimitConfig::defaults();
        limits.limit_register_ip = 100_000;
        limits.limit_login_ip = 100_000;
        c.rate_limits = limits;
    })
    .await;
    let b = a.another_node().await;
    let prefix = a.redis_prefix.clone().expect("a Redis deployment");

    let owner = a.venue_owner().await;
    let organiser = a.organiser().await;
    let venue = a
        .venue(&owner, common::small_venue_body("Cluster Hall", "Pune"))
        .await;
    let event = a.event(&organiser, "Cluster Night", "concert").await;
    let mut masters = HashSet::new();
    for day in 3..40 {
        if masters.len() == cluster.ports.len() {
            break;
        }
        let show = a.show(&organiser, event, venue, day).await;
        a.launch(&organiser, show).await;
        let mut stream = open_stream(&b.api, show, None).await;
        let mut last = 0;
        let a1 = seat_index(&a.api, show, "A1").await;
        let buyer = a.visitor().await;
        let rival = a.visitor().await;

        // A hold on node a, on whichever master owns the show, reaches the stream on node b.
        a.reserve(&buyer, show, &["A1", "A2"]).await.expect(202);
        until_held(&b.api, show, &mut stream, &mut last, a1).await;
        b.reserve(&rival, show, &["A2", "A3"])
            .await
            .expect_error(409, "SEAT_LOCKED");
        let mine = b.holds_mine(&buyer.token, show).await.expect(200);
        assert_eq!(mine["seat_ids"], json!(["A1", "A2"]), "{mine}");
        b.get(&format!("/api/v1/shows/{show}/availability"), None)
            .await
            .expect(200);
        b.book(&buyer, show, &["A1", "A2"], &format!("k-{show}"))
            .await
            .expect(201);
        let master = master_of(&cluster, &format!("{{{prefix}:{show}}}:ver")).await;

        // A waiting room on the first show of each master: joined on one node, admitted and
        // read on the other, its pass good on both.
        if masters.insert(master) {
            a.patch(
                &format!("/api/v1/shows/{show}"),
                Some(&organiser.token),
                json!({ "queue": { "enabled": true, "admit_per_minute": 6000 } }),
            )
            .await
            .expect(200);
            // Node b sees the change once its cached sale settings expire.
            tokio::time::sleep(boxoffice::inventory::SHOW_CACHE_TTL).await;
            let fan = a.visitor().await;
            a.post(
                &format!("/api/v1/shows/{show}/queue/join"),
                Some(&fan.token),
                json!({}),
            )
            .await
            .expect(200);
            let pass = admitted(&b.api, show, &fan).await;
            let held = a
                .client
                .post(a.url("/api/v1/book/reserve"))
                .bearer_auth(&fan.token)
                .header("x-queue-pass", &pass)
                .json(&json!({ "show_id": show, "seat_ids": ["C1"] }))
                .send()
                .await
                .expect("reserve");
            assert_eq!(held.status(), 202);
        }
    }
    assert_eq!(
        masters.len(),
        cluster.ports.len(),
        "shows never landed on every master"
    );

    // One account's logins, alternating between the nodes, share one bucket in the cluster: a
    // burst of 3 (its sign-up's login on node a and two failures), not 3 on each node.
    let target = a.visitor().await;
    let mut refused_at = None;
    for attempt in 1..=6 {
        let node = if attempt % 2 == 0 { &b } else { &a };
        let res = node
            .post(
                "/api/v1/auth/login",
                None,
                json!({ "email": target.email, "password": "wrong password" }),
            )
            .await;
        if res.status == 429 {
            refused_at = Some(attempt);
            break;
        }
        assert_eq!(res.status, 401, "{}", res.body);
    }
    assert_eq!(refused_at, Some(3), "the login limit was not shared");
    b.stop().await;
    a.stop().await;
}
