//! `boxoffice bench --live`: the read side of an onsale on one node.
//!
//! 1. Setup (not measured): a show of `--seats` seats (rows of 100), `--taken` of them taken by
//!    buyers of 100 seats each (half bought, half held), and the sizes on the wire of the layout
//!    and the availability (gzip, as browsers ask).
//! 2. Availability reads: `--concurrency` readers for `--seconds` seconds (gzip accepted), then
//!    `/healthz` the same way, for the ratio; requests/s and latency percentiles of each.
//! 3. The stream: `--stream-clients` server-sent-event clients on the show (100 of them parse
//!    every event, the others read and discard), while a changer holds and releases seats at
//!    `--changes-per-second`; reports the delay from a change's request to its event at the
//!    parsing clients, and the server's RSS (`--server-pid`) with every client connected.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::memory::rss_mib;
use super::{live_show, row_label, BenchConfig, Client, Samples};

/// Clients that parse every event and measure delays.
const OBSERVERS: usize = 100;

pub async fn run(config: &BenchConfig) -> anyhow::Result<()> {
    let nofile = crate::http::serve::raise_open_files_limit();
    let client = Client::for_scenario(config)?;
    let rows = config.seats.div_ceil(100).max(1);
    println!(
        "live availability: {} seats, {} taken, open-files limit {nofile}",
        rows * 100,
        config.taken
    );
    let (_, show_id, _) = live_show(&client, rows, "Live").await?;
    take_seats(&client, show_id, config.taken.min(rows * 100)).await?;
    let layout = wire_size(&client, &format!("/api/v1/shows/{show_id}/layout")).await?;
    let availability = wire_size(&client, &format!("/api/v1/shows/{show_id}/availability")).await?;
    println!(
        "sizes: layout {} B ({} B uncompressed), availability {} B ({} B uncompressed)",
        layout.0, layout.1, availability.0, availability.1
    );

    let reads = hammer(config, &format!("/api/v1/shows/{show_id}/availability")).await?;
    let health = hammer(config, "/healthz").await?;
    println!(
        "availability: {:.0} req/s, {} | /healthz: {:.0} req/s, {} | ratio {:.2}",
        reads.0,
        reads.1,
        health.0,
        health.1,
        reads.0 / health.0.max(1.0)
    );
    if config.stream_clients > 0 {
        stream(config, &client, show_id, rows).await?;
    }
    Ok(())
}

