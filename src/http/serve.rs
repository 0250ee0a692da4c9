//! The accept loop: HTTP/1.1 connections with every wait bounded and their number capped.
//!
//! - A connection gets `header_timeout` to send a whole request head; the same timer runs while
//!   a keep-alive connection sits idle between requests, so silent and slow-header clients are
//!   closed (`tests/integration/ops.rs`, `silent_slow_and_idle_connections_are_closed`,
//!   `a_flood_of_silent_connections_leaves_health_answering`).
//! - A request body must arrive within `body_timeout` (408) and a whole request must be answered
//!   within `request_timeout` (503); both are set in `router::router` (the deadline by the
//!   gateway layer, `http::gateway`).
//! - At most `max_connections` are open at once; one over the cap is answered a 503 in our
//!   shape at once and closed, so a flood cannot take the file descriptors health needs.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::Service;

pub use crate::availability::stream::{Taken, Takeover};

/// The bounds of the HTTP server.
#[derive(Debug, Clone, Copy)]
pub struct ServeLimits {
    pub header_timeout: Duration,
    pub max_connections: usize,
    /// How long in-flight requests may run after shutdown begins.
    pub grace: Duration,
}

/// Largest request head hyper buffers; our own limits (`MAX_URI_BYTES`, `MAX_HEADER_BYTES`) sit
/// below it, so an oversized head is answered in our shape rather than by hyper.
const MAX_HEAD_BUFFER: usize = 256 * 1024;

/// The answer to a connection over the cap, written without reading its request.
const OVER_CAPACITY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\n\
retry-after: 1\r\n\
cache-control: no-store\r\n\
connection: close\r\n\
content-length: 128\r\n\
\r\n\
{\"error_code\":\"SERVICE_UNAVAILABLE\",\"message\":\"Too many open connections, try again shortly\",\"details\":{\"reason\":\"connections\"}}";

/// Serves `router` on `listener` until `shutdown` resolves, then gives open connections
/// `limits.grace` to finish. A new connection is first offered to `takeover`, which may serve
/// it without HTTP machinery (seat streams) or give it back. Returns `true` when every connection finished in time.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServeLimits,
    takeover: Option<Takeover>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> bool {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    // Every connection's task, so shutdown also waits for those not (yet) in hyper's hands: a
    // connection still being peeked at, a taken-over stream. Each holds the app's state (the
    // search index's writer among it), which must be gone before the process (or a test's
    // next node on the same directory) reopens it.
    let tasks = tokio_util::task::TaskTracker::new();
    let (stopping, stop) = tokio::sync::watch::channel(false);
    let refusing = Arc::new(Semaphore::new(REFUSING));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEAD_BUFFER)
        .max_headers(2 * super::MAX_HEADERS);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors or a connection reset before accept: back off
                    // briefly instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refuse(stream, &refusing);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().call(request)
        });
        let (http, watcher, takeover) = (http.clone(), graceful.watcher(), takeover.clone());
        let mut stop = stop.clone();
        tasks.spawn(async move {
            let stream = match takeover {
                Some(takeover) => {
                    // Only the look at the request head is cut short by shutdown.
                    let taken = tokio::select! {
                        taken = takeover(stream, peer) => taken,
                        _ = stop.wait_for(|s| *s) => Taken::Closed,
                    };
                    match taken {
                        Taken::Http(stream) => stream,
                        Taken::Stream(pump) => {
                            pump.await;
                            return drop(slot);
                        }
                        Taken::Closed => return drop(slot),
                    }
                }
                None => stream,
            };
            let connection = watcher.watch(http.serve_connection(TokioIo::new(stream), service));
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %peer, "connection closed with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    tasks.close();
    tokio::select! {
        () = async {
            graceful.shutdown().await;
            tasks.wait().await;
        } => true,
        () = tokio::time::sleep(limits.grace) => false,
    }
}

/// Answers a connection over the cap with a 503 and closes it: the request head is read first
/// (a client may not expect an answer before it has sent its request), then the answer, then a
/// short drain so the close does not reset the connection before the client read the answer.
/// At most [`REFUSING`] connections are being refused at once, the rest are just closed; each
/// gets a second in all.
fn refuse(stream: TcpStream, refusing: &Arc<Semaphore>) {
    tracing::warn!("connection refused: too many open connections");
    let Ok(permit) = refusing.clone().try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let mut stream = stream;
        let answer = async {
            let mut head = Vec::with_capacity(1024);
            let mut chunk = [0u8; 2048];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Ok(());
                }
                head.extend_from_slice(&chunk[..n]);
            }
            stream.write_all(OVER_CAPACITY).await?;
            stream.shutdown().await?;
            while stream.read(&mut chunk).await? > 0 {}
            Ok::<_, std::io::Error>(())
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), answer).await;
        drop(permit);
    });
}

/// Most connections being answered "over capacity" at once.
const REFUSING: usize = 256;

/// Raises this process's soft limit on open files to its hard limit, and returns the limit in
/// force (the cap on connections leaves room below it for the database, Redis and files).
pub fn raise_open_files_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the open-files limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_over_capacity_answer_has_the_right_length_and_shape() {
        let text = std::str::from_utf8(OVER_CAPACITY).expect("ascii");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        let declared: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|n| n.parse().ok())
            .expect("content-length");
        assert_eq!(declared, body.len());
        let json: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(json["error_code"], "SERVICE_UNAVAILABLE");
    }
}
