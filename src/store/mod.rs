//! The storage layer: one [`Db`] handle over either PostgreSQL (production) or SQLite (the
//! embedded default), with the migrations of each backend.
//!
//! Queries are written once and run on either pool through [`with_db!`] and [`with_read_db!`],
//! which expand the same code for both concrete drivers. SQL is kept portable (`$1` placeholders,
//! `ON CONFLICT`, `RETURNING`, `CAST(... AS BIGINT)`); instants are bound from Rust, never taken
//! from the database's clock.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

use crate::config::StorageConfig;

pub mod batch;

/// Which database a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Sqlite => "sqlite",
        }
    }
}

/// A handle to the source of truth. `write` serves every transaction; `read` serves catalog
/// reads (a replica on PostgreSQL when `DATABASE_READ_URL` is set, the same pool otherwise; on
/// SQLite a pool of readers beside the single writer connection).
#[derive(Clone, Debug)]
pub enum Db {
    Postgres { write: PgPool, read: PgPool },
    Sqlite { write: SqlitePool, read: SqlitePool },
}

impl Db {
    /// Each pool's connections: its name (`write`, `read`), how many are open and how many of
    /// those are idle.
    pub fn pool_use(&self) -> [(&'static str, u32, u32); 2] {
        fn idle(n: usize) -> u32 {
            u32::try_from(n).unwrap_or(u32::MAX)
        }
        match self {
            Self::Postgres { write, read } => [
                ("write", write.size(), idle(write.num_idle())),
                ("read", read.size(), idle(read.num_idle())),
            ],
            Self::Sqlite { write, read } => [
                ("write", write.size(), idle(write.num_idle())),
                ("read", read.size(), idle(read.num_idle())),
            ],
        }
    }
}

/// Appends `(id, id, …)` to `qb`, each id bound as a parameter: an `IN` list both backends
/// understand (`= ANY($1)` is PostgreSQL's alone). An empty `ids` gives `(NULL)`, which
/// matches nothing.
///
/// The list is padded to the next power of two with its last id, which changes nothing in an
/// `IN`, so a query has a handful of texts instead of one per batch length: each text is
/// prepared once per connection and stays in its statement cache, and PostgreSQL can keep a
/// plan for it instead of parsing and planning every batch of the after-booking consumers
/// anew.
pub fn push_id_list<'a, DB>(qb: &mut sqlx::QueryBuilder<'a, DB>, ids: &[i64])
where
    DB: sqlx::Database,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let Some(&last) = ids.last() else {
        qb.push("(NULL)");
        return;
    };
    let padding = ids.len().next_power_of_two() - ids.len();
    qb.push("(");
    let mut list = qb.separated(", ");
    for id in ids
        .iter()
        .copied()
        .chain(std::iter::repeat_n(last, padding))
    {
        list.push_bind(id);
    }
    list.push_unseparated(")");
}

/// Runs `$body` with `$pool` bound to the writer pool of whichever backend `$db` is.
#[macro_export]
macro_rules! with_db {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::store::Db::Postgres { write: $pool, .. } => $body,
            $crate::store::Db::Sqlite { write: $pool, .. } => $body,
        }
    };
}

/// Runs `$body` with `$pool` bound to a pool for reads that must see the latest commit: the
/// primary on PostgreSQL (never a replica, which may lag), the reader pool on SQLite (WAL
/// readers see every committed write and do not queue behind the single writer). The hot
/// reads of holding and booking seats use it.
#[macro_export]
macro_rules! with_primary_read {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::store::Db::Postgres { write: $pool, .. } => $body,
            $crate::store::Db::Sqlite { read: $pool, .. } => $body,
        }
    };
}

/// Runs `$body` with `$pool` bound to the reader pool of whichever backend `$db` is.
#[macro_export]
macro_rules! with_read_db {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::store::Db::Postgres { read: $pool, .. } => $body,
            $crate::store::Db::Sqlite { read: $pool, .. } => $body,
        }
    };
}

