//! `boxoffice bench --queue`: the waiting room and the rate limits under load.
//!
//! 1. Over HTTP against the running server (started with `--rate-limits false`, since every
//!    request comes from one address): a live show with its room on, `--users` virtual visitors
//!    whose tokens are minted with the deployment's JWT secret (`--jwt-secret`; registration's
//!    cost is argon2 and is measured elsewhere) join it, then read their places; requests/s
//!    and latency of each, beside `/healthz` hammered the same way.
//! 2. Straight on the deployment's Redis (`--redis-url`), through the same line code the nodes
//!    run: `--prequeue` waiters join a room that has not opened, the room opens, and the time
//!    the opening step takes (it fixes the order), a waiter's status after it, and Redis's
//!    memory per waiter.
//! 3. The cost of one rate-limit decision on that Redis, alone and with `--concurrency` at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use tokio::sync::Mutex;

use super::{draft_show, BenchConfig, Client, Samples};
use crate::auth::tokens::TokenKeys;
use crate::holds::RedisHolds;
use crate::limits::{Class, Limiter, RateLimitConfig};
use crate::queue::line::{Line, RedisLine, RoomConfig, Step};

pub async fn run(config: &BenchConfig) -> anyhow::Result<()> {
    let client = Client::for_scenario(config)?;
    let secret = config
        .jwt_secret
        .as_deref()
        .context("--queue needs --jwt-secret (the server's BOXOFFICE_JWT_SECRET)")?;
    let keys = Arc::new(TokenKeys::new(secret.as_bytes(), 3600));
    let (organiser, show_id) = draft_show(&client, 10, "Queue").await?;
    for (method, path, body) in [
        (
            reqwest::Method::POST,
            format!("/api/v1/shows/{show_id}/launch"),
            json!({}),
        ),
        (
            reqwest::Method::PATCH,
            format!("/api/v1/shows/{show_id}"),
            json!({ "queue": { "enabled": true, "admit_per_minute": 1_000_000 } }),
        ),
    ] {
        client
            .expect(method, &path, Some(&organiser), body, 200)
            .await?;
    }
    println!(
        "waiting room: show {show_id}, {} virtual visitors",
        config.users
    );

    let users = config.users.max(1) as i64;
    let base_user = 1_000_000_000 + i64::from(rand::random::<u16>()) * 1_000_000;
    let next = Arc::new(AtomicU64::new(0));
    let samples = Arc::new(Mutex::new(Samples::default()));
    let places: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..config.concurrency {
        let (client, keys, next, samples) = (
            Client {
                http: client.http.clone(),
                base: client.base.clone(),
            },
            keys.clone(),
            next.clone(),
            samples.clone(),
        );
        let places = places.clone();
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as i64;
                if i >= users {
                    break;
                }
                let token = keys.issue(base_user + i, &[], chrono::Utc::now().timestamp())?;
                let t = Instant::now();
                let (status, body) = client
                    .call(
                        reqwest::Method::POST,
                        &format!("/api/v1/shows/{show_id}/queue/join"),
                        Some(&token),
                        Some(&json!({})),
                        None,
                    )
                    .await?;
                mine.push(t.elapsed().as_micros() as u64);
                anyhow::ensure!(status == 200, "join answered {status}: {body}");
                if i < PLACES as i64 {
                    let place = body["queue_token"].as_str().unwrap_or_default().to_owned();
                    places.lock().await.push((token, place));
                }
            }
            samples.lock().await.0.extend(mine);
            Ok::<_, anyhow::Error>(())
        }));
    }
    for w in workers {
        w.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "joins: {users} in {elapsed:.1} s = {:.0}/s, {}",
        users as f64 / elapsed,
        samples.lock().await.summary()
    );

    if config.tokens > 0 {
        let fresh = base_user + users;
        let mut out = String::with_capacity(config.tokens * 200);
        for i in 0..config.tokens as i64 {
            out.push_str(&keys.issue(fresh + i, &[], chrono::Utc::now().timestamp())?);
            out.push('\n');
        }
        std::fs::write(&config.tokens_out, out)
            .with_context(|| format!("cannot write {}", config.tokens_out.display()))?;
        println!(
            "wrote {} tokens of visitors who have not joined show {show_id} to {}",
            config.tokens,
            config.tokens_out.display()
        );
    }
    let places: Arc<Vec<(String, String)>> = Arc::new(std::mem::take(&mut *places.lock().await));
    if config.tokens > 0 {
        let mut out = String::new();
        for (jwt, place) in places.iter() {
            out.push_str(&format!("{jwt} {place}\n"));
        }
        let path = config.tokens_out.with_extension("places.txt");
        std::fs::write(&path, out).with_context(|| format!("cannot write {}", path.display()))?;
        println!(
            "wrote {} (token, queue token) pairs of joined visitors to {}",
            places.len(),
            path.display()
        );
    }
    let tokens = Arc::new(
        places
            .iter()
            .map(|(jwt, _)| jwt.clone())
            .collect::<Vec<_>>(),
    );
    let status_path = format!("/api/v1/shows/{show_id}/queue/status");
    let reads = hammer(config, &client, &status_path, Some((tokens.clone(), None))).await?;
    let by_token = hammer(
        config,
        &client,
        &status_path,
        Some((tokens.clone(), Some(places.clone()))),
    )
    .await?;
    let health = hammer(config, &client, "/healthz", None).await?;
    println!(
        "status reads: {:.0}/s, {} | with the queue token: {:.0}/s, {} | /healthz: {:.0}/s, {} | ratios {:.2}, {:.2}",
        reads.0,
        reads.1,
        by_token.0,
        by_token.1,
        health.0,
        health.1,
        reads.0 / health.0.max(1.0),
        by_token.0 / health.0.max(1.0)
    );

    if let Some(url) = &config.redis_url {
        prequeue(config, url).await?;
        limit_cost(config, url).await?;
    }
    Ok(())
}

