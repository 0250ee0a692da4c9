//! Rate limits at the gateway (SPEC §10, issue 12): per user and per client IP, stricter on
//! `reserve`, `book`, `queue/join`, `login` and `register`, and on `login` also per account.
//!
//! Each decision is one GCRA step ("generic cell rate algorithm": a bucket of `burst` requests
//! refilled at `per_minute`, kept as one number, its theoretical arrival time):
//! - on a deployment, one Lua script on Redis using Redis's clock, so every node draws from the
//!   same buckets;
//! - on the embedded default, and on a node that cannot reach Redis, the same step in process
//!   (per-node limits: neither open for everyone nor closed for everyone). After a Redis
//!   failure the node stays on its own buckets for a second before trying Redis again, so a dead
//!   Redis costs no request a timeout.
//!
//! A refused request gets 429 `RATE_LIMITED` with `Retry-After`; every limited route answers
//! `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds).

mod config;
mod gcra;

pub use config::RateLimitConfig;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::holds::RedisConn;
use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use redis::Script;
use serde_json::json;

use crate::app::AppState;
use crate::error::{ApiError, ErrorCode};
pub use gcra::Decision;
use gcra::{MemoryBuckets, Policy};

/// What a request is limited as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Login,
    Register,
    Reserve,
    Book,
    QueueJoin,
    /// Every other API call.
    Api,
}

impl Class {
    fn name(self) -> &'static str {
        match self {
            Class::Login => "login",
            Class::Register => "register",
            Class::Reserve => "reserve",
            Class::Book => "book",
            Class::QueueJoin => "queue_join",
            Class::Api => "api",
        }
    }

    /// The class of `method` on the route `path` (its template), `None` when not limited
    /// (health, the web app's files).
    pub fn of(method: &Method, path: &str) -> Option<Class> {
        if !path.starts_with("/api/") {
            return None;
        }
        Some(match (method, path) {
            (&Method::POST, "/api/v1/auth/login") => Class::Login,
            (&Method::POST, "/api/v1/auth/register") => Class::Register,
            (&Method::POST, "/api/v1/book/reserve") => Class::Reserve,
            (&Method::POST, "/api/v1/book") => Class::Book,
            (&Method::POST, "/api/v1/shows/{show_id}/queue/join") => Class::QueueJoin,
            _ => Class::Api,
        })
    }
}

/// Who a bucket belongs to.
enum Subject<'a> {
    User(i64),
    Ip(IpAddr),
    Account(&'a str),
}

/// The node's limiter.
pub struct Limiter {
    config: RateLimitConfig,
    redis: Option<RedisBuckets>,
    local: MemoryBuckets,
    /// Until when (ms) this node uses its own buckets after Redis failed.
    redis_down_until: AtomicI64,
}

struct RedisBuckets {
    conn: RedisConn,
    timeout: Duration,
    prefix: String,
    script: Script,
}

impl Limiter {
    pub fn new(config: RateLimitConfig, redis: Option<(RedisConn, Duration, &str)>) -> Self {
        Self {
            redis: redis.map(|(conn, timeout, prefix)| RedisBuckets {
                conn,
                // Redis's own call timeout: a shorter one would send decisions to the node's own
                // buckets whenever Redis is merely busy (each node then allowing a whole burst).
                // A dead Redis costs one timeout, then a second on local buckets.
                timeout,
                prefix: prefix.to_owned(),
                script: Script::new(gcra::GCRA_LUA),
            }),
            local: MemoryBuckets::new(config.max_local_buckets),
            redis_down_until: AtomicI64::new(0),
            config,
        }
    }

    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    fn policy(&self, class: Class, subject: &Subject<'_>) -> Policy {
        self.config.policy(
            class,
            matches!(subject, Subject::Ip(_)),
            matches!(subject, Subject::Account(_)),
        )
    }

    /// One decision for `subject` in `class`.
    async fn decide(&self, class: Class, subject: Subject<'_>) -> Option<Decision> {
        let policy = self.policy(class, &subject);
        if policy.is_off() {
            return None;
        }
        let key = match subject {
            Subject::User(id) => format!("{}:u:{id}", class.name()),
            Subject::Ip(ip) => format!("{}:ip:{}", class.name(), network(ip)),
            Subject::Account(account) => {
                format!(
                    "{}:acct:{}",
                    class.name(),
                    crate::queue::shuffle::commitment(account.as_bytes())
                )
            }
        };
        let now = chrono::Utc::now().timestamp_millis();
        if let Some(redis) = &self.redis {
            if now >= self.redis_down_until.load(Ordering::Relaxed) {
                match redis.decide(&key, policy).await {
                    Ok(decision) => return Some(decision),
                    Err(e) => {
                        if self.redis_down_until.swap(now + 1000, Ordering::Relaxed) < now - 10_000
                        {
                            tracing::warn!(error = %e, "rate limits: Redis unreachable; this node limits on its own");
                        }
                    }
                }
            }
        }
        Some(self.local.decide(&key, policy))
    }

