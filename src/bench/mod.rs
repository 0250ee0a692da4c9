//! `boxoffice bench`: an onsale against a running server, over HTTP like real clients.
//!
//! 1. Setup (not measured): an organiser and a venue owner, a venue of `--seats` seats in rows of
//!    100, an event and a live show, and `--users` visitors.
//! 2. Reserve phase: `--concurrency` workers for `--seconds` seconds, each reserving two to four
//!    random adjacent seats and releasing them at once when granted; reports reserve requests/s and
//!    latency percentiles (202s and 409s both count: both are answers).
//! 3. Booking phase: the workers hold two to four adjacent seats (retrying on conflict) and book them
//!    with a fresh `Idempotency-Key`; every tenth booking is sent twice with the same key, and
//!    every tenth hold is abandoned. Runs until the show sells out or `--seconds` pass; reports
//!    seats booked/s and latency percentiles.
//! 4. With `--database-url`, an audit of the database's invariants.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use rand::Rng;
use serde_json::{json, Value};
use tokio::sync::Mutex;

mod conn;
mod live;
mod memory;
mod onsale;
mod queue;

/// Settings of `boxoffice bench`.
#[derive(Args, Debug, Clone)]
pub struct BenchConfig {
    /// Base URL of a running boxoffice.
    #[arg(
        long,
        env = "BOXOFFICE_BENCH_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub url: String,
    /// Seats in the benchmark show (rows of 100).
    #[arg(long, default_value_t = 20_000)]
    pub seats: u32,
    /// Visitors taking part.
    #[arg(long, default_value_t = 200)]
    pub users: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Length of each phase, in seconds.
    #[arg(long, default_value_t = 15)]
    pub seconds: u64,
    /// PostgreSQL URL of the server's database, for the invariant audit.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Run the memory scenario instead of the onsale: bursts of logins and of large seat-map
    /// reads, with the server's RSS (read from `/proc/<pid>/status`) before, at peak and after.
    #[arg(long, requires = "server_pid")]
    pub memory: bool,
    /// The server's process id: for the memory scenario, the live and onsale ones' RSS, and the
    /// server's CPU per request in the default one.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Run the live availability scenario instead of the onsale: layout and availability sizes,
    /// availability reads beside `/healthz`, then stream clients while seats change.
    #[arg(long)]
    pub live: bool,
    /// Live scenario: seats taken (half bought, half held) before measuring.
    #[arg(long, default_value_t = 20_000)]
    pub taken: u32,
    /// Live scenario: server-sent-event clients following the show.
    #[arg(long, default_value_t = 10_000)]
    pub stream_clients: usize,
    /// Live scenario: seat changes per second made while the stream clients follow.
    #[arg(long, default_value_t = 1_000)]
    pub changes_per_second: u32,
    /// Run the waiting-room scenario instead of the onsale: joins and status reads over HTTP
    /// beside `/healthz`, then (with `--redis-url`) a pre-queue opened on Redis and the cost of
    /// a rate-limit decision.
    #[arg(long)]
    pub queue: bool,
    /// Queue scenario: the server's JWT secret, to mint the virtual visitors' tokens.
    #[arg(long, env = "BOXOFFICE_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Queue scenario: the deployment's Redis, for the pre-queue and the rate-limit cost.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Queue scenario: waiters in the pre-queue opened on Redis.
    #[arg(long, default_value_t = 1_000_000)]
    pub prequeue: usize,
    /// Queue scenario: also write this many tokens of visitors who have not joined yet, one a
    /// line, to `--tokens-out` (for `wrk -s scripts/wrk/queue.lua`, a lighter client).
    #[arg(long, default_value_t = 0)]
    pub tokens: usize,
    /// Run the whole onsale of SPEC §13 instead: the waiting room, the map, holds and bookings
    /// of `--users` visitors until the show sells out, with the sellout time, fairness and the
    /// audit (needs `--jwt-secret` and `--database-url`; `--url` may name several nodes,
    /// comma-separated).
    #[arg(long)]
    pub onsale: bool,
    /// Onsale scenario: the waiting room's admissions per minute.
    #[arg(long, default_value_t = 60_000)]
    pub admit_per_minute: u32,
    /// Queue scenario: the file `--tokens` are written to.
    #[arg(long, default_value = "queue-tokens.txt")]
    pub tokens_out: std::path::PathBuf,
}

