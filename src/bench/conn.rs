//! One keep-alive HTTP/1.1 connection of a bench worker to a node, for the hot loops whose
//! answers are told by their status alone.
//!
//! The load generator shares the machine with the node, Redis and PostgreSQL, so every CPU
//! microsecond it spends is one the server under test does not get. `reqwest` serves the rest of
//! the bench (setup, bookings, audits); this is hyper's connection alone, without a pool, a URL
//! parse or a redirect policy per request, the way `wrk` and `redis-benchmark` drive a server.

use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;

/// How long connecting, or one request with its answer, may take.
const TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) struct Conn {
    sender: SendRequest<Full<Bytes>>,
    host: HeaderValue,
}

impl Conn {
    /// Connects to the node at `base` (`http://host:port`, as `--url` gives it).
    pub(crate) async fn open(base: &str) -> anyhow::Result<Self> {
        let uri: Uri = base.parse().with_context(|| format!("not a URL: {base}"))?;
        if uri.scheme_str() != Some("http") {
            bail!("the bench's workers speak plain HTTP to a node: give --url as http://host:port, not {base}");
        }
        let authority = uri
            .authority()
            .with_context(|| format!("no host in {base}"))?
            .clone();
        let port = authority.port_u16().unwrap_or(80);
        let stream = tokio::time::timeout(
            TIMEOUT,
            // An IPv6 host comes bracketed in a URL (`[::1]`), not in a socket address.
            tokio::net::TcpStream::connect((
                authority
                    .host()
                    .trim_start_matches('[')
                    .trim_end_matches(']'),
                port,
            )),
        )
        .await
        .with_context(|| format!("connecting to {base} timed out"))??;
        stream.set_nodelay(true)?;
        let (sender, connection) = tokio::time::timeout(
            TIMEOUT,
            hyper::client::conn::http1::handshake(TokioIo::new(stream)),
        )
        .await
        .context("HTTP handshake timed out")??;
        // Drives the socket; ends when the connection closes or `sender` is dropped.
        tokio::spawn(connection);
        Ok(Self {
            sender,
            host: HeaderValue::from_str(authority.as_str())?,
        })
    }

    /// Sends `body` (JSON) to `path` with the bearer `authorization` header as given, reads the
    /// answer's body and drops it unparsed, and returns the status.
    pub(crate) async fn status_of(
        &mut self,
        method: Method,
        path: &'static str,
        authorization: &HeaderValue,
        body: Bytes,
    ) -> anyhow::Result<u16> {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.host.clone())
            .header(AUTHORIZATION, authorization.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(Full::new(body))?;
        let exchange = async {
            self.sender.ready().await?;
            let response = self.sender.send_request(request).await?;
            let status = response.status().as_u16();
            response.into_body().collect().await?;
            anyhow::Ok(status)
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .with_context(|| format!("{path}: no answer in {} s", TIMEOUT.as_secs()))?
    }
}

/// The `authorization` header of a visitor's token, built once per token.
pub(crate) fn bearer(token: &str) -> anyhow::Result<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("Bearer {token}"))?;
    value.set_sensitive(true);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;
    use axum::routing::post;

    /// A server that answers 202 to one token and body and 409 to anything else: three requests
    /// on one kept connection, each told by its status, and a URL the workers cannot use.
    #[tokio::test]
    async fn answers_by_status_on_one_kept_connection() -> anyhow::Result<()> {
        let app = axum::Router::new().route(
            "/r",
            post(|headers: HeaderMap, body: Bytes| async move {
                match headers.get(AUTHORIZATION) {
                    Some(a) if a == "Bearer t1" && body.as_ref() == b"{\"x\":1}" => {
                        (axum::http::StatusCode::ACCEPTED, "held")
                    }
                    _ => (axum::http::StatusCode::CONFLICT, "no"),
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });

        let mut conn = Conn::open(&base).await?;
        let body = Bytes::from_static(b"{\"x\":1}");
        let status = conn
            .status_of(Method::POST, "/r", &bearer("t1")?, body.clone())
            .await?;
        assert_eq!(status, 202);
        let status = conn
            .status_of(Method::POST, "/r", &bearer("t2")?, body)
            .await?;
        assert_eq!(status, 409);
        let status = conn
            .status_of(Method::DELETE, "/r", &bearer("t1")?, Bytes::new())
            .await?;
        assert_eq!(status, 405);

        let refused = Conn::open("https://127.0.0.1:1").await.err();
        assert!(refused.is_some_and(|e| e.to_string().contains("plain HTTP")));
        Ok(())
    }
}