impl Db {
    /// Opens the database the configuration names: PostgreSQL when `DATABASE_URL` is set, the
    /// SQLite file `boxoffice.db` in the data dir otherwise (created if missing).
    pub async fn connect(config: &StorageConfig) -> anyhow::Result<Self> {
        match &config.database_url {
            Some(url) => {
                let options = PgConnectOptions::from_str(url.expose())
                    .with_context(|| format!("invalid DATABASE_URL {}", url.redacted()))?;
                let write = pg_pool(options, config.db_max_connections)
                    .await
                    .with_context(|| format!("cannot connect to {}", url.redacted()))?;
                let read = match &config.database_read_url {
                    Some(read_url) => {
                        let options =
                            PgConnectOptions::from_str(read_url.expose()).with_context(|| {
                                format!("invalid DATABASE_READ_URL {}", read_url.redacted())
                            })?;
                        pg_pool(options, config.db_max_connections)
                            .await
                            .with_context(|| format!("cannot connect to {}", read_url.redacted()))?
                    }
                    None => write.clone(),
                };
                Ok(Self::Postgres { write, read })
            }
            None => {
                std::fs::create_dir_all(&config.data_dir).with_context(|| {
                    format!("cannot create data dir {}", config.data_dir.display())
                })?;
                let options = SqliteConnectOptions::new()
                    .filename(config.data_dir.join("boxoffice.db"))
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
                    .pragma("cache_size", "-16000");
                // One writer connection: SQLite has one writer at a time, so writers queue in
                // the pool instead of failing with SQLITE_BUSY.
                let write = SqlitePoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options.clone())
                    .await
                    .context("cannot open the SQLite database")?;
                // Readers keep a small page cache each (the OS caches the file for all of them),
                // so a burst of reads on every reader does not multiply the memory held.
                let read = SqlitePoolOptions::new()
                    .max_connections(config.db_max_connections.clamp(1, 8))
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options.read_only(true).pragma("cache_size", "-2000"))
                    .await
                    .context("cannot open the SQLite database for reading")?;
                Ok(Self::Sqlite { write, read })
            }
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Self::Postgres { .. } => Backend::Postgres,
            Self::Sqlite { .. } => Backend::Sqlite,
        }
    }

    /// Applies the backend's pending migrations (safe to run from several nodes at once on
    /// PostgreSQL: sqlx takes an advisory lock).
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Self::Postgres { write, .. } => sqlx::migrate!("migrations/postgres")
                .run(write)
                .await
                .context("PostgreSQL migrations failed")?,
            Self::Sqlite { write, .. } => sqlx::migrate!("migrations/sqlite")
                .run(write)
                .await
                .context("SQLite migrations failed")?,
        }
        Ok(())
    }

    /// Answers whether the database responds, for `/readyz`.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        with_db!(self, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(|_| ()))
    }

    /// Closes every pool, waiting for checked-out connections to come back.
    pub async fn close(&self) {
        match self {
            Self::Postgres { write, read } => {
                write.close().await;
                read.close().await;
            }
            Self::Sqlite { write, read } => {
                read.close().await;
                write.close().await;
            }
        }
    }
}

/// The longest one SQL statement may run on PostgreSQL (server side), and the longest a request
/// waits for a pooled connection: a stuck or unreachable database becomes a 503, not a hang.
const STATEMENT_TIMEOUT: &str = "15s";
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// The planner's price of reading a page out of order, on the node's sessions, unless the
/// database URL's `options` (or `PGOPTIONS`) name one. PostgreSQL's default, 4, prices a read
/// from a spinning disk against 1 for a sequential one. With it, the planner chose a sequential
/// scan and a hash join for the statements that touch a batch's few rows by key (the capture
/// record, the seat claim, the recount of seats bought), as long as it thought the table small;
/// during a stadium onsale, whose tables grow from nothing, that read 8 to 13 million rows that an
/// index reaches in a few (BENCHMARKS, issue 13, tenth step). The tables a node writes are in
/// memory or on SSD, where an index probe costs about what a sequential page does; 1.1 is the
/// usual setting there, and makes the planner probe the index once the table has a few pages.
const RANDOM_PAGE_COST: &str = "1.1";
async fn pg_pool(options: PgConnectOptions, max: u32) -> Result<PgPool, sqlx::Error> {
    let chosen = options
        .get_options()
        .is_some_and(|o| o.contains("random_page_cost"));
    let mut options = options.options([
        ("statement_timeout", STATEMENT_TIMEOUT),
        ("idle_in_transaction_session_timeout", "60s"),
    ]);
    if !chosen {
        options = options.options([("random_page_cost", RANDOM_PAGE_COST)]);
    }
    PgPoolOptions::new()
        .max_connections(max.max(1))
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
}

#[cfg(test)]
mod tests {
    fn in_list(ids: &[i64]) -> String {
        let mut qb = sqlx::QueryBuilder::<sqlx::Postgres>::new("SELECT 1 WHERE 1 IN ");
        super::push_id_list(&mut qb, ids);
        qb.sql().to_owned()
    }

    /// Batches of 5 to 8 ids share one statement text (8 parameters), 9 ids take the next.
    #[test]
    fn an_id_list_is_padded_to_a_power_of_two() {
        let eight = "SELECT 1 WHERE 1 IN ($1, $2, $3, $4, $5, $6, $7, $8)";
        for n in 5..=8 {
            let ids: Vec<i64> = (1..=n).collect();
            assert_eq!(in_list(&ids), eight, "{n} ids");
        }
        assert_eq!(in_list(&[7]), "SELECT 1 WHERE 1 IN ($1)");
        assert!(in_list(&(1..=9).collect::<Vec<_>>()).ends_with("$16)"));
        assert_eq!(in_list(&[]), "SELECT 1 WHERE 1 IN (NULL)");
    }
}