/// Takes `taken` seats from the front rows with buyers of 100 seats each: every other buyer
/// books theirs, the others keep them held.
async fn take_seats(client: &Client, show_id: i64, taken: u32) -> anyhow::Result<()> {
    let started = Instant::now();
    let buyers = taken.div_ceil(100);
    for b in 0..buyers {
        let token = client.user(&["user"]).await?;
        let n = (taken - b * 100).min(100);
        let seats: Vec<String> = (1..=n).map(|i| format!("{}{i}", row_label(b))).collect();
        let body = json!({ "show_id": show_id, "seat_ids": seats });
        client
            .expect(
                reqwest::Method::POST,
                "/api/v1/book/reserve",
                Some(&token),
                body.clone(),
                202,
            )
            .await?;
        if b % 2 == 0 {
            let key = format!("live-{b}");
            let (status, value) = client
                .call(
                    reqwest::Method::POST,
                    "/api/v1/book",
                    Some(&token),
                    Some(&body),
                    Some(&key),
                )
                .await?;
            anyhow::ensure!(status == 201, "booking failed: {status} {value}");
        }
    }
    println!(
        "setup: {taken} seats taken by {buyers} buyers in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Bytes on the wire with gzip accepted, and uncompressed.
async fn wire_size(client: &Client, path: &str) -> anyhow::Result<(usize, usize)> {
    let url = format!("{}{path}", client.base);
    let raw = reqwest::Client::builder().no_gzip().build()?;
    let gz = raw
        .get(&url)
        .header("accept-encoding", "gzip")
        .send()
        .await?
        .bytes()
        .await?
        .len();
    let plain = raw.get(&url).send().await?.bytes().await?.len();
    Ok((gz, plain))
}

/// `--concurrency` workers reading `path` for `--seconds`; requests/s and latencies.
async fn hammer(config: &BenchConfig, path: &str) -> anyhow::Result<(f64, String)> {
    let http = reqwest::Client::builder()
        .no_gzip()
        .pool_max_idle_per_host(config.concurrency)
        .build()?;
    let url = format!("{}{path}", config.url.trim_end_matches('/'));
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let samples = Arc::new(Mutex::new(Samples::default()));
    let mut workers = Vec::new();
    for _ in 0..config.concurrency {
        let (http, url, stop, count, samples) = (
            http.clone(),
            url.clone(),
            stop.clone(),
            count.clone(),
            samples.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let ok = match http
                    .get(&url)
                    .header("accept-encoding", "gzip")
                    .send()
                    .await
                {
                    Ok(res) => res.status().is_success() && res.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if ok {
                    mine.push(t.elapsed().as_micros() as u64);
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
            samples
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .0
                .extend(mine);
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(config.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    let rate = count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    let summary = samples.lock().unwrap_or_else(|p| p.into_inner()).summary();
    Ok((rate, summary))
}

/// Opens the stream clients, runs the changer, reports delays and RSS.
async fn stream(
    config: &BenchConfig,
    client: &Client,
    show_id: i64,
    rows: u32,
) -> anyhow::Result<()> {
    let addr = config
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let path = format!("/api/v1/shows/{show_id}/seats/stream");
    let stop = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicU64::new(0));
    let connected = Arc::new(AtomicU64::new(0));
    // (seat index, whether it became held) → when that change was requested: a hold's event
    // that arrives after the release was asked for is still timed from the hold.
    let sent: Arc<Mutex<HashMap<(u64, bool), Instant>>> = Arc::default();
    let delays = Arc::new(Mutex::new(Samples::default()));
    let opened = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..config.stream_clients {
        let (addr, path, stop, received, connected) = (
            addr.clone(),
            path.clone(),
            stop.clone(),
            received.clone(),
            connected.clone(),
        );
        // Observers spread over the connection order, so the figure covers the last clients a
        // flush reaches as well as the first.
        let spread = (config.stream_clients / OBSERVERS).max(1);
        let observe = (i % spread == 0).then(|| (sent.clone(), delays.clone()));
        tasks.push(tokio::spawn(async move {
            let _ = listen(&addr, &path, stop, received, connected, observe).await;
        }));
        if i % 500 == 499 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let want = config.stream_clients as u64;
    while connected.load(Ordering::Relaxed) < want && opened.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let up = connected.load(Ordering::Relaxed);
    println!(
        "stream: {up} of {want} clients connected in {:.1} s",
        opened.elapsed().as_secs_f64()
    );
    let rss_idle = config.server_pid.map(rss_mib).transpose()?;

    // The changers: each holds and releases 10 seats at a time in its own back rows (20
    // changes a pair), together at `--changes-per-second`.
    const CHANGERS: u32 = 8;
    let pairs_per_second = (config.changes_per_second / 20).max(1);
    let every = Duration::from_secs_f64(f64::from(CHANGERS) / f64::from(pairs_per_second));
    let started = Instant::now();
    let made = Arc::new(AtomicU64::new(0));
    let mut changers = Vec::new();
    let stripe = (rows / 2 / CHANGERS).max(1);
    for c in 0..CHANGERS {
        let token = client.user(&["user"]).await?;
        let http = client.http.clone();
        let base_url = client.base.clone();
        let (sent, made) = (sent.clone(), made.clone());
        let seconds = config.seconds;
        changers.push(tokio::spawn(async move {
            let changer = Client {
                http,
                base: base_url,
            };
            let mut k = 0u32;
            let mut next = Instant::now();
            while started.elapsed() < Duration::from_secs(seconds) {
                let row = rows - 1 - (c * stripe + k % stripe);
                let base = (k / stripe) % 9 * 10;
                k += 1;
                let seats: Vec<String> = (1..=10)
                    .map(|n| format!("{}{}", row_label(row), base + n))
                    .collect();
                let body = json!({ "show_id": show_id, "seat_ids": seats });
                for method in [reqwest::Method::POST, reqwest::Method::DELETE] {
                    {
                        let now = Instant::now();
                        let held = method == reqwest::Method::POST;
                        let mut s = sent.lock().unwrap_or_else(|p| p.into_inner());
                        for n in 1..=10 {
                            s.insert((u64::from(row * 100 + base + n - 1), held), now);
                        }
                    }
                    let _ = changer
                        .call(
                            method,
                            "/api/v1/book/reserve",
                            Some(&token),
                            Some(&body),
                            None,
                        )
                        .await;
                    made.fetch_add(10, Ordering::Relaxed);
                    next += every / 2;
                    tokio::time::sleep_until(next.into()).await;
                }
            }
        }));
    }
    let mut peak = 0.0f64;
    while started.elapsed() < Duration::from_secs(config.seconds) {
        if let Some(pid) = config.server_pid {
            peak = peak.max(rss_mib(pid)?);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for c in changers {
        let _ = c.await;
    }
    let made = made.load(Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let still = connected.load(Ordering::Relaxed);
    for t in tasks {
        t.abort();
    }
    let summary = delays.lock().unwrap_or_else(|p| p.into_inner()).summary();
    println!(
        "stream: {:.0} seat changes/s for {elapsed:.1} s to {still} clients; change to event at the parsing clients: {summary}; {} events received in all",
        made as f64 / elapsed,
        received.load(Ordering::Relaxed)
    );
    if let Some(idle) = rss_idle {
        println!("server RSS: {idle:.1} MiB with every client connected, peak {peak:.1} MiB while changes flowed");
    }
    Ok(())
}

type Observe = (
    Arc<Mutex<HashMap<(u64, bool), Instant>>>,
    Arc<Mutex<Samples>>,
);

/// One stream client over a raw connection (the load generator's cost per client stays small):
/// reads until stopped; an observer also parses each `seats` event and records the delays.
async fn listen(
    addr: &str,
    path: &str,
    stop: Arc<AtomicBool>,
    received: Arc<AtomicU64>,
    connected: Arc<AtomicU64>,
    observe: Option<Observe>,
) -> anyhow::Result<()> {
    let mut socket = tokio::net::TcpStream::connect(addr)
        .await
        .context("connect")?;
    socket
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n")
                .as_bytes(),
        )
        .await?;
    connected.fetch_add(1, Ordering::Relaxed);
    let mut buf = vec![0u8; 16 * 1024];
    let mut text = String::new();
    while !stop.load(Ordering::Relaxed) {
        let n = socket.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        let Some((sent, delays)) = &observe else {
            continue;
        };
        let now = Instant::now();
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
        while let Some(start) = text.find("event: seats\ndata: ") {
            let rest = &text[start + 19..];
            let Some(end) = rest.find('\n') else { break };
            if let Ok(data) = serde_json::from_str::<serde_json::Value>(&rest[..end]) {
                received.fetch_add(1, Ordering::Relaxed);
                let changes = data["changes"].as_array().cloned().unwrap_or_default();
                let sent = sent.lock().unwrap_or_else(|p| p.into_inner());
                let mut d = delays.lock().unwrap_or_else(|p| p.into_inner());
                for c in changes {
                    let held = c[1] == "held";
                    if let Some(at) = c[0].as_u64().and_then(|i| sent.get(&(i, held))) {
                        d.0.push(now.duration_since(*at).as_micros() as u64);
                    }
                }
            }
            let consumed = start + 19 + end;
            text.drain(..consumed);
        }
        if text.len() > 1 << 20 {
            text.clear();
        }
    }
    connected.fetch_sub(1, Ordering::Relaxed);
    Ok(())
}
