//! Health, readiness, request ids, graceful shutdown, demo data and the CLI.

use crate::common;

use std::time::Duration;

use common::{Backend, TestApp};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

both_backends!(
    health_and_readiness,
    request_ids_are_set_and_propagated,
    in_flight_requests_finish_on_shutdown,
    demo_data_has_the_seed_examples,
    cli_migrate_seed_and_admin_create,
    metrics_describe_requests_by_route_and_the_sales,
);

async fn health_and_readiness(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(
        app.get("/healthz", None).await.expect(200),
        json!({ "status": "ok" })
    );
    let ready = app.get("/readyz", None).await.expect(200);
    assert_eq!(ready["status"], "ready");
    let expected = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(ready["checks"]["database"]["backend"], expected);
    assert_eq!(ready["checks"]["database"]["status"], "ok");
}

async fn request_ids_are_set_and_propagated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app.get("/healthz", None).await;
    assert!(res.header("x-request-id").is_some_and(|id| id.len() >= 32));
    let res = app
        .client
        .get(app.url("/api/v1/shows"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .expect("sent");
    assert_eq!(res.headers()["x-request-id"], "trace-me-123");
}

/// A request whose body is still arriving when SIGTERM-equivalent shutdown begins completes.
async fn in_flight_requests_finish_on_shutdown(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({ "email": format!("late{}@example.com", common::unique()), "password": "long enough", "name": "Late" }).to_string();
    let (head, tail) = body.split_at(10);
    let mut stream = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    let request = format!(
        "POST /api/v1/auth/register HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{head}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write head");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let addr = app.addr;
    let stopping = tokio::spawn(app.stop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    stream.write_all(tail.as_bytes()).await.expect("write tail");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    assert!(
        response.starts_with("HTTP/1.1 201"),
        "in-flight request completed: {response}"
    );
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("shutdown finishes")
        .expect("join");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}

async fn demo_data_has_the_seed_examples(backend: Backend) {
    // The embedded default loads it unless `--no-demo`; PostgreSQL only when asked.
    let app = TestApp::spawn_with(backend, |c| {
        c.no_demo = false;
        c.demo = backend == Backend::Postgres;
    })
    .await;
    let shows = app
        .get("/api/v1/shows?per_page=100", None)
        .await
        .expect(200);
    let shows = shows.as_array().expect("array");
    let pushpa = shows
        .iter()
        .find(|s| {
            s["title"] == "Pushpa 2: The Rule" && s["venue_name"] == "PVR: Phoenix Marketcity"
        })
        .expect("the seed's Pushpa show");
    assert_eq!(pushpa["category"], "movie");
    assert_eq!(pushpa["city"], "Bangalore");
    assert_eq!(pushpa["min_price"], 250);
    let detail = app
        .get(&format!("/api/v1/shows/{}", pushpa["show_id"]), None)
        .await
        .expect(200);
    let price = |name: &str| {
        detail["sections"]
            .as_array()
            .expect("sections")
            .iter()
            .find(|s| s["name"] == name)
            .map(|s| s["price"].clone())
    };
    assert_eq!(
        price("Recliner"),
        Some(json!(650)),
        "the best seats cost most"
    );
    assert_eq!(price("Classic"), Some(json!(250)));
    assert_eq!(pushpa["currency"], "INR");
    assert!(pushpa["start_time"]
        .as_str()
        .is_some_and(|t| t.ends_with("T18:30:00+05:30")));
    let arijit = shows
        .iter()
        .find(|s| s["title"] == "Arijit Singh Live" && s["venue_name"] == "INOX: Orion Mall")
        .expect("the seed's Arijit show");
    assert_eq!(arijit["category"], "concert");
    assert_eq!(arijit["min_price"], 450);
    let mut cities: Vec<&str> = shows.iter().filter_map(|s| s["city"].as_str()).collect();
    cities.sort();
    cities.dedup();
    assert_eq!(cities, ["Bangalore", "Delhi", "Mumbai"]);

    let venues = app.get("/api/v1/venues", None).await.expect(200);
    let mut sizes: Vec<i64> = venues
        .as_array()
        .expect("venues")
        .iter()
        .filter_map(|v| v["seat_count"].as_i64())
        .collect();
    sizes.sort();
    sizes.dedup();
    assert_eq!(sizes, [200, 2_000, 40_000]);

    for (email, password, _, _) in boxoffice::demo::ACCOUNTS {
        app.post(
            "/api/v1/auth/login",
            None,
            json!({ "email": email, "password": password }),
        )
        .await
        .expect(200);
    }
}

/// A production node (PostgreSQL) with default settings never loads the demo accounts and
/// their published passwords; `--demo` / `BOXOFFICE_DEMO` does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_loads_demo_data_only_when_asked() {
    let (email, password, _, _) = boxoffice::demo::ACCOUNTS[1];
    let login = json!({ "email": email, "password": password });
    let app = TestApp::spawn_with(Backend::Postgres, |c| c.no_demo = false).await;
    app.post("/api/v1/auth/login", None, login.clone())
        .await
        .expect_error(401, "UNAUTHORIZED");
    assert_eq!(
        app.get("/api/v1/shows", None).await.expect(200),
        json!([]),
        "no demo shows"
    );
    assert!(!boxoffice::demo::present(&app.state.db)
        .await
        .expect("query"));
    app.stop().await;

    let app = TestApp::spawn_with(Backend::Postgres, |c| c.demo = true).await;
    app.post("/api/v1/auth/login", None, login)
        .await
        .expect(200);
}

fn cli(app: &TestApp, args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_boxoffice"));
    cmd.args(args)
        .env_remove("DATABASE_URL")
        .env("BOXOFFICE_DATA_DIR", app.data_dir.path())
        .env("RUST_LOG", "warn");
    if let Some(url) = &app.database_url {
        cmd.env("DATABASE_URL", url);
    }
    cmd.output().expect("run boxoffice")
}

async fn cli_migrate_seed_and_admin_create(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let out = cli(&app, &["migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for _ in 0..2 {
        let out = cli(&app, &["seed", "--demo"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let shows = app
        .get("/api/v1/shows?cat=concert&city=Bangalore", None)
        .await
        .expect(200);
    assert_eq!(
        shows.as_array().map(Vec::len),
        Some(1),
        "seeding twice loads once: {shows}"
    );

    let out = cli(
        &app,
        &[
            "admin",
            "create",
            "--email",
            "root@example.com",
            "--password",
            "a-long-admin-password",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains("a-long-admin-password"),
        "the password is never printed"
    );
    let tokens = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({ "email": "root@example.com", "password": "a-long-admin-password" }),
        )
        .await
        .expect(200);
    let me = app
        .get("/api/v1/me", tokens["access_token"].as_str())
        .await
        .expect(200);
    assert!(me["roles"]
        .as_array()
        .expect("roles")
        .contains(&json!("admin")));
    let out = cli(
        &app,
        &[
            "admin",
            "create",
            "--email",
            "x@example.com",
            "--password",
            "short",
        ],
    );
    assert!(!out.status.success());
}

// The server's own bounds do not depend on the backend: these run on the embedded default.

/// Reads until the peer closes or `within` passes; returns what was read and whether it closed.
async fn read_until_closed(stream: &mut tokio::net::TcpStream, within: Duration) -> (String, bool) {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&seen).into_owned(), true),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&seen).into_owned(), false),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_slow_and_idle_connections_are_closed() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.header_timeout_ms = 400;
        c.body_timeout_ms = 400;
    })
    .await;
    // Silent: connects and sends nothing.
    let mut silent = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    // Partial head: never finishes its headers.
    let mut partial = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    partial
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
        .await
        .expect("write");
    // Idle keep-alive: one request answered, then nothing.
    let mut idle = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("write");
    // Partial body: promises 100 bytes, sends 10.
    let mut slow_body = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    slow_body
        .write_all(
            b"POST /api/v1/auth/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"email\":",
        )
        .await
        .expect("write");
    let within = Duration::from_secs(5);
    let (_, closed) = read_until_closed(&mut silent, within).await;
    assert!(closed, "a silent connection is closed");
    let (_, closed) = read_until_closed(&mut partial, within).await;
    assert!(
        closed,
        "a connection that never finishes its head is closed"
    );
    let (seen, closed) = read_until_closed(&mut idle, within).await;
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    assert!(closed, "an idle keep-alive connection is closed");
    let (seen, _) = read_until_closed(&mut slow_body, within).await;
    assert!(seen.starts_with("HTTP/1.1 408"), "{seen}");
    assert!(
        seen.contains("\"error_code\":\"REQUEST_TIMEOUT\""),
        "{seen}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_silent_connections_leaves_health_answering() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut flood = Vec::new();
    for _ in 0..1100 {
        flood.push(
            tokio::net::TcpStream::connect(app.addr)
                .await
                .expect("connect"),
        );
    }
    for _ in 0..5 {
        let res = tokio::time::timeout(Duration::from_secs(3), app.get("/healthz", None))
            .await
            .expect("health answers under the flood");
        res.expect(200);
    }
    drop(flood);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_get_a_quick_503() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.max_connections = 20;
        c.header_timeout_ms = 1_500;
    })
    .await;
    // More than the cap, whatever the test client's pool already holds.
    let mut held = Vec::new();
    for _ in 0..25 {
        held.push(
            tokio::net::TcpStream::connect(app.addr)
                .await
                .expect("connect"),
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let fresh = reqwest::Client::new();
    let started = std::time::Instant::now();
    let res = fresh
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("answered");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(
        res.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    TestApp::read(res)
        .await
        .expect_error(503, "SERVICE_UNAVAILABLE");
    // Once the silent ones time out, the slots are free again.
    let back = common::eventually(Duration::from_secs(5), || async {
        let res = reqwest::Client::new()
            .get(app.url("/healthz"))
            .send()
            .await
            .ok()?;
        (res.status() == 200).then_some(())
    })
    .await;
    assert!(
        back.is_some(),
        "health answers once the silent connections are closed"
    );
    drop(held);
}

#[test]
fn serve_raises_the_soft_open_files_limit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = format!(
        "ulimit -Sn 1024 && exec {} serve --bind 127.0.0.1:0 --no-demo --data-dir {}",
        env!("CARGO_BIN_EXE_boxoffice"),
        dir.path().display()
    );
    let mut child = std::process::Command::new("bash")
        .args(["-c", &script])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("boxoffice starts");
    let mut line = String::new();
    let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    use std::io::BufRead;
    while !line.contains("running") {
        line.clear();
        if out.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
    }
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id()))
        .expect("limits of the server");
    let _ = child.kill();
    let _ = child.wait();
    let soft: u64 = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse().ok())
        .expect("open files line");
    let hard = rlimit_hard();
    assert!(line.contains("running"), "server started: {line}");
    assert_eq!(soft, hard, "soft limit raised from 1024 to the hard limit");
}

