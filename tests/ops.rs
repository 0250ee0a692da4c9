//! Health, readiness, request ids, graceful shutdown, demo data and the CLI.

mod common;

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