/// Requests/s and latency of `path` for `config.seconds` with `config.concurrency` workers,
/// each request signed with one of `tokens` in turn.
async fn hammer(
    config: &BenchConfig,
    client: &Client,
    path: &str,
    tokens: Option<Signed>,
) -> anyhow::Result<(f64, String)> {
    let done = Arc::new(AtomicU64::new(0));
    let samples = Arc::new(Mutex::new(Samples::default()));
    let until = Instant::now() + Duration::from_secs(config.seconds);
    let mut workers = Vec::new();
    for w in 0..config.concurrency {
        let (http, url, tokens, done, samples) = (
            client.http.clone(),
            format!("{}{path}", client.base),
            tokens.clone(),
            done.clone(),
            samples.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            let mut k = w;
            while Instant::now() < until {
                let mut req = http.get(&url);
                if let Some((tokens, places)) = &tokens {
                    req = req.bearer_auth(&tokens[k % tokens.len()]);
                    if let Some(places) = places {
                        req = req.header("x-queue-token", &places[k % places.len()].1);
                    }
                    k += config_stride();
                }
                let t = Instant::now();
                let res = req.send().await?;
                let ok = res.status().is_success();
                let _ = res.bytes().await?;
                mine.push(t.elapsed().as_micros() as u64);
                anyhow::ensure!(ok, "{url} failed");
                done.fetch_add(1, Ordering::Relaxed);
            }
            samples.lock().await.0.extend(mine);
            Ok::<_, anyhow::Error>(())
        }));
    }
    let started = Instant::now();
    for w in workers {
        w.await??;
    }
    let rate = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    let summary = samples.lock().await.summary();
    Ok((rate, summary))
}

/// Visitors' tokens, and with them their queue tokens (same order) when status reads send them.
type Signed = (Arc<Vec<String>>, Option<Arc<Vec<(String, String)>>>);

/// Visitors whose queue tokens the bench keeps for its status reads.
const PLACES: usize = 5_000;

fn config_stride() -> usize {
    97
}

async fn redis_line(url: &str, prefix: &str) -> anyhow::Result<(RedisHolds, Line)> {
    let holds = RedisHolds::connect(url, prefix, "bench", Duration::from_secs(5))
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to Redis: {e}"))?;
    let (conn, timeout, prefix) = holds.connection();
    let line = Line::Redis(RedisLine::new(conn, prefix, timeout));
    Ok((holds, line))
}

async fn used_memory(holds: &RedisHolds) -> anyhow::Result<u64> {
    let (mut conn, _, _) = holds.connection();
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut conn)
        .await?;
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .context("no used_memory in INFO")
}

