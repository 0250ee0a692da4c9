//! Application state, router assembly and a testable start-up: bind first, expose the real
//! port, then serve until a shutdown future resolves.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderName, Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{middleware, Json, Router};
use serde_json::json;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::TraceLayer;

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

/// What every handler gets.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub holds: HoldStore,
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
    pub search: Option<Arc<SearchIndex>>,
    /// Wakes the webhook sender when deliveries were queued.
    pub webhook_wakeup: Arc<tokio::sync::Notify>,
    /// The HTTP client webhooks are delivered with (no redirects, checked addresses).
    pub webhook_client: reqwest::Client,
    /// This deployment's identity on a shared event bus (one per database).
    pub deployment: Arc<crate::events::Deployment>,
    pub tokens: Arc<TokenKeys>,
    pub passwords: Arc<Passwords>,
    pub settings: Arc<Settings>,
}

impl AppState {
    /// Builds the state over an already migrated database, connecting to Redis if configured.
    pub async fn new(db: Db, config: &ServeConfig) -> anyhow::Result<Self> {
        let holds = match &config.redis_url {
            Some(url) => HoldStore::Redis(
                RedisHolds::connect(
                    url.expose(),
                    &config.redis_prefix,
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
        let deployment = Arc::new(
            crate::events::Deployment::load(&db)
                .await
                .context("cannot read or create the deployment id")?,
        );
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
        let access_seconds = i64::try_from(config.access_token_seconds)
            .context("access token lifetime is too large")?;
        Ok(Self {
            payments: PaymentProvider::Sandbox(Sandbox::new(db.clone())),
            db,
            holds,
            faults: Arc::new(Faults::default()),
            shows: Arc::new(ShowCache::default()),
            ticket_keys: Arc::new(ticket_keys),
            mailer: Arc::new(mailer),
            email_from: Arc::from(config.email_from.as_str()),
            nats,
            outbox_wakeup: Arc::new(tokio::sync::Notify::new()),
            webhook_wakeup: Arc::new(tokio::sync::Notify::new()),
            webhook_client,
            deployment,
            search: None,
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
        })
    }
}

/// Bounds of one request: its body's size and arrival time, and the time to answer it.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    pub max_body_bytes: usize,
    pub body_timeout: Duration,
    pub request_timeout: Duration,
}

impl RequestLimits {
    pub fn from_config(config: &ServeConfig) -> Self {
        Self {
            max_body_bytes: config.max_body_bytes,
            body_timeout: Duration::from_millis(config.body_timeout_ms.max(1)),
            request_timeout: Duration::from_millis(config.request_timeout_ms.max(1)),
        }
    }
}

/// Every route of the service, with the gateway layers.
pub fn router(state: AppState, limits: RequestLimits) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(crate::auth::router())
        .merge(crate::venues::router())
        .merge(crate::catalog::router())
        .merge(crate::holds::router())
        .merge(crate::booking::router())
        .merge(crate::tickets::router())
        .merge(crate::notify::webhooks::router())
        .merge(crate::search::router())
        .merge(crate::web::router())
        .fallback(crate::http::not_found)
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(CatchPanicLayer::custom(crate::http::panic_response))
        .layer(middleware::from_fn_with_state(
            limits.request_timeout,
            crate::http::request_deadline,
        ))
        .layer(RequestBodyTimeoutLayer::new(limits.body_timeout))
        .layer(middleware::from_fn(crate::http::request_limits))
        .layer(middleware::map_response(crate::http::error_shape))
        .layer(middleware::map_response(crate::http::security::security_headers))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
            }),
        )
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// `ok`, `unreachable` or `timeout` for one dependency of `/readyz` (2 s at most).
async fn probe<E: std::fmt::Display>(
    name: &str,
    check: impl Future<Output = Result<(), E>>,
) -> &'static str {
    match tokio::time::timeout(Duration::from_secs(2), check).await {
        Ok(Ok(())) => "ok",
        Ok(Err(e)) => {
            tracing::warn!(error = %e, dependency = name, "readiness: unreachable");
            "unreachable"
        }
        Err(_) => "timeout",
    }
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let (db, holds) = tokio::join!(
        probe("database", state.db.ping()),
        probe("hold store", state.holds.ping())
    );
    let nats = state
        .nats
        .as_ref()
        .map(|bus| if bus.connected() { "ok" } else { "unreachable" });
    let bounded = Duration::from_secs(2);
    let lag = tokio::time::timeout(bounded, crate::events::outbox_lag_seconds(&state.db))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or(-1.0);
    let backlog = tokio::time::timeout(bounded, crate::events::outbox_backlog(&state.db))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or(-1);
    if lag > 10.0 {
        tracing::warn!(lag_seconds = lag, backlog, "outbox relay is behind");
    }
    let published = state.relay_stats.published.load(Ordering::Relaxed);
    let duplicates = state.relay_stats.duplicates.load(Ordering::Relaxed);
    let ready = db == "ok" && holds == "ok" && nats.is_none_or(|n| n == "ok");
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let retry_after = [(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static(if ready { "0" } else { "1" }),
    )];
    (
        status,
        retry_after,
        Json(json!({
            "status": if ready { "ready" } else { "unavailable" },
            "checks": {
                "database": { "status": db, "backend": state.db.backend().as_str() },
                "holds": { "status": holds, "backend": state.holds.kind() },
                "event_bus": {
                    "status": nats.unwrap_or("ok"),
                    "backend": if state.nats.is_some() { "nats" } else { "in-process" },
                },
                "outbox": {
                    "lag_seconds": lag,
                    "unpublished": backlog,
                    "published_by_this_node": published,
                    "republished_duplicates": duplicates,
                },
            },
        })),
    )
}

