//! The seat stream's two writers, one follower.
//!
//! [`Follower`] decides what a stream client gets: the opening (a `snapshot`, or the `seats`
//! deltas missed since `Last-Event-ID`), then each flushed delta, a heartbeat when idle, and the
//! end when the client fell behind by more than its backlog or the node shuts down.
//!
//! Most stream clients are browsers' `EventSource`s that open a connection for the stream and
//! keep it for minutes. Behind hyper each such connection keeps an 8 KiB read buffer, an 8 KiB
//! header buffer and up to `max_buf_size` of queued body for its whole life, which is most of
//! a node's memory at 10,000 followers. So a connection whose *first* request is a plain
//! `GET …/seats/stream` (whole head in its first packet, no `Authorization`, no body) is taken
//! over by [`takeover`] when this node already follows the show and the address is within its
//! API rate limit: the head is parsed once, a fixed response head is written and the
//! shared event bytes go straight to the socket, which costs a few hundred bytes a follower
//! and a small kernel send buffer. Every other stream request (a signed-in one, one on a kept-
//! alive connection, a show that is not there) goes through the router and gets the same
//! events from the same [`Follower`] (`routes::stream`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, watch};

use super::live::{Delta, Resume, ShowLive};
use crate::app::AppState;

/// A comment line sent to idle streams so proxies keep them open.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(15);
/// The first line of every stream: how long a browser waits before reconnecting.
const RETRY: &[u8] = b"retry: 2000\n\n";
const HEARTBEAT: &[u8] = b": heartbeat\n\n";
/// A taken-over stream whose socket accepts nothing for this long is closed: the client
/// reconnects with its `Last-Event-ID` and resumes from the kept deltas.
const WRITE_STALL: Duration = Duration::from_secs(5);
/// The kernel send buffer of a taken-over stream (events are small; the snapshot of a
/// 50,000-seat show is about 17 KB). Bounds what a client that stops reading costs.
const SEND_BUFFER: usize = 64 * 1024;
/// How long a stream request whose head arrives in pieces is waited for before hyper gets it.
const SPLIT_HEAD_WAIT: Duration = Duration::from_millis(50);
/// Bytes a stream client may send after its request before it is closed.
const MAX_TRAILING: usize = 4096;

/// What one stream client is sent, in order.
pub struct Follower {
    receiver: broadcast::Receiver<Arc<Delta>>,
    sent: u64,
    shutdown: watch::Receiver<bool>,
    /// The node is stopping and the client has been told when to come back.
    said_goodbye: bool,
}

/// When a stopping node's stream clients are told to reconnect: spread over this window so
/// the nodes that stay do not take all of them in the same second.
const GOODBYE_RETRY_MS: std::ops::RangeInclusive<u64> = 1_000..=5_000;

/// The last lines a stopping node sends a stream client: a comment saying why, and a `retry`
/// for its reconnection (to another node, through the balancer), picked at random in
/// [`GOODBYE_RETRY_MS`].
fn goodbye() -> Bytes {
    let retry = rand::Rng::gen_range(&mut rand::thread_rng(), GOODBYE_RETRY_MS);
    Bytes::from(format!(": node stopping; reconnect\nretry: {retry}\n\n"))
}

impl Follower {
    /// Follows `live` from `since` (a `Last-Event-ID`): the events to send first and the
    /// follower for the rest.
    pub fn open(
        live: &ShowLive,
        since: Option<u64>,
        shutdown: watch::Receiver<bool>,
    ) -> (Vec<Bytes>, Self) {
        let (receiver, resume) = live.follow(since);
        let mut opening = vec![Bytes::from_static(RETRY)];
        let sent = match resume {
            Resume::Snapshot(s) => {
                opening.push(s.event());
                s.version
            }
            Resume::Deltas(deltas) => {
                let sent = deltas.last().map_or(since.unwrap_or(0), |d| d.to);
                opening.extend(deltas.iter().map(|d| d.event.clone()));
                sent
            }
        };
        (
            opening,
            Self {
                receiver,
                sent,
                shutdown,
                said_goodbye: false,
            },
        )
    }

