//! The two migration sets describe the same schema: every table has the same columns, with the
//! same nullability, and the same explicitly created indexes (those not backing a constraint)
//! on PostgreSQL and on SQLite, so a query written once runs on both and a column added to one
//! backend only is caught here.

use std::collections::BTreeMap;

use boxoffice::store::Db;

use crate::common::{Backend, TestApp};

/// table → column → nullable.
type Columns = BTreeMap<String, BTreeMap<String, bool>>;

async fn columns(db: &Db) -> Columns {
    let rows: Vec<(String, String, bool)> = match db {
        Db::Postgres { write, .. } => sqlx::query_as(
            "SELECT table_name::text, column_name::text, is_nullable = 'YES'
               FROM information_schema.columns
              WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations'",
        )
        .fetch_all(write)
        .await
        .expect("columns"),
        Db::Sqlite { write, .. } => sqlx::query_as(
            "SELECT m.name, p.name, p.\"notnull\" = 0 AND p.pk = 0
               FROM sqlite_master m JOIN pragma_table_info(m.name) p
              WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'
                AND m.name <> '_sqlx_migrations'",
        )
        .fetch_all(write)
        .await
        .expect("columns"),
    };
    let mut tables = Columns::new();
    for (table, column, nullable) in rows {
        tables.entry(table).or_default().insert(column, nullable);
    }
    tables
}

async fn indexes(db: &Db) -> Vec<String> {
    let mut names: Vec<String> = match db {
        Db::Postgres { write, .. } => sqlx::query_scalar(
            "SELECT i.indexname::text FROM pg_indexes i
              WHERE i.schemaname = current_schema() AND i.tablename <> '_sqlx_migrations'
                AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                                 WHERE c.conname = i.indexname
                                   AND c.connamespace = current_schema()::regnamespace)",
        )
        .fetch_all(write)
        .await
        .expect("indexes"),
        Db::Sqlite { write, .. } => sqlx::query_scalar(
            "SELECT name FROM sqlite_master
              WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex_%'",
        )
        .fetch_all(write)
        .await
        .expect("indexes"),
    };
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_backends_have_the_same_schema() {
    let sqlite = TestApp::spawn(Backend::Sqlite).await;
    let postgres = TestApp::spawn(Backend::Postgres).await;
    let (lite, pg) = (
        columns(&sqlite.state.db).await,
        columns(&postgres.state.db).await,
    );
    assert!(pg.len() > 10, "read the PostgreSQL schema: {pg:?}");
    let tables = |c: &Columns| c.keys().cloned().collect::<Vec<_>>();
    assert_eq!(tables(&lite), tables(&pg), "the same tables");
    for (table, pg_columns) in &pg {
        assert_eq!(
            lite.get(table),
            Some(pg_columns),
            "table {table}: the same columns and nullability (SQLite left, PostgreSQL right)"
        );
    }
    let (lite_indexes, pg_indexes) = (
        indexes(&sqlite.state.db).await,
        indexes(&postgres.state.db).await,
    );
    assert!(!pg_indexes.is_empty(), "read the PostgreSQL indexes");
    let missing: Vec<_> = pg_indexes
        .iter()
        .filter(|i| !lite_indexes.contains(i))
        .chain(lite_indexes.iter().filter(|i| !pg_indexes.contains(i)))
        .collect();
    assert!(
        missing.is_empty(),
        "indexes on one backend only: {missing:?}"
    );
}