pub(crate) struct Client {
    http: reqwest::Client,
    base: String,
}

/// How long the bench keeps an idle connection for reuse: under the node's keep-alive idle time
/// (10 s by default), after which the node closes it. A connection kept longer could be reused
/// at the moment the node closes it, and the request would fail with a reset (a visitor of the
/// stadium waiting in the queue, between two status polls, once stopped so).
const KEEP_IDLE: Duration = Duration::from_secs(5);

impl Client {
    /// The client of the live and queue scenarios: a connection per worker, 30 s a request.
    pub(crate) fn for_scenario(config: &BenchConfig) -> anyhow::Result<Self> {
        Self::to_node(&config.url, config.concurrency)
    }

    /// A client of the node at `base`, keeping `concurrency` connections, 30 s a request.
    pub(crate) fn to_node(base: &str, concurrency: usize) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(concurrency)
                .pool_idle_timeout(KEEP_IDLE)
                .timeout(Duration::from_secs(30))
                .build()?,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await?;
        let status = res.status().as_u16();
        let bytes = res.bytes().await?;
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok((status, value))
    }

    pub(crate) async fn expect(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Value,
        status: u16,
    ) -> anyhow::Result<Value> {
        let (got, value) = self.call(method, path, token, Some(&body), None).await?;
        if got != status {
            bail!("{path}: expected {status}, got {got}: {value}");
        }
        Ok(value)
    }

    pub(crate) async fn user(&self, roles: &[&str]) -> anyhow::Result<String> {
        let email = format!("bench-{}@example.com", uuid::Uuid::new_v4().simple());
        let password = "bench-password-1";
        self.expect(
            reqwest::Method::POST,
            "/api/v1/auth/register",
            None,
            json!({ "email": email, "password": password, "name": "Bench", "roles": roles }),
            201,
        )
        .await?;
        let tokens = self
            .expect(
                reqwest::Method::POST,
                "/api/v1/auth/login",
                None,
                json!({ "email": email, "password": password }),
                200,
            )
            .await?;
        Ok(tokens["access_token"]
            .as_str()
            .context("no access token")?
            .to_owned())
    }
}

/// [`draft_show`] launched; returns the organiser's token, the show id and how long the launch
/// took over HTTP.
pub(crate) async fn live_show(
    client: &Client,
    rows: u32,
    name: &str,
) -> anyhow::Result<(String, i64, Duration)> {
    let (organiser, show_id) = draft_show(client, rows, name).await?;
    let started = Instant::now();
    client
        .expect(
            reqwest::Method::POST,
            &format!("/api/v1/shows/{show_id}/launch"),
            Some(&organiser),
            json!({}),
            200,
        )
        .await?;
    Ok((organiser, show_id, started.elapsed()))
}

/// A venue of `rows` rows of 100 seats (sections of up to 200 rows), an event and a draft show
/// of it priced 999 everywhere, made by a new venue owner and organiser; returns the organiser's
/// token and the show id.
pub(crate) async fn draft_show(
    client: &Client,
    rows: u32,
    name: &str,
) -> anyhow::Result<(String, i64)> {
    let owner = client.user(&["venue_owner"]).await?;
    let organiser = client.user(&["organiser"]).await?;
    let sections: Vec<Value> = (0..rows)
        .collect::<Vec<_>>()
        .chunks(200)
        .enumerate()
        .map(|(i, chunk)| {
            let rows: Vec<Value> = chunk
                .iter()
                .map(|&r| json!({ "label": row_label(r), "count": 100 }))
                .collect();
            json!({ "name": format!("Stand {}", i + 1), "priority": i, "rows": rows })
        })
        .collect();
    let prices: Vec<Value> = sections
        .iter()
        .map(|s| json!({ "section": s["name"], "price": 999 }))
        .collect();
    let venue = client
        .expect(
            reqwest::Method::POST,
            "/api/v1/venues",
            Some(&owner),
            json!({ "name": format!("{name} Arena"), "city": "Bench City", "address": "1 Load St",
                    "timezone": "Asia/Kolkata", "sections": sections }),
            201,
        )
        .await?;
    let event = client
        .expect(
            reqwest::Method::POST,
            "/api/v1/events",
            Some(&organiser),
            json!({ "title": format!("{name} Night"), "category": "concert" }),
            201,
        )
        .await?;
    let date = (chrono::Utc::now() + chrono::Duration::days(7)).date_naive();
    let show = client
        .expect(
            reqwest::Method::POST,
            &format!("/api/v1/events/{}/shows", event["event_id"]),
            Some(&organiser),
            json!({ "venue_id": venue["venue_id"], "start_time": format!("{date}T19:00"),
                    "end_time": format!("{date}T22:00"), "currency": "INR",
                    "prices": prices, "max_seats_per_user": 100 }),
            201,
        )
        .await?;
    let show_id = show["show_id"].as_i64().context("show id")?;
    Ok((organiser, show_id))
}