/// `--prequeue` waiters join a room before it opens; then it opens.
async fn prequeue(config: &BenchConfig, url: &str) -> anyhow::Result<()> {
    let prefix = format!("bench-q-{}", uuid::Uuid::new_v4().simple());
    let (holds, line) = redis_line(url, &prefix).await?;
    let show_id = 1;
    let far = chrono::Utc::now().timestamp_millis() + 3_600_000;
    let waiting = RoomConfig {
        show_id,
        opens_ms: Some(far),
        per_minute: 1_000,
    };
    let before = used_memory(&holds).await?;
    let n = config.prequeue as i64;
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..256 {
        let (line, next) = (line.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as i64;
                if i >= n {
                    break;
                }
                line.step(&waiting, Some(i + 1), Step::Join)
                    .await
                    .map_err(|e| anyhow::anyhow!("join: {e}"))?;
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for w in workers {
        w.await??;
    }
    let joined_in = started.elapsed().as_secs_f64();
    let after = used_memory(&holds).await?;
    println!(
        "pre-queue: {n} waiters joined in {joined_in:.1} s ({:.0}/s, straight on Redis); Redis memory {:.1} MiB, {:.0} B a waiter",
        n as f64 / joined_in,
        after.saturating_sub(before) as f64 / 1_048_576.0,
        after.saturating_sub(before) as f64 / n.max(1) as f64
    );
    // Opening: the first step after `opens_at` fixes the pre-queue and starts the clock.
    let open = RoomConfig {
        opens_ms: Some(chrono::Utc::now().timestamp_millis()),
        ..waiting
    };
    let t = Instant::now();
    let reading = line
        .step(&open, None, Step::Read)
        .await
        .map_err(|e| anyhow::anyhow!("open: {e}"))?;
    let opening = t.elapsed();
    anyhow::ensure!(
        reading.pre == Some(n as u64),
        "pre-queue of {:?}",
        reading.pre
    );
    let mut places = Samples::default();
    let mut seen = std::collections::HashSet::new();
    for k in 0..1_000i64 {
        let user = 1 + (k * 7_919) % n.max(1);
        let t = Instant::now();
        let r = line
            .step(&open, Some(user), Step::Read)
            .await
            .map_err(|e| anyhow::anyhow!("status: {e}"))?;
        let place = r.seq.and_then(|s| r.position(s)).context("a place")?;
        places.0.push(t.elapsed().as_micros() as u64);
        anyhow::ensure!(
            place >= 1 && place <= n as u64 && seen.insert(place),
            "place {place}"
        );
    }
    println!(
        "opening: {n} waiters ordered in {:.2} ms (one step: the order is a seeded permutation); then a waiter's place: {}",
        opening.as_secs_f64() * 1000.0,
        places.summary()
    );
    line.reset(show_id)
        .await
        .map_err(|e| anyhow::anyhow!("reset: {e}"))?;
    Ok(())
}

/// What one rate-limit decision costs on Redis.
async fn limit_cost(config: &BenchConfig, url: &str) -> anyhow::Result<()> {
    let prefix = format!("bench-rl-{}", uuid::Uuid::new_v4().simple());
    let (holds, _) = redis_line(url, &prefix).await?;
    let mut limits = RateLimitConfig::defaults();
    limits.limit_api_user = 1_000_000;
    limits.limit_api_ip = 1_000_000;
    let limiter = Arc::new(Limiter::new(limits, Some(holds.connection())));
    let mut alone = Samples::default();
    for i in 0..10_000i64 {
        let t = Instant::now();
        let d = limiter
            .check(
                Class::Api,
                Some(i % 500),
                std::net::IpAddr::from([10, 0, (i % 200) as u8, 1]),
            )
            .await;
        alone.0.push(t.elapsed().as_micros() as u64);
        anyhow::ensure!(d.is_some_and(|d| d.allowed), "refused");
    }
    let samples = Arc::new(Mutex::new(Samples::default()));
    let until = Instant::now() + Duration::from_secs(config.seconds.min(5));
    let count = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for w in 0..config.concurrency {
        let (limiter, samples, count) = (limiter.clone(), samples.clone(), count.clone());
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            let mut i = w as i64;
            while Instant::now() < until {
                let t = Instant::now();
                let _ = limiter
                    .check(
                        Class::Api,
                        Some(i % 5_000),
                        std::net::IpAddr::from([10, 1, (i % 250) as u8, 1]),
                    )
                    .await;
                mine.push(t.elapsed().as_micros() as u64);
                i += 64;
            }
            count.fetch_add(mine.len() as u64, Ordering::Relaxed);
            samples.lock().await.0.extend(mine);
        }));
    }
    let started = Instant::now();
    for w in workers {
        w.await?;
    }
    let rate = count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    println!(
        "rate-limit decision (user and address, two GCRA steps at once): alone {} | {} at once: {rate:.0} decisions/s, {}",
        alone.summary(),
        config.concurrency,
        samples.lock().await.summary()
    );
    Ok(())
}
