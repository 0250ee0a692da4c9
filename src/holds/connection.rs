//! The Redis connection shared by every Redis-backed store of a node (holds, the waiting room,
//! rate limits): one server, or a Redis Cluster.
//!
//! `REDIS_URL=redis://host:6379` is one server (or a proxy in front of several), reached through
//! a [`ConnectionManager`] that reconnects in the background. `REDIS_URL=redis+cluster://h1:7001,
//! h2:7002,h3:7003` (or `rediss+cluster://…`) names seed nodes of a cluster, reached through
//! the redis crate's cluster client, which learns the slot map, routes each command to the
//! master of its key's slot and follows `MOVED`/`ASK` as slots move. Every key of one show
//! shares the hash tag `{<prefix>:<show id>}`, and every script and multi-key command touches
//! one show's keys only, so each lands on one slot. Seat-change messages are published from the
//! scripts with `PUBLISH`, which a cluster forwards to every node, so a subscriber on any one
//! node hears them all.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

/// Where Redis is, as `REDIS_URL` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisTarget {
    /// One server: `redis://…` or `rediss://…`.
    Single(String),
    /// A cluster's seed nodes, each as a `redis://` or `rediss://` URL.
    Cluster(Vec<String>),
}

impl RedisTarget {
    /// Reads `REDIS_URL`: a plain URL, or `redis+cluster://[user:password@]host:port,host:port…`
    /// (`rediss+cluster://` for TLS). Credentials given once apply to every node.
    pub fn parse(url: &str) -> Result<Self, String> {
        let (scheme, rest) = match url.split_once("://") {
            Some(("redis+cluster", rest)) => ("redis", rest),
            Some(("rediss+cluster", rest)) => ("rediss", rest),
            _ => return Ok(Self::Single(url.to_owned())),
        };
        let (credentials, hosts) = match rest.rsplit_once('@') {
            Some((credentials, hosts)) => (format!("{credentials}@"), hosts),
            None => (String::new(), rest),
        };
        let hosts = hosts.trim_end_matches('/');
        let nodes: Vec<String> = hosts
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(|host| format!("{scheme}://{credentials}{host}"))
            .collect();
        if nodes.is_empty() {
            return Err("a redis+cluster:// URL names no node (host:port,host:port…)".into());
        }
        if hosts.contains('/') || hosts.contains('?') {
            return Err(
                "a redis+cluster:// URL is host:port pairs only (a cluster has no database number)"
                    .into(),
            );
        }
        Ok(Self::Cluster(nodes))
    }

    /// The node a subscriber connects to on its `attempt`-th try: each failure moves on to the
    /// next seed node.
    pub fn subscriber_url(&self, attempt: usize) -> &str {
        match self {
            Self::Single(url) => url,
            Self::Cluster(nodes) => &nodes[attempt % nodes.len()],
        }
    }
}

/// A connection to one Redis or to a Redis Cluster; cheap to clone (clones share it).
#[derive(Clone)]
pub enum RedisConn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl RedisConn {
    /// Connects to `target`. Each command is bounded by `timeout`; a lost connection is
    /// re-made with a backoff capped at a quarter of `timeout`.
    pub async fn connect(target: &RedisTarget, timeout: Duration) -> redis::RedisResult<Self> {
        let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let max_backoff_ms = (timeout_ms / 4).max(50);
        match target {
            RedisTarget::Single(url) => {
                let client = redis::Client::open(url.as_str())?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(timeout)
                    .set_response_timeout(timeout)
                    .set_exponent_base(2)
                    .set_factor(25)
                    .set_max_delay(max_backoff_ms)
                    .set_number_of_retries(2);
                Ok(Self::Single(
                    ConnectionManager::new_with_config(client, config).await?,
                ))
            }
            RedisTarget::Cluster(nodes) => {
                let client = ClusterClientBuilder::new(nodes.clone())
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .retries(2)
                    .min_retry_wait(25)
                    .max_retry_wait(max_backoff_ms)
                    .build()?;
                Ok(Self::Cluster(client.get_async_connection().await?))
            }
        }
    }
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(conn) => conn.req_packed_commands(cmd, offset, count),
            Self::Cluster(conn) => conn.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(conn) => conn.get_db(),
            Self::Cluster(conn) => conn.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_url_names_one_server_or_a_cluster() {
        assert_eq!(
            RedisTarget::parse("redis://127.0.0.1:6379/2"),
            Ok(RedisTarget::Single("redis://127.0.0.1:6379/2".into()))
        );
        assert_eq!(
            RedisTarget::parse("redis+cluster://10.0.0.1:7001,10.0.0.2:7002, 10.0.0.3:7003"),
            Ok(RedisTarget::Cluster(vec![
                "redis://10.0.0.1:7001".into(),
                "redis://10.0.0.2:7002".into(),
                "redis://10.0.0.3:7003".into(),
            ]))
        );
        assert_eq!(
            RedisTarget::parse("rediss+cluster://app:s3cret@a:7001,b:7002/"),
            Ok(RedisTarget::Cluster(vec![
                "rediss://app:s3cret@a:7001".into(),
                "rediss://app:s3cret@b:7002".into(),
            ]))
        );
        assert!(RedisTarget::parse("redis+cluster://").is_err());
        assert!(RedisTarget::parse("redis+cluster://a:7001/3").is_err());
        let cluster = RedisTarget::parse("redis+cluster://a:1,b:2").expect("cluster");
        assert_eq!(cluster.subscriber_url(0), "redis://a:1");
        assert_eq!(cluster.subscriber_url(3), "redis://b:2");
    }
}