fn rlimit_hard() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").expect("own limits");
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(4))
        .and_then(|n| n.parse().ok())
        .expect("hard limit")
}

/// A node on PostgreSQL whose connections carry `application_name = tag`, so a test can
/// terminate them all.
async fn spawn_named(tag: &str) -> TestApp {
    let app_name = tag.to_owned();
    TestApp::spawn_with(Backend::Postgres, move |c| {
        let url = c
            .storage
            .database_url
            .as_ref()
            .expect("pg")
            .expose()
            .to_owned();
        let sep = if url.contains('?') { '&' } else { '?' };
        c.storage.database_url = Some(boxoffice::config::DatabaseUrl::new(format!(
            "{url}{sep}application_name={app_name}"
        )));
    })
    .await
}

/// Terminates every connection named `tag` ([`spawn_named`]); how many there were.
async fn terminate_named(admin: &mut sqlx::PgConnection, tag: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE application_name = $1) t",
    )
    .bind(tag)
    .fetch_one(admin)
    .await
    .expect("terminate")
}

/// PostgreSQL connections terminated under load (`pg_terminate_backend`, as on a failover or a
/// restarted database): every answer is a success or a 503 with `Retry-After`, never a 500, and
/// service goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_database_connections_are_503_never_500() {
    let tag = format!("bo_{}", common::unique());
    let app = spawn_named(&tag).await;
    let fx = app.live_show().await;
    let users = app.quick_users(4).await;
    let admin = common::admin_database_url();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let killer = {
        let (stop, tag) = (stop.clone(), tag.clone());
        tokio::spawn(async move {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&admin).await.expect("admin");
            let mut killed = 0_i64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                killed += terminate_named(&mut conn, &tag).await;
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            killed
        })
    };
    let mut seen = std::collections::BTreeMap::<u16, usize>::new();
    for round in 0..40 {
        let user = &users[round % users.len()];
        let seat = format!("C{}", round % 20 + 1);
        let answers = [
            app.get(&format!("/api/v1/shows/{}", fx.show), None).await,
            app.get("/api/v1/me", Some(&user.token)).await,
            app.post(
                "/api/v1/book/reserve",
                Some(&user.token),
                json!({ "show_id": fx.show, "seat_ids": [seat] }),
            )
            .await,
            app.get("/api/v1/bookings", Some(&user.token)).await,
        ];
        for res in answers {
            let status = res.status.as_u16();
            *seen.entry(status).or_default() += 1;
            assert_ne!(
                status, 500,
                "a lost connection is never a 500: {}",
                res.body
            );
            if status == 503 {
                assert!(res.header("retry-after").is_some(), "{:?}", res.headers);
                assert_eq!(res.body["error_code"], "SERVICE_UNAVAILABLE");
            }
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let killed = killer.await.expect("killer");
    assert!(killed > 0, "connections were terminated");
    eprintln!("answers under terminations: {seen:?}, {killed} connections terminated");
    // Once the terminations stop, everything answers again.
    let back = common::eventually(Duration::from_secs(10), || async {
        (app.get(&format!("/api/v1/shows/{}", fx.show), None)
            .await
            .status
            == 200)
            .then_some(())
    })
    .await;
    assert!(back.is_some(), "service resumes; answers were {seen:?}");
    let ready = app.get("/readyz", None).await.expect(200);
    assert_eq!(ready["checks"]["database"]["status"], "ok");
}

/// Connections terminated while the node was idle (a restarted database) are replaced without
/// a single failed answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_lost_while_idle_are_replaced_before_use() {
    let tag = format!("bo_{}", common::unique());
    let app = spawn_named(&tag).await;
    let fx = app.live_show().await;
    let users = app.quick_users(2).await;
    // Several connections in the pool, all used.
    let reads = (0..8).map(|i| {
        let token = users[i % 2].token.clone();
        let app = &app;
        async move { app.get("/api/v1/bookings", Some(&token)).await.expect(200) }
    });
    futures::future::join_all(reads).await;
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(&common::admin_database_url())
        .await
        .expect("admin");
    let killed = terminate_named(&mut admin, &tag).await;
    assert!(
        killed >= 2,
        "the node's connections were terminated ({killed})"
    );
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    for round in 0..12 {
        let user = &users[round % 2];
        app.get(&format!("/api/v1/shows/{}", fx.show), None)
            .await
            .expect(200);
        app.get("/api/v1/bookings", Some(&user.token))
            .await
            .expect(200);
    }
}

