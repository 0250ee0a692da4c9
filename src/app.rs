//! What every handler and worker gets: [`AppState`], built once per process from the settings.
//! The routes are assembled in [`crate::router`], the process is started in [`crate::server`].

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::auth::password::Passwords;
use crate::auth::tokens::{random_token, TokenKeys};
use crate::config::ServeConfig;
use crate::events::NatsBus;
use crate::faults::Faults;
use crate::holds::{HoldStore, MemoryHolds, RedisHolds};
use crate::inventory::ShowCache;
use crate::notify::email::Mailer;
use crate::payments::{PaymentProvider, Sandbox};
use crate::search::SearchIndex;
use crate::store::Db;
use crate::tickets::TicketKeys;

/// Settings the handlers read.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Most seats one venue layout may have (onboarding and preview).
    pub max_seats_per_venue: usize,
    pub catalog_requires_auth: bool,
    pub catalog_max_age: u32,
    pub refresh_token_days: i64,
    /// How long a spent refresh token is answered with its successor instead of revoking.
    pub refresh_reuse_grace: chrono::Duration,
}

/// What every handler gets: one shared [`NodeState`], so cloning it per request (as axum does for
/// each extractor) is one reference count instead of one per field.
#[derive(Clone)]
pub struct AppState(Arc<NodeState>);

impl std::ops::Deref for AppState {
    type Target = NodeState;

    fn deref(&self) -> &NodeState {
        &self.0
    }
}

/// This node's connections, stores and settings.
pub struct NodeState {
    pub db: Db,
    /// The booking committer (PostgreSQL, `--group-commit`): bookings ready at once share a
    /// transaction.
    pub booking_group: Option<crate::booking::group::GroupCommitter>,
    pub holds: HoldStore,
    /// The waiting rooms (their lines on the hold store's Redis, or in process).
    pub queue: Arc<crate::queue::WaitingRoom>,
    /// The gateway's rate limits (on the hold store's Redis, or in process).
    pub limits: Arc<crate::limits::Limiter>,
    pub payments: PaymentProvider,
    pub faults: Arc<Faults>,
    pub shows: Arc<ShowCache>,
    pub ticket_keys: Arc<TicketKeys>,
    pub mailer: Arc<Mailer>,
    pub email_from: Arc<str>,
    /// JetStream, when `NATS_URL` is set; otherwise events go to in-process consumers.
    pub nats: Option<NatsBus>,
    /// Wakes the outbox relay right after a commit that wrote an outbox row.
    pub outbox_wakeup: Arc<tokio::sync::Notify>,
    /// Failed in-process deliveries per outbox row, for dead-lettering.
    pub relay_attempts: Arc<std::sync::Mutex<std::collections::HashMap<i64, u32>>>,
    /// What this node's outbox relay has published.
    pub relay_stats: Arc<crate::events::RelayStats>,
    /// Whether webhooks may target loopback and private addresses (tests, private networks).
    pub webhooks_allow_private: bool,
    /// This node's search index (opened by `serve`; absent in one-shot commands).
    pub search: std::sync::OnceLock<Arc<SearchIndex>>,
    /// Wakes the webhook sender when deliveries were queued.
    pub webhook_wakeup: Arc<tokio::sync::Notify>,
    /// The HTTP client webhooks are delivered with (no redirects, checked addresses).
    pub webhook_client: reqwest::Client,
    /// This deployment's identity on a shared event bus (one per database).
    pub deployment: Arc<crate::events::Deployment>,
    pub tokens: Arc<TokenKeys>,
    pub passwords: Arc<Passwords>,
    pub settings: Arc<Settings>,
    /// This node's catalog answers, kept in memory until the catalog changes.
    pub catalog: Arc<crate::catalog::cache::CatalogCache>,
    /// This node's live seat availability (layout, snapshot, stream).
    pub availability: Arc<crate::availability::Availability>,
    /// Turns true when the node begins to shut down (long-lived streams end on it).
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// Begins the shutdown of everything that watches [`Self::shutdown`].
    pub begin_shutdown: Arc<tokio::sync::watch::Sender<bool>>,
}

