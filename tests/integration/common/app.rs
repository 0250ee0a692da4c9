//! The app under test: the real server started on port 0 over an isolated database (a fresh
//! SQLite data dir, or a PostgreSQL database of the test's own with Redis holds and a NATS
//! stream under the test's own prefixes), stopped, restarted, or joined by more nodes.

use std::net::SocketAddr;
use std::sync::Arc;

use boxoffice::app::AppState;
use boxoffice::config::{DatabaseUrl, ServeConfig};
use boxoffice::server::Application;

use super::client::Api;
use super::postgres::PgDatabase;
use super::unique;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn name(backend: Backend)` once per backend, as
/// `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Postgres).await
                }
            )*
        }
    };
}

/// Redis for the PostgreSQL deployment's holds (`BOXOFFICE_TEST_REDIS_URL`).
pub fn redis_url() -> String {
    std::env::var("BOXOFFICE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// NATS for the PostgreSQL deployment's event bus (`BOXOFFICE_TEST_NATS_URL`).
pub fn nats_url() -> String {
    std::env::var("BOXOFFICE_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// A running server and a client for it.
pub struct TestApp {
    pub addr: SocketAddr,
    /// The node's API (`app.base`, `app.client`, `app.get(…)` through `Deref`).
    pub api: Api,
    pub backend: Backend,
    pub data_dir: tempfile::TempDir,
    /// The PostgreSQL database's URL (a database of this test's own).
    pub database_url: Option<String>,
    /// The running app's state: its database, hold store and fault switches.
    pub state: AppState,
    /// The Redis key prefix of a PostgreSQL + Redis deployment.
    pub redis_prefix: Option<String>,
    config: ServeConfig,
    /// The PostgreSQL database, shared by every node of the deployment and dropped with the
    /// last of them.
    database: Option<Arc<PgDatabase>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl std::ops::Deref for TestApp {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut ServeConfig)) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut config = ServeConfig::embedded_for_tests(data_dir.path());
        let database = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                let database = PgDatabase::create().await;
                config.storage.database_url = Some(DatabaseUrl::new(database.url.clone()));
                config.storage.db_max_connections = 10;
                config.redis_url = Some(DatabaseUrl::new(redis_url()));
                config.redis_prefix = format!("t{}", unique());
                let tag = unique();
                config.nats_url = Some(DatabaseUrl::new(nats_url()));
                config.nats_stream = format!("T{tag}");
                config.nats_subject_prefix = format!("t{tag}");
                Some(Arc::new(database))
            }
        };
        tweak(&mut config);
        let redis_prefix = config
            .redis_url
            .as_ref()
            .map(|_| config.redis_prefix.clone());
        Self::start(backend, data_dir, database, redis_prefix, config).await
    }

    async fn start(
        backend: Backend,
        data_dir: tempfile::TempDir,
        database: Option<Arc<PgDatabase>>,
        redis_prefix: Option<String>,
        config: ServeConfig,
    ) -> Self {
        let app = Application::build(config.clone())
            .await
            .expect("app starts");
        let addr = app.local_addr().expect("addr");
        let state = app.state().clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        Self {
            addr,
            api: Api::new(format!("http://{addr}")),
            backend,
            data_dir,
            database_url: database.as_ref().map(|d| d.url.clone()),
            state,
            redis_prefix,
            config,
            database,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    /// Starts another node of the same deployment: the same database, Redis prefix, NATS stream
    /// and mail settings, its own port and data dir (so its own search index).
    pub async fn another_node(&self) -> TestApp {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut config = self.config.clone();
        config.storage.data_dir = data_dir.path().to_path_buf();
        config.bind = SocketAddr::from(([127, 0, 0, 1], 0));
        Self::start(
            self.backend,
            data_dir,
            self.database.clone(),
            self.redis_prefix.clone(),
            config,
        )
        .await
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.expect("join").expect("server ran cleanly");
        }
    }

    /// Stops the server, runs `while_down` on a fresh connection to its database, then starts a new server on the same data dir and
    /// database (a restarted node).
    pub async fn restart_after<F, Fut>(mut self, while_down: F) -> Self
    where
        F: FnOnce(boxoffice::store::Db) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.expect("join").expect("server ran cleanly");
        }
        let Self {
            backend,
            data_dir,
            database,
            redis_prefix,
            config,
            state,
            ..
        } = self;
        drop(state);
        // Another node's view of the same database while this one is down.
        let db = boxoffice::store::Db::connect(&config.storage)
            .await
            .expect("database");
        while_down(db.clone()).await;
        db.close().await;
        Self::start(backend, data_dir, database, redis_prefix, config).await
    }
}
