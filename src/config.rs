//! Every setting of the service: a flag, an environment variable and a default.
//!
//! Secrets are wrapped in [`Secret`] so they never appear in `Debug` output or logs.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

/// A value that must never be printed: `Debug` and `Display` show `[redacted]`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself; call only where it is used, never to log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// A database URL whose password is redacted when printed.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// The URL with any password replaced, safe for logs.
    pub fn redacted(&self) -> String {
        redact_url_password(&self.0)
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// Replaces the password part of `scheme://user:password@host/...` with `***`.
pub fn redact_url_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match (authority.rfind('@'), authority.find(':')) {
        (Some(at), Some(colon)) if colon < at => format!(
            "{}://{}:***{}",
            &url[..scheme_end],
            &authority[..colon],
            &rest[at..]
        ),
        _ => url.to_owned(),
    }
}

/// Settings shared by every subcommand that opens the database.
#[derive(Args, Debug, Clone)]
pub struct StorageConfig {
    /// Directory for the embedded default's SQLite database and generated keys.
    #[arg(long, env = "BOXOFFICE_DATA_DIR", default_value = "./boxoffice-data")]
    pub data_dir: PathBuf,

    /// PostgreSQL URL (`postgres://…`); without it the embedded SQLite default is used.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<DatabaseUrl>,

    /// Optional PostgreSQL read replica used for catalog reads.
    #[arg(long, env = "DATABASE_READ_URL")]
    pub database_read_url: Option<DatabaseUrl>,

    /// Largest number of connections in the database pool.
    #[arg(long, env = "BOXOFFICE_DB_MAX_CONNECTIONS", default_value_t = 20)]
    pub db_max_connections: u32,
}

impl StorageConfig {
    /// Storage settings for the embedded default in `data_dir`.
    pub fn embedded(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            database_url: None,
            database_read_url: None,
            db_max_connections: 8,
        }
    }
}

/// Settings of `boxoffice serve`.
#[derive(Args, Debug, Clone)]
pub struct ServeConfig {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    #[arg(long, env = "BOXOFFICE_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Serve `GET /metrics` on this address alone (for example an internal interface) instead
    /// of on `--bind` beside the API.
    #[arg(long, env = "BOXOFFICE_METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,

    #[command(flatten)]
    pub storage: StorageConfig,

    /// Redis URL for seat holds (`redis://…`); without it holds live in this process, which
    /// suits a single node only.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<DatabaseUrl>,

    /// Prefix of every Redis key, so several deployments can share one Redis.
    #[arg(long, env = "BOXOFFICE_REDIS_PREFIX", default_value = "bo")]
    pub redis_prefix: String,

    /// The longest one Redis call may take, in milliseconds; a request that needs Redis while
    /// it is down gets a 503 with `Retry-After` within about this long.
    #[arg(long, env = "BOXOFFICE_REDIS_TIMEOUT_MS", default_value_t = 1_000)]
    pub redis_timeout_ms: u64,

    /// NATS URL (`nats://…`) for the booking event bus (JetStream); without it events go to
    /// in-process subscribers.
    #[arg(long, env = "NATS_URL")]
    pub nats_url: Option<DatabaseUrl>,

    /// JetStream stream name; subjects are `<prefix>.<topic>`.
    #[arg(long, env = "BOXOFFICE_NATS_STREAM", default_value = "BOXOFFICE")]
    pub nats_stream: String,