    /// The next bytes to send (a delta, or a heartbeat after [`HEARTBEAT_EVERY`] of quiet);
    /// when the node begins to stop, a [`goodbye`] with the time to reconnect after; `None`
    /// when the stream ends. Cancel-safe.
    pub async fn next(&mut self) -> Option<Bytes> {
        if self.said_goodbye {
            return None;
        }
        loop {
            let next = tokio::select! {
                next = self.receiver.recv() => next,
                () = tokio::time::sleep(HEARTBEAT_EVERY) => return Some(Bytes::from_static(HEARTBEAT)),
                _ = self.shutdown.wait_for(|stop| *stop) => {
                    self.said_goodbye = true;
                    return Some(goodbye());
                }
            };
            match next {
                Ok(delta) if delta.to <= self.sent => continue,
                Ok(delta) => {
                    self.sent = delta.to;
                    return Some(delta.event.clone());
                }
                // Too slow: dropped; it reconnects with its Last-Event-ID.
                Err(
                    broadcast::error::RecvError::Lagged(_) | broadcast::error::RecvError::Closed,
                ) => return None,
            }
        }
    }
}

/// The hook `crate::http::serve` runs on each new connection before HTTP.
pub type Takeover = Arc<dyn Fn(TcpStream, SocketAddr) -> BoxFuture<'static, Taken> + Send + Sync>;

