//! A PostgreSQL database of each test's own, cloned from a template.
//!
//! The migrations run once, into a template database named after a digest of
//! `migrations/postgres` (`t_tpl_<digest>`, so a changed migration gets a new template and an
//! unchanged one is reused by later runs). Each test then gets `CREATE DATABASE t_<unique>
//! TEMPLATE t_tpl_<digest>`: a copy of the migrated catalog, about half the cost of running
//! every migration again. The app still runs its migrations at start-up, and finds them all
//! applied.
//!
//! Databases rather than schemas: PostgreSQL can copy a database (`TEMPLATE`) but not a schema,
//! so a schema per test means running every migration per test. The app takes the database from
//! the URL's path like any deployment, with the default `public` schema, where a schema per test
//! needs a `search_path` option smuggled into the URL.
//!
//! The template is built once per test process (a [`OnceCell`]) and once across processes (a
//! PostgreSQL advisory lock; built under a temporary name and renamed when complete, so its
//! name existing means it is ready). A test's database is dropped in the background when its
//! last app is dropped; set `BOXOFFICE_TEST_KEEP_DATABASES=1` to keep them for a look.
//! Databases a killed run leaves behind, and stale templates, are dropped by `.ci/run` (every
//! database named `t_…`).

use std::sync::{Mutex, OnceLock};

use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection};
use tokio::sync::OnceCell;

use super::unique;

/// The advisory lock key serialising template builds across test processes.
const TEMPLATE_LOCK: i64 = 0x626f_7874_706c; // "boxtpl"

static TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// The PostgreSQL server tests use, through a database that always exists
/// (`BOXOFFICE_TEST_DATABASE_URL`).
pub fn admin_database_url() -> String {
    std::env::var("BOXOFFICE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// `url` naming the database `name` instead (its query options kept).
pub fn with_database(url: &str, name: &str) -> String {
    let mut url = reqwest::Url::parse(url).expect("BOXOFFICE_TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

async fn admin_connection() -> PgConnection {
    let admin = admin_database_url();
    PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is required for these tests: {e}"))
}

async fn execute(conn: &mut PgConnection, sql: &str) {
    sqlx::query(sql)
        .execute(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// A digest of every file of `migrations/postgres` (names and contents).
fn migrations_digest() -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("migrations/postgres")
        .map(|entry| entry.expect("migration file").path())
        .collect();
    files.sort();
    let mut hasher = Sha256::new();
    for file in files {
        let name = file.file_name().expect("file name").to_string_lossy();
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(std::fs::read(&file).expect("read migration"));
        hasher.update([0]);
    }
    hex::encode(&hasher.finalize()[..8])
}

/// The migrated template's name, built if this is the first test to need it.
pub async fn template() -> &'static str {
    TEMPLATE.get_or_init(build_template).await
}

async fn build_template() -> String {
    let name = format!("t_tpl_{}", migrations_digest());
    let mut conn = admin_connection().await;
    // Another test process may be building the same template: one at a time (the lock is the
    // session's, so it goes if this process dies).
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(TEMPLATE_LOCK)
        .execute(&mut conn)
        .await
        .expect("template lock");
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut conn)
            .await
            .expect("look for the template");
    if !exists {
        // Left over by a build that died, if any.
        let building = format!("{name}_build");
        execute(
            &mut conn,
            &format!("DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)"),
        )
        .await;
        execute(&mut conn, &format!("CREATE DATABASE \"{building}\"")).await;
        // The app's own migration code, as at a deployment's first start.
        let storage = boxoffice::config::StorageConfig {
            database_url: Some(boxoffice::config::DatabaseUrl::new(with_database(
                &admin_database_url(),
                &building,
            ))),
            db_max_connections: 1,
            ..boxoffice::config::StorageConfig::embedded(std::env::temp_dir())
        };
        let db = boxoffice::store::Db::connect(&storage)
            .await
            .expect("connect to the template");
        db.migrate().await.expect("migrate the template");
        db.close().await;
        // Nobody connects to the template again (a session on it would make every copy fail);
        // the copies allow connections as usual.
        execute(
            &mut conn,
            &format!("ALTER DATABASE \"{building}\" WITH ALLOW_CONNECTIONS false"),
        )
        .await;
        execute(
            &mut conn,
            &format!("ALTER DATABASE \"{building}\" RENAME TO \"{name}\""),
        )
        .await;
    }
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(TEMPLATE_LOCK)
        .execute(&mut conn)
        .await
        .expect("template unlock");
    let _ = conn.close().await;
    name
}

/// A migrated database of one test's own, dropped (in the background) when dropped.
#[derive(Debug)]
pub struct PgDatabase {
    pub name: String,
    pub url: String,
}

impl PgDatabase {
    pub async fn create() -> Self {
        let template = template().await;
        let name = format!("t_{}", unique());
        let mut conn = admin_connection().await;
        execute(
            &mut conn,
            &format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""),
        )
        .await;
        let _ = conn.close().await;
        Self {
            url: with_database(&admin_database_url(), &name),
            name,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if std::env::var_os("BOXOFFICE_TEST_KEEP_DATABASES").is_none() {
            // A closed reaper (never, in practice) leaves the database to `.ci/run`.
            let _ = reaper().send(self.name.clone());
        }
    }
}

/// The process's reaper: a thread of its own (with its own runtime, as `drop` cannot await
/// and the test's runtime is ending) that drops the databases sent to it, one at a time.
///
/// Tests do not wait for it: on PostgreSQL 15, `DROP DATABASE` forces a checkpoint and takes
/// 0.1–0.3 s on this kind of machine, which would cost more than the template saves. One at a
/// time, because several at once compete with the running tests for the same disk and cores.
/// `FORCE` ends the sessions of an app still running. Databases still queued when the process
/// exits are left to `.ci/run`'s clean-up.
fn reaper() -> std::sync::mpsc::Sender<String> {
    static REAPER: OnceLock<Mutex<std::sync::mpsc::Sender<String>>> = OnceLock::new();
    REAPER
        .get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::channel::<String>();
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("reaper runtime");
                while let Ok(name) = rx.recv() {
                    runtime.block_on(drop_database(&name));
                }
            });
            Mutex::new(tx)
        })
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

async fn drop_database(name: &str) {
    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
    let dropped = match PgConnection::connect(&admin_database_url()).await {
        Ok(mut conn) => {
            let dropped = sqlx::query(&sql).execute(&mut conn).await.map(|_| ());
            let _ = conn.close().await;
            dropped
        }
        Err(e) => Err(e),
    };
    if let Err(e) = dropped {
        eprintln!("{sql}: {e}");
    }
}