/// Logs written to a file or a collector carry no colour codes; the JSON format is one JSON
/// object a line.
#[test]
fn logs_into_a_pipe_have_no_colour_codes_and_json_is_one_object_a_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = |format: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_boxoffice"))
            .arg("migrate")
            .env_remove("DATABASE_URL")
            .env("BOXOFFICE_DATA_DIR", dir.path())
            .env("BOXOFFICE_LOG_FORMAT", format)
            .env("RUST_LOG", "debug")
            .output()
            .expect("run boxoffice");
        assert!(out.status.success());
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let text = run("text");
    assert!(text.contains("DEBUG"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "colour codes in piped logs: {text}"
    );
    let json = run("json");
    let lines: Vec<&str> = json.lines().filter(|l| l.starts_with('{')).collect();
    assert!(!lines.is_empty(), "{json}");
    for line in lines {
        let entry: serde_json::Value = serde_json::from_str(line).expect("a JSON log line");
        assert!(entry["level"].is_string() && entry["timestamp"].is_string());
    }
}

/// The access log: one JSON line a request, with its route template, status, latency, request
/// id and, for a signed-in caller, the user id; never the token.
#[tokio::test]
async fn json_logs_name_route_status_latency_request_and_user() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = common::free_port();
    let mut node = std::process::Command::new(env!("CARGO_BIN_EXE_boxoffice"))
        .args(["serve", "--no-demo", "--rate-limits", "false", "--bind"])
        .arg(format!("127.0.0.1:{port}"))
        .env_remove("DATABASE_URL")
        .env("BOXOFFICE_DATA_DIR", dir.path())
        .env("BOXOFFICE_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start boxoffice");
    assert!(common::wait_for_port(port).await, "the node listens");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let email = format!("log{}@example.com", common::unique());
    let signed_up = http
        .post(format!("{base}/api/v1/auth/register"))
        .json(&json!({ "email": email, "password": common::PASSWORD, "name": "Log" }))
        .send()
        .await
        .expect("register");
    assert_eq!(signed_up.status(), 201);
    let user: serde_json::Value = signed_up.json().await.expect("user");
    let user_id = user["user_id"].as_i64().expect("user id");
    let tokens: serde_json::Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({ "email": email, "password": common::PASSWORD }))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("tokens");
    let token = tokens["access_token"].as_str().expect("token").to_owned();
    let mine = http
        .get(format!("{base}/api/v1/bookings"))
        .bearer_auth(&token)
        .header("x-request-id", "log-me-42")
        .send()
        .await
        .expect("bookings");
    assert_eq!(mine.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = node.kill();
    let out = node.wait_with_output().expect("output");
    let logs = String::from_utf8(out.stdout).expect("utf-8");
    assert!(!logs.contains(&token), "a token in the logs");
    let line = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["span"]["request_id"] == "log-me-42" && l["fields"]["status"].is_number())
        .unwrap_or_else(|| panic!("no access log line for the request: {logs}"));
    assert_eq!(line["span"]["route"], "/api/v1/bookings");
    assert_eq!(line["span"]["method"], "GET");
    assert_eq!(line["span"]["user_id"], user_id);
    assert_eq!(line["fields"]["status"], 200);
    // "<n> μs", tower-http's microseconds.
    let latency = line["fields"]["latency"].as_str().expect("latency");
    assert!(
        latency
            .split(' ')
            .next()
            .is_some_and(|n| n.parse::<u64>().is_ok())
            && latency.ends_with('s')
            && !latency.ends_with(" ms"),
        "{latency}"
    );
}

