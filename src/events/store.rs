//! Queries of the outbox relay: claim a batch of unpublished rows for a lease, mark them
//! published, give a claim back, and measure the backlog. Rows are written by the capabilities'
//! transactions ([`crate::enqueue_outbox!`]).

use chrono::{DateTime, Utc};

use super::OutboxEvent;
use crate::store::{push_id_list, Backend, Db};
use crate::{with_db, with_read_db};

/// When the server secret `name` was created.
pub async fn secret_created_at(db: &Db, name: &str) -> Result<DateTime<Utc>, sqlx::Error> {
    with_db!(db, |pool| {
        sqlx::query_scalar("SELECT created_at FROM server_secrets WHERE name = $1")
            .bind(name)
            .fetch_one(pool)
            .await
    })
}

/// Claims up to `limit` unpublished rows that no relay holds (or whose lease expired before
/// `now`) for the claim `claim` until `until`, and returns them. One short statement, so no
/// transaction stays open while the batch is published; on PostgreSQL `FOR UPDATE SKIP LOCKED`
/// keeps two relays claiming at the same instant from taking the same rows.
pub async fn claim_batch(
    db: &Db,
    claim: &str,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<OutboxEvent>, sqlx::Error> {
    let claim_sql = match db.backend() {
        Backend::Postgres => {
            "UPDATE outbox SET claimed_until = $1, claimed_by = $2
             WHERE outbox_id IN (
                 SELECT outbox_id FROM outbox
                 WHERE published_at IS NULL AND (claimed_until IS NULL OR claimed_until < $3)
                 ORDER BY outbox_id LIMIT $4 FOR UPDATE SKIP LOCKED)
             RETURNING outbox_id, topic, aggregate_id, payload, created_at"
        }
        Backend::Sqlite => {
            "UPDATE outbox SET claimed_until = $1, claimed_by = $2
             WHERE outbox_id IN (
                 SELECT outbox_id FROM outbox
                 WHERE published_at IS NULL AND (claimed_until IS NULL OR claimed_until < $3)
                 ORDER BY outbox_id LIMIT $4)
             RETURNING outbox_id, topic, aggregate_id, payload, created_at"
        }
    };
    with_db!(db, |pool| {
        sqlx::query_as(claim_sql)
            .bind(until)
            .bind(claim)
            .bind(now)
            .bind(limit)
            .fetch_all(pool)
            .await
    })
}

/// Marks `ids` published at `now` (and no longer claimed).
pub async fn mark_published(db: &Db, ids: &[i64], now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    with_db!(db, |pool| {
        let mut qb = sqlx::QueryBuilder::new(
            "UPDATE outbox SET claimed_until = NULL, claimed_by = NULL, published_at = ",
        );
        qb.push_bind(now);
        qb.push(" WHERE outbox_id IN ");
        push_id_list(&mut qb, ids);
        qb.build().execute(pool).await?;
        Ok(())
    })
}

/// Gives up the unpublished rows of the claim `claim`.
pub async fn release_claim(db: &Db, claim: &str) -> Result<(), sqlx::Error> {
    with_db!(db, |pool| {
        sqlx::query(
            "UPDATE outbox SET claimed_until = NULL, claimed_by = NULL
                 WHERE claimed_by = $1 AND published_at IS NULL",
        )
        .bind(claim)
        .execute(pool)
        .await?;
        Ok(())
    })
}

/// When the oldest unpublished outbox row was written (`None` when none).
pub async fn oldest_unpublished(db: &Db) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    with_read_db!(db, |pool| {
        sqlx::query_scalar("SELECT MIN(created_at) FROM outbox WHERE published_at IS NULL")
            .fetch_one(pool)
            .await
    })
}

/// Unpublished outbox rows.
pub async fn outbox_backlog(db: &Db) -> Result<i64, sqlx::Error> {
    with_db!(db, |pool| {
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE published_at IS NULL")
            .fetch_one(pool)
            .await
    })
}
