//! `boxoffice bench --memory --server-pid PID`: what bursts cost the server in memory, and
//! whether it gives the memory back.
//!
//! 1. 64 logins at once, twice (Argon2id holds ~19 MiB each while it runs; hashing is bounded
//!    by `--password-hash-concurrency`, the rest queue or get 503).
//! 2. `--concurrency` readers of the seat map of a `--seats` show for `--seconds` seconds.
//! 3. Five idle seconds, then the RSS again.
//!
//! RSS is sampled every 20 ms; the report gives it before, at the peak of each burst and after.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;

use super::{live_show, BenchConfig, Client};

/// The server's resident set size in MiB.
pub(crate) fn rss_mib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS line")?;
    Ok(kib / 1024.0)
}

/// CPU seconds (user and system) process `pid` has used so far: `/proc/<pid>/stat`'s `utime`
/// and `stime`, in Linux's fixed 100 ticks a second.
pub(crate) fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
    // The command name (field 2) is in parentheses and may hold spaces: count from after it,
    // where field 3 is the first.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |field: usize| -> anyhow::Result<f64> {
        fields
            .get(field - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .with_context(|| format!("no field {field} in /proc/{pid}/stat"))
    };
    Ok((ticks(14)? + ticks(15)?) / 100.0)
}

/// Samples the RSS until dropped; `peak()` is the highest seen.
struct PeakWatch {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl PeakWatch {
    fn start(pid: u32) -> Self {
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        tokio::spawn(async move {
            while !s.load(Ordering::Relaxed) {
                if let Ok(mib) = rss_mib(pid) {
                    p.fetch_max((mib * 10.0) as u64, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        Self { peak, stop }
    }

    fn peak(&self) -> f64 {
        self.peak.load(Ordering::Relaxed) as f64 / 10.0
    }
}

impl Drop for PeakWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

pub async fn run(config: &BenchConfig) -> anyhow::Result<()> {
    let pid = config.server_pid.context("--server-pid is required")?;
    let client = Arc::new(Client {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(config.concurrency.max(64))
            .timeout(Duration::from_secs(60))
            .build()?,
        base: config.url.trim_end_matches('/').to_owned(),
    });
    let start = rss_mib(pid)?;
    println!("server RSS at start: {start:.1} MiB");

    // Logins.
    let email = format!("mem-{}@example.com", uuid::Uuid::new_v4().simple());
    client
        .expect(
            reqwest::Method::POST,
            "/api/v1/auth/register",
            None,
            json!({ "email": email, "password": "bench-password-1", "name": "Mem" }),
            201,
        )
        .await?;
    let watch = PeakWatch::start(pid);
    let started = Instant::now();
    let mut statuses = std::collections::BTreeMap::<u16, u32>::new();
    for _ in 0..2 {
        let logins = (0..64).map(|_| {
            let client = client.clone();
            let email = email.clone();
            async move {
                client
                    .call(
                        reqwest::Method::POST,
                        "/api/v1/auth/login",
                        None,
                        Some(&json!({ "email": email, "password": "bench-password-1" })),
                        None,
                    )
                    .await
                    .map(|(status, _)| status)
                    .unwrap_or(0)
            }
        });
        for status in futures_util::future::join_all(logins).await {
            *statuses.entry(status).or_default() += 1;
        }
    }
    println!(
        "128 logins (64 at once, twice) in {:.1} s: answers {statuses:?}; peak RSS {:.1} MiB",
        started.elapsed().as_secs_f64(),
        watch.peak()
    );
    drop(watch);

    // Seat-map readers.
    let rows = config.seats.div_ceil(100).max(1);
    let (_, show_id, _) = live_show(&client, rows, "Memory").await?;
    let before_reads = rss_mib(pid)?;
    let watch = PeakWatch::start(pid);
    let deadline = Instant::now() + Duration::from_secs(config.seconds);
    let (reads, bytes) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let readers = (0..config.concurrency).map(|_| {
        let (client, reads, bytes) = (client.clone(), reads.clone(), bytes.clone());
        async move {
            while Instant::now() < deadline {
                let url = format!("{}/api/v1/shows/{show_id}/seats", client.base);
                if let Ok(res) = client.http.get(url).send().await {
                    if let Ok(body) = res.bytes().await {
                        bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                        reads.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    });
    futures_util::future::join_all(readers).await;
    let reads = reads.load(Ordering::Relaxed);
    let size = bytes.load(Ordering::Relaxed) / reads.max(1);
    println!(
        "{} readers of a {}-seat map ({:.2} MB each) for {} s: {} reads ({:.1}/s); RSS {before_reads:.1} MiB before, peak {:.1} MiB",
        config.concurrency,
        rows * 100,
        size as f64 / 1e6,
        config.seconds,
        reads,
        reads as f64 / config.seconds.max(1) as f64,
        watch.peak()
    );
    drop(watch);
    tokio::time::sleep(Duration::from_secs(5)).await;
    println!("server RSS 5 s after the load: {:.1} MiB", rss_mib(pid)?);
    Ok(())
}