/// With `--metrics-bind`, `/metrics` answers on that address alone, not beside the API.
#[tokio::test]
async fn metrics_can_have_an_address_of_their_own() {
    let port = common::free_port();
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.metrics_bind = Some(([127, 0, 0, 1], port).into());
    })
    .await;
    app.get("/healthz", None).await.expect(200);
    app.get("/metrics", None)
        .await
        .expect_error(404, "NOT_FOUND");
    let res = app
        .client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .expect("scraped");
    assert_eq!(res.status(), 200);
    let text = res.text().await.expect("text");
    assert!(text.contains("route=\"/healthz\""), "{text}");
    app.stop().await;
    let gone = tokio::net::TcpStream::connect(("127.0.0.1", port)).await;
    assert!(
        gone.is_err(),
        "the metrics address still answers after shutdown"
    );
}

/// `GET /metrics` as Prometheus reads it: its content type and its text.
async fn scrape(app: &TestApp) -> String {
    let res = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("scraped");
    assert_eq!(res.status(), 200);
    let kind = res.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    res.text().await.expect("text")
}

/// The sum of the samples of every series whose name and labels start with `series`.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#') && l.starts_with(series))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Request durations by route template (never the raw path), and the sales counted where they
/// happen. Tests share the process's recorder, so the counts are compared as at least what this
/// test did.
async fn metrics_describe_requests_by_route_and_the_sales(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fixture = app.live_show().await;
    let show = fixture.show;
    let (buyer, other) = (app.buyer().await, app.buyer().await);
    let before = scrape(&app).await;
    app.hold_then_book(&buyer, show, &["C1", "C2"], &common::unique())
        .await;
    assert_eq!(app.reserve(&other, show, &["C2"]).await.status, 409);
    app.get(&format!("/api/v1/shows/{show}/layout"), None)
        .await
        .expect(200);
    app.get("/no/such/route", None).await.expect(404);
    let after = scrape(&app).await;

    let grew = |series: &str| sample(&after, series) - sample(&before, series);
    assert!(grew("boxoffice_bookings_total") >= 1.0, "{after}");
    assert!(grew("boxoffice_seats_sold_total") >= 2.0, "{after}");
    assert!(grew("boxoffice_holds_total{outcome=\"granted\"}") >= 1.0);
    assert!(grew("boxoffice_holds_total{outcome=\"locked\"}") >= 1.0);
    assert!(grew("boxoffice_payments_total{outcome=\"authorized\"}") >= 1.0);
    assert!(
        grew("http_server_request_duration_seconds_count{method=\"POST\",route=\"/api/v1/book\",status=\"201\"}")
            >= 1.0
    );
    assert!(after.contains("# TYPE http_server_request_duration_seconds histogram"));
    assert!(after.contains(
        "http_server_request_duration_seconds_bucket{method=\"GET\",route=\"/api/v1/shows/{show_id}/layout\",status=\"200\",le=\"0.005\"}"
    ));
    assert!(after.contains("route=\"unmatched\",status=\"404\""));
    assert!(!after.contains(&format!("/api/v1/shows/{show}/layout")));
    assert!(after.contains("boxoffice_db_pool_connections{pool=\"write\",state=\"in_use\"}"));
    assert!(after.contains("boxoffice_outbox_unpublished "));
    assert!(after.contains("boxoffice_stream_clients "));
    // No secret or personal data: not a token, not an email address.
    assert!(!after.contains(&buyer.token));
    assert!(!after.contains('@'));

    // A hold that runs out is counted once; a waiting room says how many wait and were let in;
    // the search index says when it last caught up.
    let expired_before = sample(&after, "boxoffice_holds_expired_total");
    app.patch(
        &format!("/api/v1/shows/{show}"),
        Some(&fixture.organiser.token),
        json!({ "hold_seconds": 2 }),
    )
    .await
    .expect(200);
    // The node follows the show (as for a visitor looking at its map), so it sees the expiry.
    app.get(&format!("/api/v1/shows/{show}/availability"), None)
        .await
        .expect(200);
    app.reserve(&other, show, &["C9"]).await.expect(202);
    app.patch(
        &format!("/api/v1/shows/{show}"),
        Some(&fixture.organiser.token),
        json!({ "queue": { "enabled": true, "admit_per_minute": 1 } }),
    )
    .await
    .expect(200);
    let (first, second) = (app.buyer().await, app.buyer().await);
    for fan in [&first, &second] {
        app.post(
            &format!("/api/v1/shows/{show}/queue/join"),
            Some(&fan.token),
            json!({}),
        )
        .await
        .expect(200);
    }
    let later = common::eventually(Duration::from_secs(10), || async {
        // Tests share the recorder and SQLite show ids repeat across tests: a status read just
        // before the scrape makes this show's gauges this test's.
        app.get(
            &format!("/api/v1/shows/{show}/queue/status"),
            Some(&second.token),
        )
        .await
        .expect(200);
        let text = scrape(&app).await;
        (sample(&text, "boxoffice_holds_expired_total") > expired_before).then_some(text)
    })
    .await
    .expect("the expired hold is counted");
    let line = format!("{{show_id=\"{show}\"}}");
    let waiting = sample(&later, &format!("boxoffice_queue_waiting{line}"));
    let admitted = sample(&later, &format!("boxoffice_queue_admitted{line}"));
    assert_eq!(waiting + admitted, 2.0, "{later}");
    assert!(
        waiting >= 1.0,
        "one a minute: the second still waits; {later}"
    );
    assert!(later.contains("boxoffice_search_index_synced_timestamp_seconds "));
}