/// Latency samples in microseconds.
#[derive(Default)]
struct Samples(Vec<u64>);

impl Samples {
    fn summary(&mut self) -> String {
        if self.0.is_empty() {
            return "no samples".into();
        }
        self.0.sort_unstable();
        let p = |q: f64| {
            let i = ((self.0.len() as f64 - 1.0) * q).round() as usize;
            self.0[i] as f64 / 1000.0
        };
        format!(
            "p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            p(0.50),
            p(0.95),
            p(0.99),
            p(1.0)
        )
    }
}

fn row_label(i: u32) -> String {
    let a = (b'A' + (i / 26 / 26 % 26) as u8) as char;
    let b = (b'A' + (i / 26 % 26) as u8) as char;
    let c = (b'A' + (i % 26) as u8) as char;
    format!("{a}{b}{c}")
}

/// Two to four adjacent seats chosen at random.
fn random_seats(rows: u32) -> Vec<String> {
    let mut rng = rand::thread_rng();
    let row = row_label(rng.gen_range(0..rows));
    let count = rng.gen_range(2..=4);
    let first = rng.gen_range(1..=101 - count);
    (first..first + count)
        .map(|n| format!("{row}{n}"))
        .collect()
}

pub async fn run(config: BenchConfig) -> anyhow::Result<()> {
    if config.memory {
        return memory::run(&config).await;
    }
    if config.queue {
        return queue::run(&config).await;
    }
    if config.live {
        return live::run(&config).await;
    }
    if config.onsale {
        return onsale::run(&config).await;
    }
    let client = Arc::new(Client {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(config.concurrency)
            .pool_idle_timeout(KEEP_IDLE)
            .build()?,
        base: config.url.trim_end_matches('/').to_owned(),
    });
    let rows = config.seats.div_ceil(100).max(1);
    println!(
        "setup: show of {} seats, {} visitors",
        rows * 100,
        config.users
    );
    let (_, show_id, launch) = live_show(&client, rows, "Bench").await?;
    println!(
        "launch of {} seats over HTTP: {} ms",
        rows * 100,
        launch.as_millis()
    );
    let mut tokens = Vec::with_capacity(config.users);
    for _ in 0..config.users {
        tokens.push(client.user(&[]).await?);
    }
    let tokens = Arc::new(tokens);

    // Reserve phase.
    let samples = Arc::new(Mutex::new(Samples::default()));
    let (granted, locked, errors) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    // Each worker's own connection and the visitors' authorization headers, made before the
    // clock starts.
    let bearers = Arc::new(
        tokens
            .iter()
            .map(|t| conn::bearer(t))
            .collect::<anyhow::Result<Vec<_>>>()?,
    );
    let mut conns = Vec::with_capacity(config.concurrency);
    for _ in 0..config.concurrency {
        conns.push(conn::Conn::open(&config.url).await?);
    }
    let deadline = Instant::now() + Duration::from_secs(config.seconds);
    let cpu = CpuWatch::start(config.server_pid)?;
    let started = Instant::now();
    let mut workers = Vec::new();
    for (w, mut conn) in conns.into_iter().enumerate() {
        let (bearers, samples, url) = (bearers.clone(), samples.clone(), config.url.clone());
        let (granted, locked, errors) = (granted.clone(), locked.clone(), errors.clone());
        workers.push(tokio::spawn(async move {
            let mut local = Vec::new();
            let mut i = w;
            while Instant::now() < deadline {
                let bearer = &bearers[i % bearers.len()];
                i += client_count_stride();
                let seats = random_seats(rows);
                let body = bytes::Bytes::from(serde_json::to_vec(
                    &json!({ "show_id": show_id, "seat_ids": seats }),
                )?);
                let t = Instant::now();
                let res = conn
                    .status_of(
                        reqwest::Method::POST,
                        "/api/v1/book/reserve",
                        bearer,
                        body.clone(),
                    )
                    .await;
                // A request without an answer is an error, not a sample; its connection may
                // be closed (a restart, a 503 with `connection: close`), so the worker opens
                // another rather than failing at once until the deadline.
                let Ok(status) = res else {
                    errors.fetch_add(1, Ordering::Relaxed);
                    conn = conn::Conn::open(&url).await?;
                    continue;
                };
                local.push(t.elapsed().as_micros() as u64);
                match status {
                    202 => {
                        granted.fetch_add(1, Ordering::Relaxed);
                        let released = conn
                            .status_of(
                                reqwest::Method::DELETE,
                                "/api/v1/book/reserve",
                                bearer,
                                body,
                            )
                            .await;
                        if released.is_err() {
                            errors.fetch_add(1, Ordering::Relaxed);
                            conn = conn::Conn::open(&url).await?;
                        }
                    }
                    409 | 403 => {
                        locked.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            samples.lock().await.0.extend(local);
            anyhow::Ok(())
        }));
    }
    for w in workers {
        w.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut s = samples.lock().await;
    let total = s.0.len();
    println!(
        "reserve: {total} requests in {elapsed:.1} s = {:.0} reserves/s (plus one release per grant); {} granted, {} conflicts, {} errors; {}",
        total as f64 / elapsed,
        granted.load(Ordering::Relaxed),
        locked.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed),
        s.summary()
    );
    println!(
        "  {} a reserve request (with the release of a grant)",
        cpu.per(total as u64)?
    );
    drop(s);

    // Booking phase.
    let deadline = Instant::now() + Duration::from_secs(config.seconds);
    let cpu = CpuWatch::start(config.server_pid)?;
    let book_samples = Arc::new(Mutex::new(Samples::default()));
    let booked = Arc::new(AtomicU64::new(0));
    let (replays, abandoned, failures) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let sold_out = Arc::new(AtomicBool::new(false));
    // Failed bookings by answer ("409 SEAT_NOT_AVAILABLE"), so a failure can be told apart.
    let failure_kinds = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::<
        String,
        u64,
    >::new()));
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..config.concurrency {
        let (client, tokens, book_samples) = (client.clone(), tokens.clone(), book_samples.clone());
        let failure_kinds = failure_kinds.clone();
        let (booked, replays, abandoned, failures, sold_out) = (
            booked.clone(),
            replays.clone(),
            abandoned.clone(),
            failures.clone(),
            sold_out.clone(),
        );
        let seats_total = u64::from(rows * 100);
        workers.push(tokio::spawn(async move {
            let mut local = Vec::new();
            let mut n = 0u64;
            let mut misses = 0u32;
            while Instant::now() < deadline && !sold_out.load(Ordering::Relaxed) {
                let token = &tokens[(w + n as usize * 7) % tokens.len()];
                n += 1;
                let seats = random_seats(rows);
                let body = json!({ "show_id": show_id, "seat_ids": seats });
                match client
                    .call(
                        reqwest::Method::POST,
                        "/api/v1/book/reserve",
                        Some(token),
                        Some(&body),
                        None,
                    )
                    .await
                {
                    Ok((202, _)) => misses = 0,
                    Ok((409, _)) => {
                        misses += 1;
                        if misses > 200 || booked.load(Ordering::Relaxed) * 100 >= seats_total * 95
                        {
                            sold_out.store(true, Ordering::Relaxed);
                        }
                        continue;
                    }
                    _ => continue,
                }
                if n.is_multiple_of(10) {
                    abandoned.fetch_add(1, Ordering::Relaxed);
                    let _ = client
                        .call(
                            reqwest::Method::DELETE,
                            "/api/v1/book/reserve",
                            Some(token),
                            Some(&body),
                            None,
                        )
                        .await;
                    continue;
                }
                let key = uuid::Uuid::new_v4().to_string();
                let t = Instant::now();
                let res = client
                    .call(
                        reqwest::Method::POST,
                        "/api/v1/book",
                        Some(token),
                        Some(&body),
                        Some(&key),
                    )
                    .await;
                local.push(t.elapsed().as_micros() as u64);
                match res {
                    Ok((201, _)) => {
                        booked.fetch_add(seats.len() as u64, Ordering::Relaxed);
                        if n % 10 == 5 {
                            if let Ok((200, _)) = client
                                .call(
                                    reqwest::Method::POST,
                                    "/api/v1/book",
                                    Some(token),
                                    Some(&body),
                                    Some(&key),
                                )
                                .await
                            {
                                replays.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    other => {
                        failures.fetch_add(1, Ordering::Relaxed);
                        let kind = match other {
                            Ok((status, body)) => format!(
                                "{status} {}",
                                body["error_code"].as_str().unwrap_or("(no error code)")
                            ),
                            Err(e) => format!("no answer: {e}"),
                        };
                        *failure_kinds
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .entry(kind)
                            .or_default() += 1;
                    }
                }
            }
            book_samples.lock().await.0.extend(local);
        }));
    }
    for w in workers {
        w.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let seats_booked = booked.load(Ordering::Relaxed);
    let mut s = book_samples.lock().await;
    println!(
        "book: {seats_booked} seats in {} bookings in {elapsed:.1} s = {:.0} seats booked/s ({:.0} bookings/s); {} identical replays, {} holds abandoned, {} failed; {}",
        s.0.len(),
        seats_booked as f64 / elapsed,
        s.0.len() as f64 / elapsed,
        replays.load(Ordering::Relaxed),
        abandoned.load(Ordering::Relaxed),
        failures.load(Ordering::Relaxed),
        s.summary()
    );
    for (kind, count) in failure_kinds
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
    {
        println!("  failed bookings answered {kind}: {count}");
    }
    println!("  {} a seat booked", cpu.per(seats_booked)?);
    if sold_out.load(Ordering::Relaxed) {
        println!("sold out (95%+) after {elapsed:.1} s");
    }
    drop(s);

    if let Some(url) = &config.database_url {
        audit(url, show_id, seats_booked).await?;
    }
    Ok(())
}

/// CPU time of a phase: the bench client's own and, with `--server-pid`, the server's. On a
/// machine the client shares with the server, CPU per request is steadier than requests per
/// second, which move with everything else the machine runs.
struct CpuWatch {
    server_pid: Option<u32>,
    server: f64,
    own: f64,
}

impl CpuWatch {
    fn start(server_pid: Option<u32>) -> anyhow::Result<Self> {
        Ok(Self {
            server_pid,
            server: server_pid
                .map(memory::cpu_seconds)
                .transpose()?
                .unwrap_or(0.0),
            own: memory::cpu_seconds(std::process::id())?,
        })
    }

    /// "CPU: server S µs, bench client C µs" for each of `count` things done since the start.
    fn per(&self, count: u64) -> anyhow::Result<String> {
        let count = count.max(1) as f64;
        let own = (memory::cpu_seconds(std::process::id())? - self.own) * 1e6 / count;
        Ok(match self.server_pid {
            Some(pid) => {
                let server = (memory::cpu_seconds(pid)? - self.server) * 1e6 / count;
                format!("CPU: server {server:.0} µs, bench client {own:.0} µs")
            }
            None => format!("CPU: bench client {own:.0} µs (server: give --server-pid)"),
        })
    }
}

fn client_count_stride() -> usize {
    13
}

async fn audit(url: &str, show_id: i64, booked: u64) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let doubles: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT seat_id FROM tickets WHERE show_id = $1 AND status = 'valid'
         GROUP BY seat_id HAVING COUNT(*) > 1) d",
    )
    .bind(show_id)
    .fetch_one(&mut conn)
    .await?;
    let sold: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM inventory WHERE show_id = $1 AND status = 'sold'")
            .bind(show_id)
            .fetch_one(&mut conn)
            .await?;
    let tickets: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM tickets t JOIN bookings b ON b.booking_id = t.booking_id
         WHERE t.show_id = $1 AND t.status = 'valid' AND b.status = 'confirmed'",
    )
    .bind(show_id)
    .fetch_one(&mut conn)
    .await?;
    let unpaid: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM bookings b WHERE b.show_id = $1 AND NOT EXISTS
         (SELECT 1 FROM payments p WHERE p.booking_id = b.booking_id AND p.status = 'captured')",
    )
    .bind(show_id)
    .fetch_one(&mut conn)
    .await?;
    println!(
        "audit: seats sold {sold} = tickets {tickets} = 201s' seats {booked}; seats in two tickets: {doubles}; bookings without a captured payment: {unpaid}"
    );
    if doubles != 0 || sold != tickets || sold as u64 != booked || unpaid != 0 {
        bail!("audit failed");
    }
    Ok(())
}
