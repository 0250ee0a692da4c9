//! A testable start-up: open and migrate the database, bind first and expose the real port,
//! then serve until a shutdown future resolves, with the background workers beside the server.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;

use crate::app::AppState;
use crate::config::ServeConfig;
use crate::router::{router, MetricsRoute, RequestLimits};
use crate::search::SearchIndex;
use crate::store::Db;
use crate::workers::{self, Pace};

/// A bound, migrated, ready-to-serve instance.
pub struct Application {
    search_dir: std::path::PathBuf,
    listener: TcpListener,
    /// `--metrics-bind`: `GET /metrics` alone.
    metrics_listener: Option<TcpListener>,
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
        let state = AppState::new(db, &config).await?;
        if config.wants_demo() {
            crate::demo::seed_if_empty(&state).await?;
        }
        let search_dir = config.storage.data_dir.join("search-index");
        let index = Arc::new(SearchIndex::open(Some(&search_dir)).with_context(|| {
            format!("cannot open the search index in {}", search_dir.display())
        })?);
        crate::search::sync_once(&state.db, &index, &search_dir, None).await?;
        let _ = state.search.set(index);
        let listener = TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("cannot listen on {}", config.bind))?;
        let metrics_listener = match config.metrics_bind {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} for metrics"))?,
            ),
            None => None,
        };
        let metrics_route = if metrics_listener.is_some() {
            MetricsRoute::Separate
        } else {
            MetricsRoute::Public
        };
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
            router: router(
                state.clone(),
                RequestLimits::from_config(&config),
                metrics_route,
            ),
            listener,
            metrics_listener,
            state,
            limits,
            reconcile_every: Duration::from_millis(config.reconcile_every_ms.max(10)),
            reconcile_after: Duration::from_millis(config.reconcile_after_ms),
        })
    }

    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// The address `GET /metrics` is served on alone, with `--metrics-bind`.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
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
        let tx = self.state.begin_shutdown.clone();
        let rx = self.state.shutdown.clone();
        let mut workers = crate::events::spawn_workers(self.state.clone(), rx.clone());
        workers.push(tokio::spawn(
            self.state.availability.clone().run(rx.clone()),
        ));
        if let Some(index) = self.state.search.get().cloned() {
            workers.push(tokio::spawn(workers::run(
                crate::search::Indexer::new(self.state.clone(), index, self.search_dir.clone()),
                Pace::Every(Duration::from_millis(200)),
                rx.clone(),
            )));
        }
        workers.push(tokio::spawn(workers::run(
            crate::payments::Reconciler {
                state: self.state.clone(),
                settled_within: self.reconcile_after,
            },
            Pace::AfterEvery(self.reconcile_every),
            rx.clone(),
        )));
        if let Some(listener) = self.metrics_listener {
            let metrics = Router::new()
                .route(
                    "/metrics",
                    axum::routing::get(crate::http::metrics::metrics),
                )
                .with_state(self.state.clone());
            let mut stop = rx.clone();
            workers.push(tokio::spawn(async move {
                let stopped = async move {
                    let _ = stop.wait_for(|stopping| *stopping).await;
                };
                if let Err(e) = axum::serve(listener, metrics)
                    .with_graceful_shutdown(stopped)
                    .await
                {
                    tracing::error!(error = %e, "metrics listener failed");
                }
            }));
        }
        let takeover =
            crate::availability::stream::takeover(self.state.clone(), self.limits.header_timeout);
        let finished = crate::http::serve::serve(
            self.listener,
            self.router,
            self.limits,
            Some(takeover),
            async move {
                shutdown.await;
                let _ = tx.send(true);
            },
        )
        .await;
        if !finished {
            tracing::warn!("grace period over; closing with requests still in flight");
        }
        drop(rx);
        for worker in workers {
            let _ = tokio::time::timeout(Duration::from_secs(5), worker).await;
        }
        // The relay stopped when shutdown began; what committed since is published now.
        let flushed = crate::events::flush(&self.state, Duration::from_secs(5)).await;
        if flushed > 0 {
            tracing::info!(events = flushed, "outbox flushed at shutdown");
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
