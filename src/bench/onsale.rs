//! `boxoffice bench --onsale`: a whole stadium onsale through the waiting room (SPEC §13), against
//! one or several running nodes (`--url a,b,c`; visitor `i` uses node `i mod n`).
//!
//! 1. Setup (not measured): a venue of `--seats` seats in rows of 100 and a live show whose
//!    waiting room opens a few seconds ahead and admits `--admit-per-minute`; `--users` visitors
//!    written straight into the database (`--database-url`; registration is argon2 and is
//!    measured elsewhere) with tokens minted from the deployment's `--jwt-secret`.
//! 2. Every visitor joins before opening (the pre-queue), then waits as a browser does: it reads
//!    its place with its queue token when the estimated wait says its turn is near.
//! 3. Once admitted it reads the layout and the live availability, picks 2–4 adjacent free seats
//!    (fewer when no run that long is left), holds them (on a conflict it reads the
//!    availability again and picks others, up to [`PICKS`] times), and books them with its pass.
//!    One in ten abandons its hold; one in twenty is declined first and pays again with another
//!    card and key; one in ten sends its booking twice with the same key.
//! 4. It prints per step: requests/s, latency percentiles and answers; the sellout time from the
//!    opening; the fairness (positions form one line with no gaps; admission order against
//!    queue order); the server's RSS (`--server-pid`); and the invariant audit read from the
//!    database.
//!
//! Every HTTP request waits for one of `--concurrency` permits, the client's bound on requests in
//! flight; a step's latency is measured from when it got its permit.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::Engine;
use rand::Rng;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use super::{live_show, row_label, BenchConfig, Client, Samples};
use crate::auth::tokens::TokenKeys;

/// Times a visitor picks seats again after a conflict before giving up.
const PICKS: u32 = 30;
/// Random first seats a pick tries before it scans the map for every place.
const PROBES: u32 = 32;
/// The longest a waiting visitor sleeps between two reads of its place.
const MAX_POLL: Duration = Duration::from_secs(5);
/// How long an admitted visitor's pass lasts.
const PASS_MINUTES: i64 = 15;
/// How long the bench lets the onsale run after opening at most.
const RUN_LIMIT: Duration = Duration::from_secs(300);

/// Per-step figures, shared by every visitor task.
#[derive(Default)]
struct Steps {
    samples: Mutex<BTreeMap<&'static str, Samples>>,
    /// Answers counted by step, status and error code (empty on success).
    answers: Mutex<BTreeMap<(&'static str, u16, String), u64>>,
}

impl Steps {
    /// Records a request's latency and its answer; only an error's body is read (for its
    /// code): the bench client shares the machine with the server, so it parses no more than
    /// it needs.
    fn record(&self, step: &'static str, started: Instant, status: u16, body: &[u8]) {
        let micros = started.elapsed().as_micros() as u64;
        if let Ok(mut s) = self.samples.lock() {
            s.entry(step).or_default().0.push(micros);
        }
        let code = if status >= 400 {
            serde_json::from_slice::<ErrorBody>(body)
                .map(|e| e.error_code)
                .unwrap_or_default()
        } else {
            String::new()
        };
        if let Ok(mut a) = self.answers.lock() {
            *a.entry((step, status, code)).or_default() += 1;
        }
    }
}

/// The part of an error body the bench counts answers by.
#[derive(serde::Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error_code: String,
}

/// The part of an availability snapshot a visitor picks seats from.
#[derive(serde::Deserialize)]
struct Snapshot {
    seats: String,
}

/// A visitor: its number (which picks its node) and its access token.
#[derive(Clone, Copy)]
struct Visitor<'a> {
    index: usize,
    token: &'a str,
}

/// The nodes, the client's bound, and the figures.
struct Run {
    nodes: Vec<Client>,
    permits: Semaphore,
    steps: Steps,
    show_id: i64,
    rows: u32,
    seats_total: u64,
    opened: Instant,
    sold: AtomicU64,
    /// When the last seat was sold, in ms after opening.
    sold_out_ms: AtomicU64,
    /// When half, nine tenths and 99% of the seats were sold, in ms after opening: how much of
    /// the sellout is the chase for the last seats.
    milestones_ms: [AtomicU64; 3],
    /// Seats of each 201, and its booking id.
    confirmed: Mutex<Vec<(i64, u64)>>,
    /// Each visitor's position, when the line admitted it (from its pass, ms since the epoch)
    /// and when it saw its admission (ms after opening).
    admissions: Mutex<Vec<(u64, i64, u64)>>,
    /// Positions of visitors who got seats, and of those who got none.
    outcomes: Mutex<(Vec<u64>, Vec<u64>)>,
}