    /// Subject prefix of published events.
    #[arg(
        long,
        env = "BOXOFFICE_NATS_SUBJECT_PREFIX",
        default_value = "boxoffice"
    )]
    pub nats_subject_prefix: String,

    /// SMTP URL (`smtp://host:port`) for emails; without it emails are written as `.eml` files
    /// under the data dir's `outbox-mail/`.
    #[arg(long, env = "SMTP_URL")]
    pub smtp_url: Option<DatabaseUrl>,

    /// The sender of emails.
    #[arg(
        long,
        env = "BOXOFFICE_EMAIL_FROM",
        default_value = "boxoffice <tickets@boxoffice.local>"
    )]
    pub email_from: String,

    /// Ed25519 seed (32 bytes, base64url) that signs ticket codes. Without it one is generated
    /// and kept in the data dir (SQLite) or the database (PostgreSQL, shared by every node).
    #[arg(long, env = "BOXOFFICE_TICKET_SIGNING_KEY", hide_env_values = true)]
    pub ticket_signing_key: Option<Secret>,

    /// Let organiser webhooks target loopback, private and link-local addresses (off: such URLs
    /// are refused, so webhooks cannot probe the deployment's own network).
    #[arg(long, env = "BOXOFFICE_WEBHOOK_ALLOW_PRIVATE", default_value_t = false)]
    pub webhooks_allow_private: bool,

    /// PEM file of extra CA certificates trusted for `https://` webhooks, besides the built-in
    /// Mozilla roots (for endpoints signed by a private CA).
    #[arg(long, env = "BOXOFFICE_WEBHOOK_CA_FILE")]
    pub webhook_ca_file: Option<PathBuf>,

    /// Do not load demo data on the first start of an empty embedded (SQLite) database.
    #[arg(long, env = "BOXOFFICE_NO_DEMO", default_value_t = false)]
    pub no_demo: bool,

    /// Load the demo data (with its published passwords) into an empty database on any
    /// backend; a PostgreSQL deployment never loads it otherwise.
    #[arg(long, env = "BOXOFFICE_DEMO", default_value_t = false)]
    pub demo: bool,

    /// HMAC secret for access tokens. Without it a random one is generated once and kept in
    /// the database, so every node of a deployment shares it.
    #[arg(long, env = "BOXOFFICE_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,

    /// Lifetime of an access token, in seconds.
    #[arg(long, env = "BOXOFFICE_ACCESS_TOKEN_SECONDS", default_value_t = 900)]
    pub access_token_seconds: u64,

    /// Lifetime of a refresh token, in days.
    #[arg(long, env = "BOXOFFICE_REFRESH_TOKEN_DAYS", default_value_t = 30)]
    pub refresh_token_days: u64,

    /// Require a Bearer token for catalog reads (shows, events, venues).
    #[arg(long, env = "BOXOFFICE_CATALOG_REQUIRES_AUTH", default_value_t = false)]
    pub catalog_requires_auth: bool,

    /// `max-age` of cacheable catalog responses, in seconds.
    #[arg(long, env = "BOXOFFICE_CATALOG_MAX_AGE", default_value_t = 30)]
    pub catalog_max_age: u32,

    /// Largest accepted request body, in bytes (larger ones get 413).
    #[arg(long, env = "BOXOFFICE_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Time a connection gets to send a whole request head, and to stay idle between requests,
    /// in milliseconds; slower or silent connections are closed.
    #[arg(long, env = "BOXOFFICE_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_timeout_ms: u64,

    /// Time a request body gets to arrive, in milliseconds (slower: 408).
    #[arg(long, env = "BOXOFFICE_BODY_TIMEOUT_MS", default_value_t = 15_000)]
    pub body_timeout_ms: u64,

    /// Time a request gets to be answered, in milliseconds (longer: 503 with `Retry-After`).
    #[arg(long, env = "BOXOFFICE_REQUEST_TIMEOUT_MS", default_value_t = 30_000)]
    pub request_timeout_ms: u64,

    /// Most open client connections; one more is answered 503 at once. Never more than the
    /// open-files limit (raised to its hard limit at start) allows.
    #[arg(long, env = "BOXOFFICE_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// Most seats one venue layout may have; bounds what one onboarding or preview request can
    /// make the server build and send.
    #[arg(long, env = "BOXOFFICE_MAX_SEATS_PER_VENUE", default_value_t = crate::venues::layout::MAX_SEATS_PER_VENUE)]
    pub max_seats_per_venue: usize,

    /// Seconds to let in-flight requests finish after SIGTERM/Ctrl-C.
    #[arg(long, env = "BOXOFFICE_SHUTDOWN_GRACE_SECONDS", default_value_t = 20)]
    pub shutdown_grace_seconds: u64,

    /// How often each node reconciles payments the normal flow left unsettled (a capture or
    /// refund lost to a crash or a provider outage), in milliseconds.
    #[arg(long, env = "BOXOFFICE_RECONCILE_EVERY_MS", default_value_t = 30_000)]
    pub reconcile_every_ms: u64,

    /// How long a payment may stay `authorized` or `refund_pending` before reconciliation takes
    /// it over, in milliseconds (the normal flow settles it within milliseconds).
    #[arg(long, env = "BOXOFFICE_RECONCILE_AFTER_MS", default_value_t = 60_000)]
    pub reconcile_after_ms: u64,

    /// How often each node rebuilds the live availability of the shows it serves from the
    /// database and the hold store, repairing any drift (a flushed hold store, an announcement
    /// lost to a crash), in milliseconds.
    #[arg(
        long,
        env = "BOXOFFICE_AVAILABILITY_REPAIR_MS",
        default_value_t = 10_000
    )]
    pub availability_repair_ms: u64,

    /// Argon2id memory cost in KiB (the OWASP minimum, 19456, by default).
    #[arg(long, env = "BOXOFFICE_ARGON2_MEMORY_KIB", default_value_t = 19_456)]
    pub argon2_memory_kib: u32,

    /// Argon2id iterations.
    #[arg(long, env = "BOXOFFICE_ARGON2_ITERATIONS", default_value_t = 2)]
    pub argon2_iterations: u32,

    /// Password hashes (logins, sign-ups) running at once; each holds its Argon2 memory.
    /// Defaults to the number of cores.
    #[arg(long, env = "BOXOFFICE_PASSWORD_HASH_CONCURRENCY")]
    pub password_hash_concurrency: Option<usize>,

    /// Password hashes allowed to wait for a running slot; more get 503 with `Retry-After`.
    #[arg(long, env = "BOXOFFICE_PASSWORD_HASH_QUEUE", default_value_t = 64)]
    pub password_hash_queue: usize,

    /// The longest a password hash waits for a running slot before a 503, in milliseconds.
    #[arg(long, env = "BOXOFFICE_PASSWORD_HASH_WAIT_MS", default_value_t = 5_000)]
    pub password_hash_wait_ms: u64,

    /// How long a spent refresh token is still answered with the same successor (concurrent
    /// refreshes from several tabs), in seconds; presenting it later revokes its family.
    #[arg(
        long,
        env = "BOXOFFICE_REFRESH_REUSE_GRACE_SECONDS",
        default_value_t = 30
    )]
    pub refresh_reuse_grace_seconds: u64,

    /// Commit concurrent bookings of this node together, one transaction per batch
    /// (PostgreSQL; the embedded default has one writer and commits each on its own).
    #[arg(long = "group-commit", env = "BOXOFFICE_GROUP_COMMIT", default_value_t = true, action = clap::ArgAction::Set)]
    pub group_commit: bool,

    #[command(flatten)]
    pub rate_limits: crate::limits::RateLimitConfig,
}