    /// The stricter of the per-user and per-IP decisions for a request.
    pub async fn check(&self, class: Class, user: Option<i64>, ip: IpAddr) -> Option<Decision> {
        let by_user = async {
            match user {
                Some(u) => self.decide(class, Subject::User(u)).await,
                None => None,
            }
        };
        let (a, b) = tokio::join!(by_user, self.decide(class, Subject::Ip(ip)));
        Decision::stricter(a, b)
    }

    /// The per-account login decision (against password guessing spread over many IPs).
    pub async fn check_login_account(&self, email: &str) -> Result<(), ApiError> {
        if !self.config.enabled {
            return Ok(());
        }
        let account = email.trim().to_lowercase();
        match self.decide(Class::Login, Subject::Account(&account)).await {
            Some(d) if !d.allowed => Err(limited(&d, "login_account")),
            _ => Ok(()),
        }
    }

    /// The client's address: the peer, or the last address a trusted proxy put in
    /// `X-Forwarded-For`.
    pub fn client_ip(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> IpAddr {
        let peer_ip = peer.map_or(IpAddr::from([0, 0, 0, 0]), |p| p.ip());
        if !self.config.trusted_proxies.contains(&peer_ip) {
            return peer_ip;
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse::<IpAddr>().ok())
            .collect::<Vec<_>>();
        forwarded
            .into_iter()
            .rev()
            .find(|ip| !self.config.trusted_proxies.contains(ip))
            .unwrap_or(peer_ip)
    }
}

impl RedisBuckets {
    async fn decide(&self, key: &str, policy: Policy) -> Result<Decision, String> {
        let mut conn = self.conn.clone();
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(format!("{}:rl:{key}", self.prefix))
            .arg(policy.interval_ms())
            .arg(policy.burst);
        let call = invocation.invoke_async::<(i64, i64, i64, i64)>(&mut conn);
        let (allowed, remaining, retry_ms, reset_ms) =
            match tokio::time::timeout(self.timeout, call).await {
                Ok(Ok(answer)) => answer,
                Ok(Err(e)) => return Err(e.to_string()),
                Err(_) => return Err("Redis did not answer in time".into()),
            };
        Ok(Decision {
            allowed: allowed == 1,
            limit: policy.burst,
            remaining: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
            retry_after_ms: u64::try_from(retry_ms.max(0)).unwrap_or(0),
            reset_ms: u64::try_from(reset_ms.max(0)).unwrap_or(0),
        })
    }
}

/// The bucket an address counts in: itself for IPv4, its /64 for IPv6 (one subscriber usually
/// has a whole /64, so per-address buckets would be free to multiply).
fn network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(std::net::Ipv6Addr::from(bits))
        }
    }
}

fn limited(decision: &Decision, by: &str) -> ApiError {
    let seconds = decision.retry_after_ms.div_ceil(1000).max(1);
    ApiError::new(
        ErrorCode::RateLimited,
        format!("Too many requests; try again in {seconds} s"),
    )
    .with_details(json!({ "limit": by, "retry_after_seconds": seconds }))
    .with_retry_after(seconds)
}

fn set_headers(headers: &mut HeaderMap, decision: &Decision) {
    headers.insert("ratelimit-limit", HeaderValue::from(decision.limit));
    headers.insert("ratelimit-remaining", HeaderValue::from(decision.remaining));
    headers.insert(
        "ratelimit-reset",
        HeaderValue::from(decision.reset_ms.div_ceil(1000)),
    );
}

/// The rate limits' part of the gateway (`crate::http::gateway`): classifies the request,
/// decides, answers 429 or passes it to `inner` and adds the `RateLimit-*` headers to its
/// answer.
pub async fn admit<F, Fut>(state: &AppState, mut request: Request, inner: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let limiter: &Arc<Limiter> = &state.limits;
    if !limiter.enabled() {
        return inner(request).await;
    }
    let class = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|p| Class::of(request.method(), p.as_str()));
    let Some(class) = class else {
        return inner(request).await;
    };
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let ip = limiter.client_ip(peer, request.headers());
    let user = crate::http::auth::bearer_user_id(state, &mut request);
    let Some(decision) = limiter.check(class, user, ip).await else {
        return inner(request).await;
    };
    if !decision.allowed {
        let mut response = limited(&decision, class.name()).into_response();
        set_headers(response.headers_mut(), &decision);
        return response;
    }
    let mut response = inner(request).await;
    set_headers(response.headers_mut(), &decision);
    response
}
