//! Test harness: starts the real app on port 0 over an isolated database (a fresh SQLite data
//! dir, or a fresh PostgreSQL schema) and talks to it over HTTP.
//!
//! PostgreSQL tests use `BOXOFFICE_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`) and fail, never skip, when it is unreachable.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use boxoffice::app::AppState;
use boxoffice::config::{DatabaseUrl, ServeConfig};
use boxoffice::server::Application;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn name(backend: Backend)` once per backend, as
/// `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Postgres).await
                }
            )*
        }
    };
}

/// Redis for the PostgreSQL deployment's holds (`BOXOFFICE_TEST_REDIS_URL`).
pub fn redis_url() -> String {
    std::env::var("BOXOFFICE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// NATS for the PostgreSQL deployment's event bus (`BOXOFFICE_TEST_NATS_URL`).
pub fn nats_url() -> String {
    std::env::var("BOXOFFICE_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

pub fn admin_database_url() -> String {
    std::env::var("BOXOFFICE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A unique suffix for emails, schemas and names.
pub fn unique() -> String {
    format!(
        "{}{}{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        uuid::Uuid::new_v4()
            .simple()
            .to_string()
            .get(..8)
            .unwrap_or("x")
    )
}

/// Creates a fresh schema and returns a URL whose connections use it.
pub async fn fresh_postgres_schema() -> String {
    use sqlx::Connection;
    let admin = admin_database_url();
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is required for these tests: {e}"));
    let schema = format!("t_{}", unique());
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut conn)
        .await
        .expect("create schema");
    let sep = if admin.contains('?') { '&' } else { '?' };
    format!("{admin}{sep}options=-c%20search_path%3D{schema}")
}

/// A running server and a client for it.
pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub client: reqwest::Client,
    pub backend: Backend,
    pub data_dir: tempfile::TempDir,
    pub database_url: Option<String>,
    /// The running app's state: its database, hold store and fault switches.
    pub state: AppState,
    /// The Redis key prefix of a PostgreSQL + Redis deployment.
    pub redis_prefix: Option<String>,
    config: ServeConfig,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// A JSON response.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status and returns the body, printing the body on mismatch.
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
        self.body
    }

    /// Asserts an error answer in the seed's shape with `code`.
    pub fn expect_error(self, status: u16, code: &str) -> Value {
        let body = self.expect(status);
        assert_eq!(body["error_code"], code, "body: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "message: {body}"
        );
        assert!(
            body["details"].is_object(),
            "details must be an object: {body}"
        );
        body
    }
}

/// A signed-in user.
#[derive(Debug, Clone)]
pub struct User {
    pub user_id: i64,
    pub email: String,
    pub token: String,
    pub refresh_token: String,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut ServeConfig)) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut config = ServeConfig::embedded_for_tests(data_dir.path());
        let database_url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                let url = fresh_postgres_schema().await;
                config.storage.database_url = Some(DatabaseUrl::new(url.clone()));
                config.storage.db_max_connections = 10;
                config.redis_url = Some(DatabaseUrl::new(redis_url()));
                config.redis_prefix = format!("t{}", unique());
                let tag = unique();
                config.nats_url = Some(DatabaseUrl::new(nats_url()));
                config.nats_stream = format!("T{tag}");
                config.nats_subject_prefix = format!("t{tag}");
                Some(url)
            }
        };
        tweak(&mut config);
        let redis_prefix = config
            .redis_url
            .as_ref()
            .map(|_| config.redis_prefix.clone());
        Self::start(backend, data_dir, database_url, redis_prefix, config).await
    }

    async fn start(
        backend: Backend,
        data_dir: tempfile::TempDir,
        database_url: Option<String>,
        redis_prefix: Option<String>,
        config: ServeConfig,
    ) -> Self {
        let app = Application::build(config.clone())
            .await
            .expect("app starts");
        let addr = app.local_addr().expect("addr");
        let state = app.state().clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        Self {
            addr,
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            backend,
            data_dir,
            database_url,
            state,
            redis_prefix,
            config,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    /// Starts another node of the same deployment: the same database, Redis prefix, NATS stream
    /// and mail settings, its own port and data dir (so its own search index).
    pub async fn another_node(&self) -> TestApp {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut config = self.config.clone();
        config.storage.data_dir = data_dir.path().to_path_buf();
        config.bind = SocketAddr::from(([127, 0, 0, 1], 0));
        Self::start(
            self.backend,
            data_dir,
            self.database_url.clone(),
            self.redis_prefix.clone(),
            config,
        )
        .await
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.expect("join").expect("server ran cleanly");
        }
    }

    /// Stops the server, runs `while_down` on a fresh connection to its database, then starts a new server on the same data dir and
    /// database (a restarted node).
    pub async fn restart_after<F, Fut>(mut self, while_down: F) -> Self
    where
        F: FnOnce(boxoffice::store::Db) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.expect("join").expect("server ran cleanly");
        }
        let Self {
            backend,
            data_dir,
            database_url,
            redis_prefix,
            config,
            state,
            ..
        } = self;
        drop(state);
        // Another node's view of the same database while this one is down.
        let db = boxoffice::store::Db::connect(&config.storage)
            .await
            .expect("database");
        while_down(db.clone()).await;
        db.close().await;
        Self::start(backend, data_dir, database_url, redis_prefix, config).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request sent");
        Self::read(res).await
    }

    pub async fn read(res: reqwest::Response) -> Resp {
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                panic!(
                    "non-JSON body ({status}): {}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.request(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.request(Method::PATCH, path, token, Some(body)).await
    }

    /// Sends a raw body with a content type.
    pub async fn post_raw(
        &self,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> Resp {
        let mut req = self
            .client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Self::read(req.send().await.expect("request sent")).await
    }

    /// Registers a user with `roles` and signs in.
    pub async fn user(&self, roles: &[&str]) -> User {
        let email = format!("u{}@example.com", unique());
        let password = "correct horse battery";
        let created = self
            .post(
                "/api/v1/auth/register",
                None,
                json!({ "email": email, "password": password, "name": "Test User", "roles": roles }),
            )
            .await
            .expect(201);
        let tokens = self
            .post(
                "/api/v1/auth/login",
                None,
                json!({ "email": email, "password": password }),
            )
            .await
            .expect(200);
        User {
            user_id: created["user_id"].as_i64().expect("user_id"),
            email,
            token: tokens["access_token"].as_str().expect("token").to_owned(),
            refresh_token: tokens["refresh_token"]
                .as_str()
                .expect("refresh")
                .to_owned(),
        }
    }

    /// `n` visitors created straight in the database with tokens minted by the app's own keys:
    /// for race tests that need many users quickly (registration is tested in tests/integration/auth.rs).
    pub async fn quick_users(&self, n: usize) -> Vec<User> {
        let mut users = Vec::with_capacity(n);
        for _ in 0..n {
            let email = format!("q{}@example.com", unique());
            let parsed = boxoffice::auth::Email::parse(&email).expect("email");
            let user = boxoffice::auth::store::create_user(
                &self.state.db,
                &parsed,
                "Racer",
                "not-a-hash",
                &[],
            )
            .await
            .expect("user")
            .expect("new");
            let token = self
                .state
                .tokens
                .issue(user.user_id, &user.roles, chrono::Utc::now().timestamp())
                .expect("token");
            users.push(User {
                user_id: user.user_id,
                email,
                token,
                refresh_token: String::new(),
            });
        }
        users
    }

    pub async fn visitor(&self) -> User {
        self.user(&[]).await
    }

    pub async fn organiser(&self) -> User {
        self.user(&["organiser"]).await
    }

    pub async fn venue_owner(&self) -> User {
        self.user(&["venue_owner"]).await
    }

    /// Onboards `small_venue_body()` (or `body`) and returns its id.
    pub async fn venue(&self, owner: &User, body: Value) -> i64 {
        self.post("/api/v1/venues", Some(&owner.token), body)
            .await
            .expect(201)["venue_id"]
            .as_i64()
            .expect("venue_id")
    }

    pub async fn event(&self, organiser: &User, title: &str, category: &str) -> i64 {
        self.post(
            "/api/v1/events",
            Some(&organiser.token),
            json!({ "title": title, "category": category, "description": "A test event",
                    "tags": ["test"], "artists": ["Someone"] }),
        )
        .await
        .expect(201)["event_id"]
            .as_i64()
            .expect("event_id")
    }

    /// Creates a draft show of `event` at `venue` (sections Gold and Silver) in `days` days.
    pub async fn show(&self, organiser: &User, event: i64, venue: i64, days: i64) -> i64 {
        self.post(
            &format!("/api/v1/events/{event}/shows"),
            Some(&organiser.token),
            show_body(venue, days),
        )
        .await
        .expect(201)["show_id"]
            .as_i64()
            .expect("show_id")
    }

    pub async fn launch(&self, organiser: &User, show: i64) -> Value {
        self.post(
            &format!("/api/v1/shows/{show}/launch"),
            Some(&organiser.token),
            json!({}),
        )
        .await
        .expect(200)
    }

    /// A venue owner, an organiser, a venue (`small_venue_body`), an event and a live show.
    pub async fn live_show(&self) -> Fixture {
        let owner = self.venue_owner().await;
        let organiser = self.organiser().await;
        let venue = self
            .venue(&owner, small_venue_body("Test Hall", "Bangalore"))
            .await;
        let event = self.event(&organiser, "Test Movie", "movie").await;
        let show = self.show(&organiser, event, venue, 3).await;
        self.launch(&organiser, show).await;
        Fixture {
            owner,
            organiser,
            venue,
            event,
            show,
        }
    }
}

/// Everything `live_show` made.
pub struct Fixture {
    pub owner: User,
    pub organiser: User,
    pub venue: i64,
    pub event: i64,
    pub show: i64,
}

/// A 30-seat venue: Gold (rows A, B of 5; B has an aisle after 2 and A1 is accessible) and
/// Silver (row C of 20).
pub fn small_venue_body(name: &str, city: &str) -> Value {
    json!({
        "name": name,
        "city": city,
        "address": "1 MG Road",
        "timezone": "Asia/Kolkata",
        "sections": [
            { "name": "Gold", "priority": 0, "rows": [
                { "label": "A", "count": 5, "accessible": [1] },
                { "label": "B", "count": 5, "skip": [3] }
            ]},
            { "name": "Silver", "priority": 1, "rows": [ { "label": "C", "count": 20 } ] }
        ]
    })
}

/// A show body for `small_venue_body` venues, `days` days from now at 18:30 IST.
pub fn show_body(venue: i64, days: i64) -> Value {
    let date = (chrono::Utc::now() + chrono::Duration::days(days)).date_naive();
    json!({
        "venue_id": venue,
        "start_time": format!("{date}T18:30:00+05:30"),
        "end_time": format!("{date}T21:00:00+05:30"),
        "currency": "INR",
        "prices": [ { "section": "Gold", "price": 450 }, { "section": "Silver", "price": 249.5 } ]
    })
}

/// A TCP port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("addr")
        .port()
}