/// A bound, migrated, ready-to-serve instance.
pub struct Application {
    search_dir: std::path::PathBuf,
    listener: TcpListener,
    router: Router,
    state: AppState,
    limits: crate::http::serve::ServeLimits,
    reconcile_every: Duration,
    reconcile_after: Duration,
}

impl Application {
    /// Opens and migrates the database, loads demo data if asked, and binds the listener.
    pub async fn build(config: ServeConfig) -> anyhow::Result<Self> {
        let db = Db::connect(&config.storage).await?;
        db.migrate().await?;
        let mut state = AppState::new(db, &config).await?;
        if config.wants_demo() {
            crate::demo::seed_if_empty(&state).await?;
        }
        let search_dir = config.storage.data_dir.join("search-index");
        let index = Arc::new(SearchIndex::open(Some(&search_dir)).with_context(|| {
            format!("cannot open the search index in {}", search_dir.display())
        })?);
        crate::search::sync_once(&state.db, &index, &search_dir).await?;
        state.search = Some(index);
        let listener = TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("cannot listen on {}", config.bind))?;
        // Connections may use the open-files limit less a reserve for the database and Redis
        // pools, NATS, the search index and mail.
        let open_files = crate::http::serve::raise_open_files_limit();
        let fd_room = usize::try_from(open_files.saturating_sub(256)).unwrap_or(usize::MAX);
        let limits = crate::http::serve::ServeLimits {
            header_timeout: Duration::from_millis(config.header_timeout_ms.max(1)),
            max_connections: config.max_connections.min(fd_room).max(1),
            grace: Duration::from_secs(config.shutdown_grace_seconds),
        };
        Ok(Self {
            search_dir,
            router: router(state.clone(), RequestLimits::from_config(&config)),
            listener,
            state,
            limits,
            reconcile_every: Duration::from_millis(config.reconcile_every_ms.max(10)),
            reconcile_after: Duration::from_millis(config.reconcile_after_ms),
        })
    }

    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish (up to the grace
    /// period) and closes the database.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let mut workers = crate::events::spawn_workers(self.state.clone(), rx.clone());
        if let Some(index) = self.state.search.clone() {
            workers.push(tokio::spawn(crate::search::run_indexer(
                self.state.clone(),
                index,
                self.search_dir.clone(),
                rx.clone(),
            )));
        }
        workers.push(tokio::spawn(crate::payments::run_reconciler(
            self.state.clone(),
            self.reconcile_every,
            self.reconcile_after,
            rx.clone(),
        )));
        let finished =
            crate::http::serve::serve(self.listener, self.router, self.limits, async move {
                shutdown.await;
                let _ = tx.send(true);
            })
            .await;
        if !finished {
            tracing::warn!("grace period over; closing with requests still in flight");
        }
        drop(rx);
        for worker in workers {
            let _ = tokio::time::timeout(Duration::from_secs(5), worker).await;
        }
        self.state.db.close().await;
        Ok(())
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