/// What [`Takeover`] made of a connection.
pub enum Taken {
    /// Not a stream to take over: hyper serves it.
    Http(TcpStream),
    /// A seat stream: the future writes it until it ends. It is not cut short when the server
    /// stops: the stream ends by itself then, after telling the client when to reconnect.
    Stream(BoxFuture<'static, ()>),
    /// Gone, or silent for the whole header timeout.
    Closed,
}

/// Takes over connections that open with a plain seat-stream request (see the module docs).
pub fn takeover(state: AppState, header_timeout: Duration) -> Takeover {
    Arc::new(move |stream, peer| {
        let state = state.clone();
        Box::pin(async move {
            let peeked = match tokio::time::timeout(header_timeout, peek_head(&stream)).await {
                Ok(Ok(head)) => head,
                // Silent for the whole header timeout, or gone: closed as hyper would.
                Ok(Err(_)) | Err(_) => return Taken::Closed,
            };
            let Some(request) = peeked
                .as_deref()
                .and_then(|h| StreamRequest::parse(h, &state))
            else {
                return Taken::Http(stream);
            };
            // Only a show this node already follows: a cold or unknown one is built (or refused)
            // by the router, under its deadline and limits.
            let Some(live) = state.availability.cached_show(request.show_id) else {
                return Taken::Http(stream);
            };
            // The address's API limit, as the router would apply it; a refusal is left to the
            // router, which answers it in the error shape.
            if state.limits.enabled() {
                let decision = state
                    .limits
                    .check(
                        crate::limits::Class::Api,
                        None,
                        state.limits.client_ip(Some(peer), &request.forwarded),
                    )
                    .await;
                if decision.is_some_and(|d| !d.allowed) {
                    return Taken::Http(stream);
                }
            }
            let mut stream = stream;
            let mut head = vec![0u8; request.head_len];
            if stream.read_exact(&mut head).await.is_err() {
                return Taken::Closed;
            }
            drop(head);
            let _ = socket2::SockRef::from(&stream).set_send_buffer_size(SEND_BUFFER);
            let (opening, follower) =
                Follower::open(&live, request.last_event_id, state.shutdown.clone());
            drop(live);
            tracing::debug!(%peer, show_id = request.show_id, "seat stream taken over");
            Taken::Stream(Box::pin(pump(
                stream,
                response_head(),
                opening,
                follower,
                WRITE_STALL,
            )))
        })
    })
}

/// The first bytes a connection sent, once its request head is there (`None`: not a request
/// head we could take over, so hyper reads it). A head that arrives in pieces is waited for a
/// little (at most [`SPLIT_HEAD_WAIT`]), then whatever came is judged as is.
async fn peek_head(stream: &TcpStream) -> std::io::Result<Option<Vec<u8>>> {
    const PREFIX: &[u8] = b"GET /api/v1/shows/";
    let mut buf = vec![0u8; 2048];
    let started = tokio::time::Instant::now();
    loop {
        let n = stream.peek(&mut buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let head = &buf[..n];
        let shown = n.min(PREFIX.len());
        if head[..shown] != PREFIX[..shown] {
            return Ok(None);
        }
        let whole = n == buf.len() || head.windows(4).any(|w| w == b"\r\n\r\n");
        if whole || started.elapsed() >= SPLIT_HEAD_WAIT {
            buf.truncate(n);
            return Ok(buf.starts_with(PREFIX).then_some(buf));
        }
        // Peeking leaves the bytes unread, so readiness stays set: poll gently instead.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A plain `GET /api/v1/shows/{id}/seats/stream` whose head arrived whole.
#[derive(Debug, PartialEq, Eq)]
struct StreamRequest {
    show_id: i64,
    last_event_id: Option<u64>,
    head_len: usize,
    /// `X-Forwarded-For`, for the rate limit behind a trusted load balancer.
    forwarded: axum::http::HeaderMap,
}

impl StreamRequest {
    fn parse(bytes: &[u8], state: &AppState) -> Option<Self> {
        Self::parse_head(bytes).filter(|_| !state.settings.catalog_requires_auth)
    }

    fn parse_head(bytes: &[u8]) -> Option<Self> {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        let httparse::Status::Complete(head_len) = request.parse(bytes).ok()? else {
            return None;
        };
        if request.method != Some("GET") || request.version != Some(1) {
            return None;
        }
        let path = request.path?;
        let id = path
            .strip_prefix("/api/v1/shows/")?
            .strip_suffix("/seats/stream")?;
        // Only canonical ids; anything else gets the router's answer.
        if id.is_empty() || id.len() > 18 || !id.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let show_id = id.parse().ok()?;
        let mut last_event_id = None;
        let mut forwarded = axum::http::HeaderMap::new();
        for h in request.headers.iter() {
            let name = h.name;
            if name.eq_ignore_ascii_case("authorization")
                || name.eq_ignore_ascii_case("content-length")
                || name.eq_ignore_ascii_case("transfer-encoding")
                || name.eq_ignore_ascii_case("upgrade")
                || name.eq_ignore_ascii_case("expect")
            {
                return None;
            }
            if name.eq_ignore_ascii_case("x-forwarded-for") {
                if let Ok(value) = axum::http::HeaderValue::from_bytes(h.value) {
                    forwarded.append("x-forwarded-for", value);
                }
            }
            if name.eq_ignore_ascii_case("last-event-id") {
                last_event_id = std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.trim().parse().ok());
            }
        }
        Some(Self {
            show_id,
            last_event_id,
            head_len,
            forwarded,
        })
    }
}

/// The response head of a taken-over stream: the headers the router would have set
/// (`crate::http::security`), delimited by the connection's close.
fn response_head() -> Bytes {
    let date = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT");
    Bytes::from(format!(
        "HTTP/1.1 200 OK\r\n\
         content-type: text/event-stream\r\n\
         cache-control: no-store\r\n\
         x-accel-buffering: no\r\n\
         x-content-type-options: nosniff\r\n\
         referrer-policy: no-referrer\r\n\
         x-frame-options: DENY\r\n\
         content-security-policy: {}\r\n\
         x-request-id: {}\r\n\
         date: {date}\r\n\
         connection: close\r\n\r\n",
        crate::http::security::API_CSP,
        uuid::Uuid::new_v4(),
    ))
}

/// Writes `head`, `opening`, then whatever `follower` yields, until the follower ends, the
/// client closes or sends junk, or a write stalls for `stall`.
async fn pump<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: S,
    head: Bytes,
    opening: Vec<Bytes>,
    mut follower: Follower,
    stall: Duration,
) {
    for bytes in std::iter::once(head).chain(opening) {
        if !matches!(
            tokio::time::timeout(stall, io.write_all(&bytes)).await,
            Ok(Ok(()))
        ) {
            return;
        }
    }
    let mut scratch = [0u8; 64];
    let mut trailing = 0usize;
    loop {
        let next = tokio::select! {
            next = follower.next() => next,
            read = io.read(&mut scratch) => match read {
                Ok(n) if n > 0 && trailing + n <= MAX_TRAILING => {
                    trailing += n;
                    continue;
                }
                _ => break,
            },
        };
        let Some(bytes) = next else { break };
        if !matches!(
            tokio::time::timeout(stall, io.write_all(&bytes)).await,
            Ok(Ok(()))
        ) {
            return;
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), io.shutdown()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A delta channel, a follower of it from version 0, and the node's shutdown switch.
    fn following() -> (broadcast::Sender<Arc<Delta>>, Follower, watch::Sender<bool>) {
        let (deltas, _) = broadcast::channel::<Arc<Delta>>(64);
        let (stop, shutdown) = watch::channel(false);
        let follower = Follower {
            receiver: deltas.subscribe(),
            sent: 0,
            shutdown,
            said_goodbye: false,
        };
        (deltas, follower, stop)
    }

    /// A stopping node tells each stream client when to reconnect, then ends the stream.
    #[tokio::test]
    async fn shutdown_ends_a_stream_with_a_retry_hint() {
        let (_deltas, mut follower, stop) = following();
        stop.send(true).expect("stop");
        let last = follower.next().await.expect("a goodbye");
        let text = std::str::from_utf8(&last).expect("utf-8");
        let retry: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("retry: "))
            .and_then(|ms| ms.parse().ok())
            .unwrap_or_else(|| panic!("no retry line: {text:?}"));
        assert!(GOODBYE_RETRY_MS.contains(&retry), "{retry}");
        assert!(text.ends_with("\n\n"), "{text:?}");
        assert_eq!(follower.next().await, None);
    }

    #[test]
    fn only_a_plain_stream_request_is_taken_over() {
        let plain = b"GET /api/v1/shows/42/seats/stream HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nLast-Event-ID: 17\r\n\r\n";
        assert_eq!(
            StreamRequest::parse_head(plain),
            Some(StreamRequest {
                show_id: 42,
                last_event_id: Some(17),
                head_len: plain.len(),
                forwarded: axum::http::HeaderMap::new(),
            })
        );
        for other in [
            &b"GET /api/v1/shows/42/seats/stream HTTP/1.1\r\nHost: x\r\n"[..],
            b"GET /api/v1/shows/42/seats/stream HTTP/1.1\r\nAuthorization: Bearer t\r\n\r\n",
            b"GET /api/v1/shows/42/seats/stream?x=1 HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /api/v1/shows/042x/seats/stream HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /api/v1/shows/42/seats HTTP/1.1\r\nHost: x\r\n\r\n",
            b"HEAD /api/v1/shows/42/seats/stream HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /api/v1/shows/42/seats/stream HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
            b"GET /api/v1/shows/99999999999999999999/seats/stream HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(StreamRequest::parse_head(other), None, "{other:?}");
        }
    }

    /// A client that stops reading is closed once its socket accepts nothing for `stall`,
    /// while the node's memory for it stays the shared event bytes.
    #[tokio::test]
    async fn a_client_that_stops_reading_is_closed_not_buffered_for() {
        let (deltas, follower, _stop) = following();
        // A pipe that holds 1 KiB, whose reading end is kept but never read.
        let (server, _client) = tokio::io::duplex(1024);
        let pump = tokio::spawn(pump(
            server,
            Bytes::from_static(b"HTTP/1.1 200 OK\r\n\r\n"),
            Vec::new(),
            follower,
            Duration::from_millis(200),
        ));
        let event = Bytes::from(vec![b'x'; 300]);
        for to in 1..=20u64 {
            let _ = deltas.send(Arc::new(Delta {
                from: to - 1,
                to,
                event: event.clone(),
            }));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::timeout(Duration::from_secs(2), pump)
            .await
            .expect("the stalled client is closed")
            .expect("pump");
    }

    #[tokio::test]
    async fn a_client_that_hangs_up_ends_its_stream() {
        let (_deltas, follower, _stop) = following();
        let (server, client) = tokio::io::duplex(4096);
        let pump = tokio::spawn(pump(
            server,
            Bytes::from_static(b"HTTP/1.1 200 OK\r\n\r\n"),
            Vec::new(),
            follower,
            Duration::from_secs(5),
        ));
        drop(client);
        tokio::time::timeout(Duration::from_secs(2), pump)
            .await
            .expect("ended on hang-up")
            .expect("pump");
    }

    /// A head written in two pieces is peeked whole; anything else is judged at once.
    #[tokio::test]
    async fn a_head_that_arrives_in_pieces_is_waited_for() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut client = TcpStream::connect(addr).await.expect("connect");
        client.set_nodelay(true).expect("nodelay");
        let (server, _) = listener.accept().await.expect("accept");
        client
            .write_all(b"GET /api/v1/shows/7/seats/st")
            .await
            .expect("first piece");
        let peek = tokio::spawn(async move { peek_head(&server).await.map(|h| (h, server)) });
        tokio::time::sleep(Duration::from_millis(10)).await;
        client
            .write_all(b"ream HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("second piece");
        let (head, _server) = peek.await.expect("task").expect("peeked");
        let request = StreamRequest::parse_head(&head.expect("a stream head")).expect("whole");
        assert_eq!(request.show_id, 7);

        let mut other = TcpStream::connect(addr).await.expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        other.write_all(b"POST /api/v1/book").await.expect("write");
        let started = std::time::Instant::now();
        assert_eq!(peek_head(&server).await.expect("peeked"), None);
        assert!(started.elapsed() < SPLIT_HEAD_WAIT);
    }
}