/// Waits up to 5 s for something to listen on `port`.
pub async fn wait_for_port(port: u16) -> bool {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

/// A Redis server of this test's own (`redis-server` on a free port), so a test may FLUSHALL
/// without touching other tests' keys. Stopped when dropped.
pub struct PrivateRedis {
    child: std::process::Child,
    pub url: String,
    pub port: u16,
    dir: tempfile::TempDir,
}

fn spawn_redis(port: u16, dir: &std::path::Path) -> std::process::Child {
    std::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server is installed")
}

impl PrivateRedis {
    pub async fn start() -> Self {
        let port = free_port();
        let dir = tempfile::tempdir().expect("dir");
        let mut child = spawn_redis(port, dir.path());
        let url = format!("redis://127.0.0.1:{port}");
        if wait_for_port(port).await {
            return Self {
                child,
                url,
                port,
                dir,
            };
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("private redis-server did not start on port {port}");
    }

    /// Kills the server (its keys are lost, as on a crash without persistence).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts an empty server on the same port again.
    pub async fn restart(&mut self) {
        self.kill();
        self.child = spawn_redis(self.port, self.dir.path());
        assert!(wait_for_port(self.port).await, "redis-server came back");
    }

    /// Freezes the server (SIGSTOP): connections stay open and nothing answers, as in a
    /// network partition.
    pub fn pause(&self) {
        signal(self.child.id(), "STOP");
    }

    /// Thaws a paused server (SIGCONT).
    pub fn resume(&self) {
        signal(self.child.id(), "CONT");
    }

    /// FLUSHALL: every key of every show is gone.
    pub async fn flush_all(&self) {
        let client = redis::Client::open(self.url.as_str()).expect("redis");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("conn");
        let _: () = redis::cmd("FLUSHALL")
            .query_async(&mut conn)
            .await
            .expect("flushall");
    }
}

fn signal(pid: u32, name: &str) {
    let status = std::process::Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name} {pid}");
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.resume_quietly();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl PrivateRedis {
    fn resume_quietly(&self) {
        let _ = std::process::Command::new("kill")
            .args(["-CONT".to_string(), self.child.id().to_string()])
            .status();
    }
}

/// A message received by [`SmtpSink`].
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

/// A minimal SMTP server run by the test harness: it speaks enough SMTP for a real client
/// (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) and keeps every message it receives.
pub struct SmtpSink {
    pub url: String,
    pub received: std::sync::Arc<std::sync::Mutex<Vec<ReceivedMail>>>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let store = received.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let store = store.clone();
                tokio::spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let mut lines = BufReader::new(read).lines();
                    let _ = write.write_all(b"220 sink ESMTP\r\n").await;
                    let (mut from, mut to) = (String::new(), Vec::new());
                    while let Ok(Some(line)) = lines.next_line().await {
                        let upper = line.to_ascii_uppercase();
                        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO")
                        {
                            b"250-sink\r\n250 8BITMIME\r\n"
                        } else if upper.starts_with("MAIL FROM:") {
                            from = line[10..].trim().to_owned();
                            b"250 ok\r\n"
                        } else if upper.starts_with("RCPT TO:") {
                            to.push(
                                line[8..]
                                    .trim()
                                    .trim_matches(|c| c == '<' || c == '>')
                                    .to_owned(),
                            );
                            b"250 ok\r\n"
                        } else if upper == "DATA" {
                            let _ = write.write_all(b"354 go ahead\r\n").await;
                            let mut data = String::new();
                            while let Ok(Some(l)) = lines.next_line().await {
                                if l == "." {
                                    break;
                                }
                                data.push_str(
                                    l.strip_prefix('.')
                                        .filter(|_| l.starts_with(".."))
                                        .unwrap_or(&l),
                                );
                                data.push('\n');
                            }
                            store.lock().expect("lock").push(ReceivedMail {
                                from: from.clone(),
                                to: std::mem::take(&mut to),
                                data,
                            });
                            b"250 queued\r\n"
                        } else if upper.starts_with("QUIT") {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            break;
                        } else {
                            b"250 ok\r\n"
                        };
                        if write.write_all(reply).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Self {
            url: format!("smtp://127.0.0.1:{port}"),
            received,
        }
    }

    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.received.lock().expect("lock").clone()
    }
}

/// A NATS server with JetStream of this test's own, which the test can stop and restart.
pub struct PrivateNats {
    child: Option<std::process::Child>,
    pub port: u16,
    pub url: String,
    dir: tempfile::TempDir,
}

impl PrivateNats {
    pub async fn start() -> Self {
        let port = free_port();
        let mut me = Self {
            child: None,
            port,
            url: format!("nats://127.0.0.1:{port}"),
            dir: tempfile::tempdir().expect("dir"),
        };
        me.restart().await;
        me
    }

    pub async fn restart(&mut self) {
        let child = std::process::Command::new("nats-server")
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nats-server is installed");
        self.child = Some(child);
        if wait_for_port(self.port).await {
            return;
        }
        panic!("private nats-server did not start on port {}", self.port);
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Polls `check` every 50 ms until it returns `Some` or `within` passes.
pub async fn eventually<T, F, Fut>(within: std::time::Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if std::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