impl ServeConfig {
    /// Whether to load the demo data into an empty database: on the embedded default unless
    /// `--no-demo`, on PostgreSQL only when asked with `--demo`.
    pub fn wants_demo(&self) -> bool {
        self.demo || (self.storage.database_url.is_none() && !self.no_demo)
    }

    /// The password hashing bounds these settings describe.
    pub fn password_hash_limits(&self) -> crate::auth::password::HashLimits {
        let defaults = crate::auth::password::HashLimits::default();
        crate::auth::password::HashLimits {
            concurrency: self
                .password_hash_concurrency
                .unwrap_or(defaults.concurrency),
            queue: self.password_hash_queue,
            wait: std::time::Duration::from_millis(self.password_hash_wait_ms),
        }
    }

    /// The embedded default in `data_dir`, listening on a free loopback port: what tests start.
    pub fn embedded_for_tests(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            storage: StorageConfig::embedded(data_dir),
            redis_url: None,
            redis_prefix: "bo".into(),
            redis_timeout_ms: 1_000,
            nats_url: None,
            nats_stream: "BOXOFFICE".into(),
            nats_subject_prefix: "boxoffice".into(),
            smtp_url: None,
            metrics_bind: None,
            email_from: "boxoffice <tickets@boxoffice.local>".into(),
            ticket_signing_key: None,
            webhooks_allow_private: false,
            webhook_ca_file: None,
            no_demo: true,
            demo: false,
            jwt_secret: None,
            access_token_seconds: 900,
            refresh_token_days: 30,
            catalog_requires_auth: false,
            catalog_max_age: 30,
            max_body_bytes: 1024 * 1024,
            header_timeout_ms: 10_000,
            body_timeout_ms: 15_000,
            request_timeout_ms: 30_000,
            max_connections: 10_000,
            max_seats_per_venue: crate::venues::layout::MAX_SEATS_PER_VENUE,
            shutdown_grace_seconds: 5,
            reconcile_every_ms: 30_000,
            reconcile_after_ms: 60_000,
            availability_repair_ms: 10_000,
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            password_hash_concurrency: None,
            password_hash_queue: 64,
            password_hash_wait_ms: 5_000,
            refresh_reuse_grace_seconds: 30,
            group_commit: true,
            rate_limits: crate::limits::RateLimitConfig::off(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_redacted() {
        assert_eq!(
            redact_url_password("postgres://app:hunter2@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(
            redact_url_password("postgres://app@db/x"),
            "postgres://app@db/x"
        );
        let url = DatabaseUrl::new("postgres://a:b@c/d");
        assert!(!format!("{url:?}").contains(":b@"));
        assert_eq!(format!("{:?}", Secret::new("s3cret")), "[redacted]");
    }

    #[test]
    fn demo_data_is_for_the_embedded_default_or_when_asked() {
        #[derive(clap::Parser)]
        struct Serve {
            #[command(flatten)]
            config: ServeConfig,
        }
        let asked = <Serve as clap::Parser>::try_parse_from(["serve", "--demo"])
            .expect("--demo parses")
            .config;
        assert!(asked.demo && asked.wants_demo());

        let mut config = ServeConfig::embedded_for_tests("unused");
        config.no_demo = false;
        assert!(config.wants_demo(), "the embedded default loads it");
        config.storage.database_url = Some(DatabaseUrl::new("postgres://db/boxoffice"));
        assert!(!config.wants_demo(), "PostgreSQL does not, by default");
        config.demo = true;
        assert!(config.wants_demo(), "unless asked");
    }
}
