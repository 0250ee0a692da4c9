//! Idempotency records: the first request with a key claims it (`in_progress`), the booking
//! transaction completes it with the response, and a retry replays that response. A claim whose
//! owner died (no [`heartbeat`] for [`LEASE_SECONDS`]) may be taken over, so a key survives a
//! crash: a running booking renews its claim every [`HEARTBEAT_SECONDS`], so the lease can be
//! short.

use chrono::{DateTime, Duration, Utc};

use crate::store::Db;
use crate::with_db;

/// How long an `in_progress` claim stays exclusive without a heartbeat.
pub const LEASE_SECONDS: i64 = 15;

/// How often a running booking renews its claim.
pub const HEARTBEAT_SECONDS: u64 = 4;

/// Renews the claim on `key` every [`HEARTBEAT_SECONDS`] while the booking runs; never returns
/// (the caller drops it when the booking ends).
pub async fn heartbeat(db: &Db, user_id: i64, key: &str) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(HEARTBEAT_SECONDS));
    every.tick().await;
    loop {
        every.tick().await;
        let renewed: Result<_, sqlx::Error> = with_db!(db, |pool| {
            sqlx::query(
                "UPDATE idempotency_records SET updated_at = $3
                  WHERE user_id = $1 AND idempotency_key = $2 AND status = 'in_progress'",
            )
            .bind(user_id)
            .bind(key)
            .bind(Utc::now())
            .execute(pool)
            .await
            .map(|_| ())
        });
        if let Err(e) = renewed {
            tracing::warn!(error = %e, "could not renew an idempotency claim");
        }
    }
}

/// The state of a key when a request presents it.
#[derive(Debug)]
pub enum Claim {
    /// This request owns the key now: go ahead.
    Acquired,
    /// Completed before: replay `(status, body)`.
    Completed { body: String },
    /// Another request with this key is running.
    InProgress,
    /// The key was used with a different request body.
    Mismatch,
}

#[derive(sqlx::FromRow)]
struct Record {
    request_hash: String,
    status: String,
    response_body: Option<String>,
    updated_at: DateTime<Utc>,
}

/// Claims `key` for `user_id` and `request_hash`.
pub async fn claim(
    db: &Db,
    user_id: i64,
    key: &str,
    request_hash: &str,
) -> Result<Claim, sqlx::Error> {
    let now = Utc::now();
    with_db!(db, |pool| {
        let inserted = sqlx::query(
            "INSERT INTO idempotency_records (user_id, idempotency_key, request_hash, status, created_at, updated_at)
             VALUES ($1, $2, $3, 'in_progress', $4, $4)
             ON CONFLICT (user_id, idempotency_key) DO NOTHING",
        )
        .bind(user_id)
        .bind(key)
        .bind(request_hash)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(Claim::Acquired);
        }
        let record: Option<Record> = sqlx::query_as(
            "SELECT request_hash, status, response_body, updated_at FROM idempotency_records
             WHERE user_id = $1 AND idempotency_key = $2",
        )
        .bind(user_id)
        .bind(key)
        .fetch_optional(pool)
        .await?;
        let Some(record) = record else {
            // Released between our insert and read: the next attempt will acquire it.
            return Ok(Claim::InProgress);
        };
        if record.request_hash != request_hash {
            return Ok(Claim::Mismatch);
        }
        if record.status == "completed" {
            return Ok(Claim::Completed {
                body: record.response_body.unwrap_or_default(),
            });
        }
        if record.updated_at < now - Duration::seconds(LEASE_SECONDS) {
            let taken = sqlx::query(
                "UPDATE idempotency_records SET updated_at = $3
                 WHERE user_id = $1 AND idempotency_key = $2 AND status = 'in_progress' AND updated_at = $4",
            )
            .bind(user_id)
            .bind(key)
            .bind(now)
            .bind(record.updated_at)
            .execute(pool)
            .await?
            .rows_affected();
            if taken == 1 {
                return Ok(Claim::Acquired);
            }
        }
        Ok(Claim::InProgress)
    })
}

/// First claims in one statement (PostgreSQL): `Some(())` for each key this batch claimed
/// (then [`claim`] would have answered [`Claim::Acquired`]), `None` for a key that exists
/// already or comes twice in the batch, which the caller then claims with [`claim`].
pub async fn claim_many(
    conn: &mut sqlx::PgConnection,
    items: Vec<(i64, String, String)>,
) -> Result<Vec<Option<()>>, sqlx::Error> {
    let mut seen = std::collections::HashSet::new();
    let first: Vec<bool> = items
        .iter()
        .map(|(user, key, _)| seen.insert((*user, key.as_str())))
        .collect();
    let batch = || {
        items
            .iter()
            .zip(&first)
            .filter(|(_, f)| **f)
            .map(|(i, _)| i)
    };
    let inserted: Vec<(i64, String)> = sqlx::query_as(
        "INSERT INTO idempotency_records (user_id, idempotency_key, request_hash, status, created_at, updated_at)
         SELECT u, k, h, 'in_progress', $4, $4 FROM unnest($1::BIGINT[], $2::TEXT[], $3::TEXT[]) AS x(u, k, h)
         ON CONFLICT (user_id, idempotency_key) DO NOTHING
         RETURNING user_id, idempotency_key",
    )
    .bind(batch().map(|(u, _, _)| *u).collect::<Vec<_>>())
    .bind(batch().map(|(_, k, _)| k.as_str()).collect::<Vec<_>>())
    .bind(batch().map(|(_, _, h)| h.as_str()).collect::<Vec<_>>())
    .bind(Utc::now())
    .fetch_all(&mut *conn)
    .await?;
    let inserted: std::collections::HashSet<(i64, &str)> =
        inserted.iter().map(|(u, k)| (*u, k.as_str())).collect();
    Ok(items
        .iter()
        .zip(first)
        .map(|((user, key, _), first)| {
            (first && inserted.contains(&(*user, key.as_str()))).then_some(())
        })
        .collect())
}

/// Gives a claimed key back after a failed attempt, so the client may retry with it.
pub async fn release(db: &Db, user_id: i64, key: &str) -> Result<(), sqlx::Error> {
    with_db!(db, |pool| {
        sqlx::query(
            "DELETE FROM idempotency_records
             WHERE user_id = $1 AND idempotency_key = $2 AND status = 'in_progress'",
        )
        .bind(user_id)
        .bind(key)
        .execute(pool)
        .await?;
        Ok(())
    })
}

/// SQL that completes a claim inside the booking transaction.
pub const COMPLETE_SQL: &str = "UPDATE idempotency_records
     SET status = 'completed', response_status = $3, response_body = $4, updated_at = $5
     WHERE user_id = $1 AND idempotency_key = $2";