impl Run {
    /// One request through node `node`, inside a permit, recorded under `step`.
    async fn call(
        &self,
        who: Visitor<'_>,
        step: &'static str,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<(u16, Value)> {
        let (status, bytes) = self
            .call_raw(who, step, method, path, body, headers)
            .await?;
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok((status, value))
    }

    /// [`Run::call`] with the body left unparsed.
    async fn call_raw(
        &self,
        who: Visitor<'_>,
        step: &'static str,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<(u16, bytes::Bytes)> {
        let client = &self.nodes[who.index % self.nodes.len()];
        let _permit = self.permits.acquire().await?;
        let started = Instant::now();
        let mut req = client
            .http
            .request(method, format!("{}{path}", client.base))
            .bearer_auth(who.token);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await?;
        let status = res.status().as_u16();
        let bytes = res.bytes().await?;
        self.steps.record(step, started, status, &bytes);
        Ok((status, bytes))
    }

    fn label(&self, index: u32) -> String {
        format!("{}{}", row_label(index / 100), index % 100 + 1)
    }
}

pub async fn run(config: &BenchConfig) -> anyhow::Result<()> {
    let secret = config
        .jwt_secret
        .as_deref()
        .context("--onsale needs --jwt-secret (the server's BOXOFFICE_JWT_SECRET)")?;
    let database_url = config
        .database_url
        .as_deref()
        .context("--onsale needs --database-url (visitors are written there, and it is audited)")?;
    let urls: Vec<String> = config
        .url
        .split(',')
        .map(|u| u.trim().trim_end_matches('/').to_owned())
        .filter(|u| !u.is_empty())
        .collect();
    let nodes = urls
        .iter()
        .map(|base| Client::to_node(base, config.concurrency))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let first = nodes.first().context("--url names no node")?;
    let rows = config.seats.div_ceil(100).max(1);
    let visitors = config.users.max(1);
    let since = chrono::Utc::now();
    let (organiser, show_id, _) = live_show(first, rows, "Onsale").await?;
    let users = create_visitors(database_url, visitors).await?;
    let keys = TokenKeys::new(secret.as_bytes(), 3600);
    let now = chrono::Utc::now().timestamp();
    let tokens = users
        .iter()
        .map(|u| keys.issue(*u, &[], now))
        .collect::<Result<Vec<_>, _>>()?;
    // Long enough for every visitor to join first (joins run at thousands a second).
    let join_window = Duration::from_secs(5 + (visitors as u64).div_ceil(1_500));
    let opens_at = chrono::Utc::now() + chrono::Duration::from_std(join_window)?;
    first
        .expect(
            reqwest::Method::PATCH,
            &format!("/api/v1/shows/{show_id}"),
            Some(&organiser),
            json!({ "queue": { "enabled": true, "admit_per_minute": config.admit_per_minute,
                               "opens_at": opens_at.to_rfc3339(), "pass_minutes": PASS_MINUTES } }),
            200,
        )
        .await?;
    println!(
        "onsale: show {show_id} of {} seats on {} node(s), {visitors} visitors, admitting {}/min, opening in {} s",
        rows * 100,
        nodes.len(),
        config.admit_per_minute,
        join_window.as_secs()
    );

    let opened = Instant::now() + join_window;
    let run = Arc::new(Run {
        nodes,
        permits: Semaphore::new(config.concurrency.max(1)),
        steps: Steps::default(),
        show_id,
        rows,
        seats_total: u64::from(rows) * 100,
        opened,
        sold: AtomicU64::new(0),
        sold_out_ms: AtomicU64::new(0),
        milestones_ms: Default::default(),
        confirmed: Mutex::default(),
        admissions: Mutex::default(),
        outcomes: Mutex::default(),
    });
    let rss = config.server_pid.map(|pid| {
        let peak = Arc::new(AtomicU64::new(0));
        let seen = peak.clone();
        let sampler = tokio::spawn(async move {
            loop {
                if let Ok(mib) = super::memory::rss_mib(pid) {
                    seen.fetch_max((mib * 1024.0) as u64, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
        (peak, sampler)
    });

    let join_started = Instant::now();
    let mut visits = Vec::with_capacity(visitors);
    for (i, token) in tokens.into_iter().enumerate() {
        let run = run.clone();
        visits.push(tokio::spawn(async move { visit(&run, i, &token).await }));
    }
    let mut failed = 0u64;
    for v in visits {
        match tokio::time::timeout_at((opened + RUN_LIMIT).into(), v).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => {
                failed += 1;
                if failed <= 3 {
                    println!("  a visitor stopped: {e:#}");
                }
            }
            Ok(Err(e)) => bail!("a visitor task failed: {e}"),
            Err(_) => bail!("the onsale did not end within {} s", RUN_LIMIT.as_secs()),
        }
    }
    let total = join_started.elapsed();
    report(&run, total, failed)?;
    if let Some((peak, sampler)) = rss {
        sampler.abort();
        println!(
            "server RSS at peak: {:.1} MiB",
            peak.load(Ordering::Relaxed) as f64 / 1024.0
        );
    }
    let confirmed = run.confirmed.lock().map(|c| c.clone()).unwrap_or_default();
    audit(database_url, show_id, since, &confirmed).await?;
    after_booking(database_url, show_id).await
}

/// How long the after-booking work may take to finish once the last seat is sold.
const DRAIN_LIMIT: Duration = Duration::from_secs(300);

/// The after-booking pipeline (SPEC §8), read from the database once it has drained: for each
/// step, how long after its booking's commit each booking got there (percentiles), and the rate
/// the step sustained from its first booking to its last. A booking's commit time is its
/// `created_at`, taken inside its transaction (so a lag includes the commit itself).
async fn after_booking(url: &str, show_id: i64) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let waited = Instant::now();
    let pending = loop {
        // A confirmation is sent once its booking's codes are written: emails are the last step.
        let pending: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM bookings WHERE show_id = $1 AND status = 'confirmed')
                  - (SELECT COUNT(*) FROM emails_sent e JOIN bookings b ON b.booking_id = e.booking_id
                      WHERE b.show_id = $1 AND b.status = 'confirmed' AND e.kind = 'confirmation')",
        )
        .bind(show_id)
        .fetch_one(&mut conn)
        .await?;
        if pending == 0 || waited.elapsed() > DRAIN_LIMIT {
            break pending;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    println!(
        "after-booking work: {} {:.1} s after the audit",
        if pending == 0 {
            "drained"
        } else {
            "NOT DRAINED"
        },
        waited.elapsed().as_secs_f64()
    );
    // (step, seconds after the booking's commit, for each booking of the show)
    let steps: [(&str, &str); 3] = [
        (
            "published to the bus",
            "SELECT o.published_at, EXTRACT(EPOCH FROM o.published_at - b.created_at)::float8
               FROM bookings b JOIN outbox o ON o.aggregate_id = b.booking_id AND o.topic = 'booking.confirmed'
              WHERE b.show_id = $1 AND o.published_at IS NOT NULL",
        ),
        (
            "ticket codes signed",
            "SELECT MAX(t.issued_at), EXTRACT(EPOCH FROM MAX(t.issued_at) - b.created_at)::float8
               FROM bookings b JOIN tickets t ON t.booking_id = b.booking_id
              WHERE b.show_id = $1 AND b.status = 'confirmed' AND t.issued_at IS NOT NULL GROUP BY b.booking_id, b.created_at",
        ),
        (
            "confirmation emailed",
            "SELECT e.sent_at, EXTRACT(EPOCH FROM e.sent_at - b.created_at)::float8
               FROM bookings b JOIN emails_sent e ON e.booking_id = b.booking_id AND e.kind = 'confirmation'
              WHERE b.show_id = $1",
        ),
    ];
    println!("after-booking lag (seconds from a booking's commit; rate sustained from the step's first booking to its last):");
    for (step, sql) in steps {
        let rows: Vec<(chrono::DateTime<chrono::Utc>, f64)> = sqlx::query_as(sql)
            .bind(show_id)
            .fetch_all(&mut conn)
            .await?;
        let mut lags: Vec<f64> = rows.iter().map(|r| r.1).collect();
        lags.sort_unstable_by(f64::total_cmp);
        let at = |q: f64| {
            lags.get(((lags.len() as f64 * q) as usize).min(lags.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0.0)
        };
        let first = rows.iter().map(|r| r.0).min();
        let last = rows.iter().map(|r| r.0).max();
        let span = match (first, last) {
            (Some(f), Some(l)) => (l - f).num_milliseconds().max(1) as f64 / 1000.0,
            _ => 1.0,
        };
        println!(
            "  {step}: {} bookings, {:.0}/s; p50 {:.2} s, p99 {:.2} s, max {:.2} s",
            lags.len(),
            lags.len() as f64 / span,
            at(0.5),
            at(0.99),
            lags.last().copied().unwrap_or(0.0)
        );
    }
    if pending != 0 {
        bail!(
            "{pending} bookings still lack their codes or email after {} s",
            DRAIN_LIMIT.as_secs()
        );
    }
    Ok(())
}

/// `count` visitors written in one statement, with a password nobody can log in with.
async fn create_visitors(database_url: &str, count: usize) -> anyhow::Result<Vec<i64>> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(database_url).await?;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let ids: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO users (email, email_norm, name, password_hash, created_at)
         SELECT e, e, 'Visitor ' || n, '!bench-visitor', now()
           FROM (SELECT n, 'visitor-' || n || '-' || $2 || '@bench.example' AS e
                   FROM generate_series(1, $1) AS n) v
         RETURNING user_id",
    )
    .bind(i64::try_from(count)?)
    .bind(&tag)
    .fetch_all(&mut conn)
    .await?;
    sqlx::query(
        "INSERT INTO user_roles (user_id, role) SELECT u, 'user' FROM unnest($1::BIGINT[]) AS u",
    )
    .bind(&ids)
    .execute(&mut conn)
    .await?;
    Ok(ids)
}

/// One visitor, from joining to leaving with seats or without.
async fn visit(run: &Run, i: usize, token: &str) -> anyhow::Result<()> {
    let who = Visitor { index: i, token };
    let show = run.show_id;
    let (status, place) = run
        .call(
            who,
            "join",
            reqwest::Method::POST,
            &format!("/api/v1/shows/{show}/queue/join"),
            Some(&json!({})),
            &[],
        )
        .await?;
    if status != 200 {
        bail!("join answered {status}: {place}");
    }
    let queue_token = place["queue_token"].as_str().unwrap_or_default().to_owned();
    // Wait for the opening, then for the turn the place's estimate names.
    let spread = Duration::from_millis(rand::thread_rng().gen_range(0..1_000));
    tokio::time::sleep_until((run.opened + spread).into()).await;
    let (position, admitted_at, pass) = loop {
        let (status, place) = run
            .call(
                who,
                "status",
                reqwest::Method::GET,
                &format!("/api/v1/shows/{show}/queue/status"),
                None,
                &[("x-queue-token", &queue_token)],
            )
            .await?;
        if status != 200 {
            bail!("status answered {status}: {place}");
        }
        match (place["state"].as_str(), place["pass"].as_str()) {
            (Some("admitted"), Some(pass)) => {
                let position = place["position"].as_u64().unwrap_or(0);
                let expires = place["pass_expires_at"]
                    .as_str()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .context("an admitted place without pass_expires_at")?;
                let admitted = expires.timestamp_millis() - PASS_MINUTES * 60_000;
                break (position, admitted, pass.to_owned());
            }
            (Some("waiting"), _) => {
                let wait = place["estimated_wait_seconds"].as_u64().unwrap_or(1);
                let jitter: u64 = rand::thread_rng().gen_range(0..250);
                let sleep = Duration::from_secs(wait)
                    .saturating_sub(Duration::from_millis(500))
                    .clamp(Duration::from_millis(250), MAX_POLL)
                    + Duration::from_millis(jitter);
                tokio::time::sleep(sleep).await;
            }
            _ => bail!("unexpected place: {place}"),
        }
    };
    let admitted_ms = run.opened.elapsed().as_millis() as u64;
    if let Ok(mut a) = run.admissions.lock() {
        a.push((position, admitted_at, admitted_ms));
    }
    let got = buy(run, who, &pass).await?;
    if let Ok(mut o) = run.outcomes.lock() {
        if got {
            o.0.push(position)
        } else {
            o.1.push(position)
        }
    }
    Ok(())
}

/// Seat indices of `n` adjacent available seats in one row, chosen uniformly among every such
/// place, as people pick across the whole map rather than from one end; the longest run left
/// (down to one seat) when no run of `n` is; empty when nothing is free.
fn pick(statuses: &[u8], rows: u32, n: u32) -> Vec<u32> {
    let seats = rows * 100;
    let free = |i: u32| {
        let byte = statuses.get((i / 4) as usize).copied().unwrap_or(0xff);
        (byte >> (2 * (i % 4))) & 3 == 0
    };
    // While places are plenty (most of an onsale), a few random first seats find one: a first
    // seat drawn uniformly and kept only when its block fits is a uniform draw among the
    // places, as the scan below is, without reading the whole map. `perf` put the scan at 8%
    // of the machine's CPU in a stadium run, the bench client's largest cost.
    if n > 0 && seats > 0 {
        let mut rng = rand::thread_rng();
        for _ in 0..PROBES {
            let first = rng.gen_range(0..seats);
            if first % 100 + n <= 100 && (first..first + n).all(free) {
                return (first..first + n).collect();
            }
        }
    }
    // Free runs within rows, as (first seat, length).
    let mut runs: Vec<(u32, u32)> = Vec::new();
    let mut i = 0;
    // Bits 2k and 2k+1 of a word are seat k's status; both clear when it is free.
    const LOW_BITS: u64 = 0x5555_5555_5555_5555;
    while i < seats {
        if !free(i) {
            // Skip 32 seats at a time where none is free (most of the map late in an onsale).
            if i % 32 == 0 {
                let at = (i / 4) as usize;
                if let Some(word) = statuses.get(at..at + 8) {
                    let word = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
                    if (word | word >> 1) & LOW_BITS == LOW_BITS {
                        i += 32;
                        continue;
                    }
                }
            }
            i += 1;
            continue;
        }
        let start = i;
        while i < seats && free(i) && (i == start || i % 100 != 0) {
            i += 1;
        }
        runs.push((start, i - start));
    }
    let longest = runs.iter().map(|(_, len)| *len).max().unwrap_or(0);
    let take = n.min(longest);
    if take == 0 {
        return Vec::new();
    }
    // Every place a block of `take` fits, weighted by how many places each run offers.
    let places: u64 = runs
        .iter()
        .filter(|(_, len)| *len >= take)
        .map(|(_, len)| u64::from(len - take + 1))
        .sum();
    let mut k = rand::thread_rng().gen_range(0..places);
    for (start, len) in runs.into_iter().filter(|(_, len)| *len >= take) {
        let here = u64::from(len - take + 1);
        if k < here {
            let first = start + k as u32;
            return (first..first + take).collect();
        }
        k -= here;
    }
    Vec::new()
}

/// Reads the map, holds seats (picking again on a conflict) and books them. True when the
/// visitor leaves with seats.
async fn buy(run: &Run, who: Visitor<'_>, pass: &str) -> anyhow::Result<bool> {
    let show = run.show_id;
    let pass_header = [("x-queue-pass", pass)];
    let (status, _) = run
        .call_raw(
            who,
            "layout",
            reqwest::Method::GET,
            &format!("/api/v1/shows/{show}/layout"),
            None,
            &[],
        )
        .await?;
    if status != 200 {
        bail!("layout answered {status}");
    }
    let want = rand::thread_rng().gen_range(2..=4u32);
    let mut held = None;
    for _ in 0..PICKS {
        let (status, map) = run
            .call_raw(
                who,
                "availability",
                reqwest::Method::GET,
                &format!("/api/v1/shows/{show}/availability"),
                None,
                &[],
            )
            .await?;
        if status != 200 {
            bail!("availability answered {status}");
        }
        let map: Snapshot =
            serde_json::from_slice(&map).context("availability without its seats")?;
        let packed = base64::engine::general_purpose::STANDARD
            .decode(map.seats)
            .context("availability seats are not base64")?;
        let picked = pick(&packed, run.rows, want);
        if picked.is_empty() {
            return Ok(false);
        }
        let labels: Vec<String> = picked.iter().map(|s| run.label(*s)).collect();
        let body = json!({ "show_id": show, "seat_ids": labels });
        let (status, answer) = run
            .call(
                who,
                "reserve",
                reqwest::Method::POST,
                "/api/v1/book/reserve",
                Some(&body),
                &pass_header,
            )
            .await?;
        match status {
            202 => {
                held = Some(body);
                break;
            }
            409 => continue,
            _ => bail!("reserve answered {status}: {answer}"),
        }
    }
    let Some(body) = held else {
        return Ok(false);
    };
    let roll = rand::thread_rng().gen_range(0..100u32);
    if roll < 10 {
        run.call(
            who,
            "release (abandon)",
            reqwest::Method::DELETE,
            "/api/v1/book/reserve",
            Some(&body),
            &pass_header,
        )
        .await?;
        return Ok(false);
    }
    if roll < 15 {
        let mut declined = body.clone();
        declined["payment"] = json!({ "method": "card", "token": "tok_declined" });
        let key = uuid::Uuid::new_v4().to_string();
        let (status, answer) = run
            .call(
                who,
                "book (declined card)",
                reqwest::Method::POST,
                "/api/v1/book",
                Some(&declined),
                &[("x-queue-pass", pass), ("idempotency-key", &key)],
            )
            .await?;
        if status != 402 {
            bail!("a declined card answered {status}: {answer}");
        }
    }
    let key = uuid::Uuid::new_v4().to_string();
    let headers = [("x-queue-pass", pass), ("idempotency-key", key.as_str())];
    let (status, answer) = run
        .call(
            who,
            "book",
            reqwest::Method::POST,
            "/api/v1/book",
            Some(&body),
            &headers,
        )
        .await?;
    if status != 201 {
        return Ok(false);
    }
    let seats = body["seat_ids"].as_array().map_or(0, Vec::len) as u64;
    let booking_id = answer["booking_id"]
        .as_i64()
        .context("a 201 without booking_id")?;
    if let Ok(mut c) = run.confirmed.lock() {
        c.push((booking_id, seats));
    }
    let sold = run.sold.fetch_add(seats, Ordering::Relaxed) + seats;
    for (at, share) in run.milestones_ms.iter().zip(MILESTONES) {
        let mark = run.seats_total * share / 100;
        if sold >= mark && sold - seats < mark {
            at.store(run.opened.elapsed().as_millis() as u64, Ordering::Relaxed);
        }
    }
    if sold >= run.seats_total {
        run.sold_out_ms
            .store(run.opened.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
    if roll >= 90 {
        let (status, again) = run
            .call(
                who,
                "book (same key again)",
                reqwest::Method::POST,
                "/api/v1/book",
                Some(&body),
                &headers,
            )
            .await?;
        if status != 200 || again["booking_id"] != answer["booking_id"] {
            bail!("a replay answered {status}: {again}");
        }
    }
    Ok(true)
}

/// The shares of the seats (percent) whose selling moment the report gives.
const MILESTONES: [u64; 3] = [50, 90, 99];

fn report(run: &Run, total: Duration, failed: u64) -> anyhow::Result<()> {
    let opened_for = run.opened.elapsed().as_secs_f64();
    let mut samples = run
        .steps
        .samples
        .lock()
        .map_err(|_| anyhow::anyhow!("samples poisoned"))?;
    println!("steps (requests, requests/s over the {opened_for:.1} s since opening, latency):");
    for (step, s) in samples.iter_mut() {
        let n = s.0.len();
        println!(
            "  {step}: {n}, {:.0}/s, {}",
            n as f64
                / if *step == "join" {
                    total.as_secs_f64()
                } else {
                    opened_for
                },
            s.summary()
        );
    }
    println!("answers:");
    for (answer, n) in run
        .steps
        .answers
        .lock()
        .map_err(|_| anyhow::anyhow!("answers poisoned"))?
        .iter()
    {
        let (step, status, code) = answer;
        println!("  {}: {n}", format!("{step} {status} {code}").trim_end());
    }
    let sold = run.sold.load(Ordering::Relaxed);
    let sold_out_ms = run.sold_out_ms.load(Ordering::Relaxed);
    let mut admissions = run.admissions.lock().map(|a| a.clone()).unwrap_or_default();
    admissions.sort_unstable();
    let first_admit = admissions.iter().map(|(_, _, t)| *t).min().unwrap_or(0);
    if sold >= run.seats_total {
        println!(
            "SOLD OUT: {sold} seats in {:.1} s after opening ({:.1} s after the first admission), {:.0} seats/s",
            sold_out_ms as f64 / 1000.0,
            sold_out_ms.saturating_sub(first_admit) as f64 / 1000.0,
            sold as f64 * 1000.0 / sold_out_ms.saturating_sub(first_admit).max(1) as f64
        );
    } else {
        println!("not sold out: {sold} of {} seats sold", run.seats_total);
    }
    let marks: Vec<String> = run
        .milestones_ms
        .iter()
        .zip(MILESTONES)
        .filter(|(at, _)| at.load(Ordering::Relaxed) > 0)
        .map(|(at, share)| {
            let at = at.load(Ordering::Relaxed).saturating_sub(first_admit);
            format!("{share}% in {:.1} s", at as f64 / 1000.0)
        })
        .collect();
    if !marks.is_empty() {
        println!("sold (after the first admission): {}", marks.join(", "));
    }
    // Fairness: one line without gaps, admitted by the line in its order, and visitors who
    // came to buy in that order (the second includes this client's own scheduling). A pass
    // read after the line ran empty carries the instant its clock restarted, not the earlier
    // one of its admission, which lowers the first figure a little.
    let positions: Vec<u64> = admissions.iter().map(|(p, _, _)| *p).collect();
    let line_ok = positions
        .iter()
        .enumerate()
        .all(|(k, p)| *p == k as u64 + 1);
    let ranks: Vec<f64> = (0..admissions.len()).map(|k| k as f64).collect();
    let admitted: Vec<f64> = admissions.iter().map(|(_, a, _)| *a as f64).collect();
    let seen: Vec<f64> = admissions.iter().map(|(_, _, t)| *t as f64).collect();
    println!(
        "fairness: {} admitted; positions 1..{} {}; Spearman of queue order against admission {:.4}, against the moment each visitor came to buy {:.4}",
        admissions.len(),
        positions.len(),
        if line_ok { "with no gap or repeat" } else { "HAVE GAPS OR REPEATS" },
        spearman(&ranks, &admitted),
        spearman(&ranks, &seen)
    );
    let (mut with, mut without) = run.outcomes.lock().map(|o| o.clone()).unwrap_or_default();
    with.sort_unstable();
    without.sort_unstable();
    let median = |v: &[u64]| v.get(v.len() / 2).copied().unwrap_or(0);
    println!(
        "who got seats: {} visitors, median position {}; left without: {} (abandoned, or nothing left they wanted), median position {}",
        with.len(),
        median(&with),
        without.len(),
        median(&without)
    );
    if failed > 0 {
        println!("visitors stopped by an unexpected answer: {failed}");
    }
    if !line_ok {
        bail!("the line has gaps or repeats");
    }
    Ok(())
}

/// Spearman's rank correlation of two series (ties get their mean rank).
fn spearman(a: &[f64], b: &[f64]) -> f64 {
    fn ranks(v: &[f64]) -> Vec<f64> {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|x, y| v[*x].total_cmp(&v[*y]));
        let mut r = vec![0.0; v.len()];
        let mut k = 0;
        while k < idx.len() {
            let mut j = k;
            while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[k]] {
                j += 1;
            }
            for m in k..=j {
                r[idx[m]] = (k + j) as f64 / 2.0;
            }
            k = j + 1;
        }
        r
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let n = ra.len() as f64;
    if n < 2.0 {
        return 1.0;
    }
    let mean = (n - 1.0) / 2.0;
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        cov += (x - mean) * (y - mean);
        va += (x - mean).powi(2);
        vb += (y - mean).powi(2);
    }
    cov / (va.sqrt() * vb.sqrt()).max(f64::EPSILON)
}

/// The invariants, read from the database.
async fn audit(
    url: &str,
    show_id: i64,
    since: chrono::DateTime<chrono::Utc>,
    confirmed: &[(i64, u64)],
) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let scalar = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql).bind(show_id);
    let sold = scalar("SELECT COUNT(*) FROM inventory WHERE show_id = $1 AND status = 'sold'")
        .fetch_one(&mut conn)
        .await?;
    let tickets = scalar(
        "SELECT COUNT(*) FROM tickets t JOIN bookings b ON b.booking_id = t.booking_id
          WHERE t.show_id = $1 AND t.status = 'valid' AND b.status = 'confirmed'",
    )
    .fetch_one(&mut conn)
    .await?;
    let booked = scalar(
        "SELECT CAST(COALESCE(SUM(seat_count), 0) AS BIGINT) FROM bookings
          WHERE show_id = $1 AND status = 'confirmed'",
    )
    .fetch_one(&mut conn)
    .await?;
    let doubles = scalar(
        "SELECT COUNT(*) FROM (SELECT seat_id FROM tickets WHERE show_id = $1 AND status = 'valid'
          GROUP BY seat_id HAVING COUNT(*) > 1) d",
    )
    .fetch_one(&mut conn)
    .await?;
    let unpaid = scalar(
        "SELECT COUNT(*) FROM bookings b WHERE b.show_id = $1 AND b.status = 'confirmed' AND NOT EXISTS
          (SELECT 1 FROM payments p WHERE p.booking_id = b.booking_id AND p.status = 'captured')",
    )
    .fetch_one(&mut conn)
    .await?;
    let orphan_payments = scalar(
        "SELECT COUNT(*) FROM payments p JOIN bookings b ON b.booking_id = p.booking_id
          WHERE b.show_id = $1 AND p.status = 'captured' AND b.status <> 'confirmed'",
    )
    .fetch_one(&mut conn)
    .await?;
    // The provider's side: money taken during the run that no confirmed booking accounts for.
    let orphan_captures: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sandbox_ledger l WHERE l.state = 'captured' AND l.created_at >= $1
            AND NOT EXISTS (SELECT 1 FROM payments p JOIN bookings b ON b.booking_id = p.booking_id
                             WHERE p.transaction_id = l.transaction_id AND b.status = 'confirmed')",
    )
    .bind(since)
    .fetch_one(&mut conn)
    .await?;
    let ids: Vec<i64> = confirmed.iter().map(|(id, _)| *id).collect();
    let found: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM bookings WHERE booking_id = ANY($1) AND show_id = $2 AND status = 'confirmed'",
    )
    .bind(&ids)
    .bind(show_id)
    .fetch_one(&mut conn)
    .await?;
    let answered: u64 = confirmed.iter().map(|(_, n)| *n).sum();
    println!(
        "audit: seats sold {sold} = tickets issued {tickets} = confirmed bookings' seats {booked} = 201s' seats {answered}; \
         201s with their booking {found} of {}; seats in two tickets {doubles}; confirmed bookings without a captured payment {unpaid}; \
         captured payments without a confirmed booking {orphan_payments}, captures at the provider without one {orphan_captures}",
        ids.len()
    );
    if sold != tickets
        || sold != booked
        || u64::try_from(sold).unwrap_or(0) != answered
        || found != ids.len() as i64
        || doubles != 0
        || unpaid != 0
        || orphan_payments != 0
        || orphan_captures != 0
    {
        bail!("audit failed");
    }
    println!("audit clean");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packed(statuses: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; statuses.len().div_ceil(4)];
        for (i, s) in statuses.iter().enumerate() {
            out[i / 4] |= s << (2 * (i % 4));
        }
        out
    }

    #[test]
    fn a_pick_is_adjacent_free_seats_of_one_row() {
        let mut statuses = vec![2u8; 200];
        // Row 0: seats 98 and 99 free (the row's end); row 1: seats 0..=2 free.
        statuses[98] = 0;
        statuses[99] = 0;
        for s in &mut statuses[100..103] {
            *s = 0;
        }
        for _ in 0..50 {
            assert_eq!(pick(&packed(&statuses), 2, 3), vec![100, 101, 102]);
            let two = pick(&packed(&statuses), 2, 2);
            assert!(
                two == vec![98, 99] || two == vec![100, 101] || two == vec![101, 102],
                "{two:?}"
            );
        }
        statuses[100..103].copy_from_slice(&[1, 2, 3]);
        assert_eq!(pick(&packed(&statuses), 2, 4), vec![98, 99]);
        statuses[98] = 2;
        statuses[99] = 2;
        assert!(pick(&packed(&statuses), 2, 2).is_empty());
    }

    #[test]
    fn a_pick_finds_free_seats_among_whole_words_of_sold_ones() {
        // 50 rows sold out but for a few seats on both sides of the 32-seat words it skips.
        let mut statuses = vec![2u8; 5_000];
        let free = [0usize, 31, 32, 33, 1_999, 2_047, 2_048, 4_960, 4_999];
        for &f in &free {
            statuses[f] = 0;
        }
        statuses[31..34].copy_from_slice(&[1, 0, 3]);
        let map = packed(&statuses);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..400 {
            let one = pick(&map, 50, 1);
            assert_eq!(one.len(), 1);
            assert_eq!(statuses[one[0] as usize], 0, "{one:?} is not free");
            seen.insert(one[0] as usize);
        }
        let want: std::collections::BTreeSet<usize> =
            free.iter().copied().filter(|&f| statuses[f] == 0).collect();
        assert_eq!(seen, want);
    }

    /// The draw among places is uniform whether the random probes find one or the scan does:
    /// on a row whose free runs offer a few places, every place comes up about as often.
    #[test]
    fn a_pick_draws_every_place_about_as_often() {
        for free_runs in [&[(10u32, 4u32), (50, 3), (96, 4)][..], &[(0, 100)][..]] {
            let mut statuses = vec![2u8; 100];
            for &(start, len) in free_runs {
                for s in &mut statuses[start as usize..(start + len) as usize] {
                    *s = 0;
                }
            }
            let places: Vec<u32> = (0..=98)
                .filter(|&f| statuses[f as usize] == 0 && statuses[f as usize + 1] == 0)
                .collect();
            let map = packed(&statuses);
            let draws = 400 * places.len();
            let mut count = std::collections::BTreeMap::new();
            for _ in 0..draws {
                let two = pick(&map, 1, 2);
                assert_eq!(two.len(), 2);
                assert_eq!(two[1], two[0] + 1);
                *count.entry(two[0]).or_insert(0usize) += 1;
            }
            assert_eq!(count.keys().copied().collect::<Vec<_>>(), places);
            for (first, n) in count {
                assert!(
                    (250..=550).contains(&n),
                    "place {first} drawn {n} of {draws} times"
                );
            }
        }
    }

    #[test]
    fn spearman_is_one_for_the_same_order_and_minus_one_reversed() {
        let a = [1.0, 2.0, 3.0, 4.0];
        assert!((spearman(&a, &[10.0, 20.0, 30.0, 40.0]) - 1.0).abs() < 1e-9);
        assert!((spearman(&a, &[4.0, 3.0, 2.0, 1.0]) + 1.0).abs() < 1e-9);
    }
}