impl AppState {
    /// Builds the state over an already migrated database, connecting to Redis if configured.
    pub async fn new(db: Db, config: &ServeConfig) -> anyhow::Result<Self> {
        let deployment = Arc::new(
            crate::events::Deployment::load(&db)
                .await
                .context("cannot read or create the deployment id")?,
        );
        let holds = match &config.redis_url {
            Some(url) => HoldStore::Redis(
                RedisHolds::connect(
                    url.expose(),
                    &config.redis_prefix,
                    &deployment.id,
                    Duration::from_millis(config.redis_timeout_ms.max(10)),
                )
                .await
                .with_context(|| format!("cannot connect to Redis at {}", url.redacted()))?,
            ),
            None => HoldStore::Memory(MemoryHolds::new()),
        };
        let ticket_keys = crate::tickets::load_keys(
            &db,
            config.ticket_signing_key.as_ref().map(|k| k.expose()),
            &config.storage.data_dir,
        )
        .await
        .context("cannot load the ticket signing key")?;
        let mailer = Mailer::new(
            config.smtp_url.as_ref().map(|u| u.expose()),
            &config.storage.data_dir,
        )?;
        let nats = match &config.nats_url {
            Some(url) => Some(
                NatsBus::connect(
                    url.expose(),
                    &config.nats_stream,
                    &config.nats_subject_prefix,
                    deployment.clone(),
                )
                .await
                .with_context(|| format!("cannot connect to NATS at {}", url.redacted()))?,
            ),
            None => None,
        };
        let secret = match &config.jwt_secret {
            Some(secret) if secret.expose().len() >= 32 => secret.expose().to_owned(),
            Some(_) => anyhow::bail!("BOXOFFICE_JWT_SECRET must have at least 32 characters"),
            None => crate::auth::store::shared_secret(&db, "jwt_hs256", &random_token(48))
                .await
                .context("cannot read or create the shared JWT secret")?,
        };
        let webhook_ca =
            match &config.webhook_ca_file {
                Some(path) => Some(std::fs::read(path).with_context(|| {
                    format!("cannot read the webhook CA file {}", path.display())
                })?),
                None => None,
            };
        let webhook_client = crate::notify::webhooks::delivery_client(
            config.webhooks_allow_private,
            webhook_ca.as_deref(),
        )
        .context("cannot build the webhook HTTP client")?;
        let booking_group = match (&db, config.group_commit) {
            (Db::Postgres { write, .. }, true) => {
                Some(crate::booking::group::GroupCommitter::start(write.clone()))
            }
            _ => None,
        };
        let availability = crate::availability::Availability::new(
            db.clone(),
            holds.clone(),
            Duration::from_millis(config.availability_repair_ms.max(50)),
        );
        let limits = Arc::new(crate::limits::Limiter::new(
            config.rate_limits.clone(),
            match &holds {
                HoldStore::Redis(redis) => Some(redis.connection()),
                HoldStore::Memory(_) => None,
            },
        ));
        let line = match &holds {
            HoldStore::Redis(redis) => {
                let (conn, timeout, prefix) = redis.connection();
                crate::queue::line::Line::Redis(crate::queue::line::RedisLine::new(
                    conn, prefix, timeout,
                ))
            }
            HoldStore::Memory(_) => crate::queue::line::Line::Memory(Default::default()),
        };
        let pass_secret =
            crate::auth::store::shared_secret(&db, "queue_pass_hmac", &random_token(48))
                .await
                .context("cannot read or create the shared queue pass secret")?;
        let queue = Arc::new(crate::queue::WaitingRoom::new(line, pass_secret.as_bytes()));
        let (begin_shutdown, shutdown) = tokio::sync::watch::channel(false);
        let access_seconds = i64::try_from(config.access_token_seconds)
            .context("access token lifetime is too large")?;
        Ok(Self(Arc::new(NodeState {
            payments: PaymentProvider::Sandbox(if config.group_commit {
                Sandbox::batched(db.clone())
            } else {
                Sandbox::new(db.clone())
            }),
            db,
            holds,
            queue,
            limits,
            availability,
            catalog: Arc::default(),
            shutdown,
            begin_shutdown: Arc::new(begin_shutdown),
            faults: Arc::new(Faults::default()),
            shows: Arc::new(ShowCache::default()),
            ticket_keys: Arc::new(ticket_keys),
            mailer: Arc::new(mailer),
            email_from: Arc::from(config.email_from.as_str()),
            nats,
            outbox_wakeup: Arc::new(tokio::sync::Notify::new()),
            booking_group,
            webhook_wakeup: Arc::new(tokio::sync::Notify::new()),
            webhook_client,
            deployment,
            search: std::sync::OnceLock::new(),
            relay_attempts: Arc::default(),
            relay_stats: Arc::default(),
            webhooks_allow_private: config.webhooks_allow_private,
            tokens: Arc::new(TokenKeys::new(secret.as_bytes(), access_seconds)),
            passwords: Arc::new(Passwords::with_limits(
                config.argon2_memory_kib,
                config.argon2_iterations,
                config.password_hash_limits(),
            )?),
            settings: Arc::new(Settings {
                catalog_requires_auth: config.catalog_requires_auth,
                catalog_max_age: config.catalog_max_age,
                refresh_token_days: i64::try_from(config.refresh_token_days)
                    .context("refresh token lifetime is too large")?,
                max_seats_per_venue: config.max_seats_per_venue,
                refresh_reuse_grace: chrono::Duration::seconds(
                    i64::try_from(config.refresh_reuse_grace_seconds)
                        .context("refresh reuse grace is too large")?,
                ),
            }),
        })))
    }
}
