//! The sandbox provider: approves every card token but [`DECLINED_TOKEN`] and keeps its own
//! ledger (`sandbox_ledger`) in the service's database. The ledger is the provider's record, not
//! ours; its queries live here, beside the provider, and nowhere else.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::{PaymentError, DECLINED_TOKEN};
use crate::domain::PaymentStatus;
use crate::store::batch::Batcher;
use crate::store::Db;
use crate::with_db;

/// The sandbox provider, keeping its ledger in the service's database.
#[derive(Clone)]
pub struct Sandbox {
    db: Db,
    batches: Option<Batches>,
}

/// On PostgreSQL, the authorizations and captures asked for at once share a statement, as a
/// real provider's batch API would let them ([`Batcher`]).
#[derive(Clone)]
struct Batches {
    authorize: Batcher<Authorization, ()>,
    capture: Batcher<String, ()>,
}

struct Authorization {
    txn: String,
    idempotency: String,
    amount_minor: i64,
    currency: String,
}

/// Ledger writes sharing one statement at most.
const MAX_BATCH: usize = 64;
/// Ledger writes waiting for a batch at most; beyond, a write goes alone.
const QUEUE: usize = 1024;

impl Sandbox {
    /// The sandbox with one statement per request.
    pub fn new(db: Db) -> Self {
        Self { db, batches: None }
    }

    /// The sandbox with concurrent authorizations and captures batched (on PostgreSQL).
    pub fn batched(db: Db) -> Self {
        let batches = match &db {
            Db::Postgres { write, .. } => Some(Batches {
                authorize: Batcher::on_pool(
                    "sandbox authorize",
                    MAX_BATCH,
                    QUEUE,
                    write.clone(),
                    |conn, items| Box::pin(authorize_many(conn, items)),
                ),
                capture: Batcher::on_pool(
                    "sandbox capture",
                    MAX_BATCH,
                    QUEUE,
                    write.clone(),
                    |conn, txns| Box::pin(capture_many(conn, txns)),
                ),
            }),
            Db::Sqlite { .. } => None,
        };
        Self { db, batches }
    }

    pub(super) async fn authorize(
        &self,
        idempotency: &str,
        amount_minor: i64,
        currency: &str,
        token: &str,
    ) -> Result<String, PaymentError> {
        if token == DECLINED_TOKEN {
            return Err(PaymentError::Declined("the card was declined".into()));
        }
        let digest = Sha256::digest(idempotency.as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        let txn = format!(
            "txn_{}",
            uuid::Builder::from_random_bytes(bytes).into_uuid()
        );
        if let Some(batches) = &self.batches {
            let item = Authorization {
                txn: txn.clone(),
                idempotency: idempotency.to_owned(),
                amount_minor,
                currency: currency.to_owned(),
            };
            if batches.authorize.submit(item).await.is_some() {
                return Ok(txn);
            }
        }
        let now = Utc::now();
        with_db!(&self.db, |pool| {
            sqlx::query(
                "INSERT INTO sandbox_ledger (transaction_id, idempotency, amount_minor, currency, state,
                                             captures, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, 'authorized', 0, $5, $5)
                 ON CONFLICT (idempotency) DO UPDATE SET state = 'authorized', amount_minor = $3,
                     currency = $4, updated_at = $5
                 WHERE sandbox_ledger.state = 'voided'",
            )
            .bind(&txn)
            .bind(idempotency)
            .bind(amount_minor)
            .bind(currency)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(txn)
    }

    pub(super) async fn lookup(&self, txn: &str) -> Result<Option<PaymentStatus>, PaymentError> {
        let state = with_db!(&self.db, |pool| {
            sqlx::query_scalar("SELECT state FROM sandbox_ledger WHERE transaction_id = $1")
                .bind(txn)
                .fetch_optional(pool)
                .await?
        });
        Ok(state)
    }

    pub(super) async fn open_authorizations(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<(String, String)>, PaymentError> {
        let rows = with_db!(&self.db, |pool| {
            sqlx::query_as(
                "SELECT transaction_id, idempotency FROM sandbox_ledger
                  WHERE state = 'authorized' AND updated_at <= $1
                  ORDER BY updated_at LIMIT $2",
            )
            .bind(before)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }

    /// Moves `txn` from `from` to `to` if it is in `from`; returns its state afterwards.
    pub(super) async fn transition(
        &self,
        txn: &str,
        from: PaymentStatus,
        to: PaymentStatus,
    ) -> Result<PaymentStatus, PaymentError> {
        if let (Some(batches), PaymentStatus::Authorized, PaymentStatus::Captured) =
            (&self.batches, from, to)
        {
            if batches.capture.submit(txn.to_owned()).await.is_some() {
                return Ok(PaymentStatus::Captured);
            }
        }
        let captures = i32::from(to == PaymentStatus::Captured);
        let state = with_db!(&self.db, |pool| {
            let moved: Option<PaymentStatus> = sqlx::query_scalar(
                "UPDATE sandbox_ledger SET state = $3, captures = captures + $4, updated_at = $5
                 WHERE transaction_id = $1 AND state = $2 RETURNING state",
            )
            .bind(txn)
            .bind(from)
            .bind(to)
            .bind(captures)
            .bind(Utc::now())
            .fetch_optional(pool)
            .await?;
            moved
        });
        match state {
            Some(state) => Ok(state),
            // Not in `from`: report the state it is in.
            None => self
                .lookup(txn)
                .await?
                .ok_or(PaymentError::Provider(sqlx::Error::RowNotFound)),
        }
    }
}

/// Authorizations in one statement (the same as [`Sandbox::authorize`]'s, row by row). A key
/// asked twice in one batch goes alone the second time.
async fn authorize_many(
    conn: &mut sqlx::PgConnection,
    items: Vec<Authorization>,
) -> Result<Vec<Option<()>>, sqlx::Error> {
    let mut seen = std::collections::HashSet::new();
    let answers: Vec<Option<()>> = items
        .iter()
        .map(|a| seen.insert(a.idempotency.as_str()).then_some(()))
        .collect();
    let batch = || {
        items
            .iter()
            .zip(&answers)
            .filter(|(_, a)| a.is_some())
            .map(|(i, _)| i)
    };
    sqlx::query(
        "INSERT INTO sandbox_ledger (transaction_id, idempotency, amount_minor, currency, state,
                                     captures, created_at, updated_at)
         SELECT t, i, a, c, 'authorized', 0, $5, $5
           FROM unnest($1::TEXT[], $2::TEXT[], $3::BIGINT[], $4::TEXT[]) AS x(t, i, a, c)
         ON CONFLICT (idempotency) DO UPDATE SET state = 'authorized',
             amount_minor = EXCLUDED.amount_minor, currency = EXCLUDED.currency,
             updated_at = EXCLUDED.updated_at
         WHERE sandbox_ledger.state = 'voided'",
    )
    .bind(batch().map(|a| a.txn.as_str()).collect::<Vec<_>>())
    .bind(batch().map(|a| a.idempotency.as_str()).collect::<Vec<_>>())
    .bind(batch().map(|a| a.amount_minor).collect::<Vec<_>>())
    .bind(batch().map(|a| a.currency.as_str()).collect::<Vec<_>>())
    .bind(Utc::now())
    .execute(&mut *conn)
    .await?;
    Ok(answers)
}

/// Captures of authorized transactions in one statement; one that was not `authorized` goes
/// alone (to report the state it is in).
async fn capture_many(
    conn: &mut sqlx::PgConnection,
    txns: Vec<String>,
) -> Result<Vec<Option<()>>, sqlx::Error> {
    let captured: Vec<String> = sqlx::query_scalar(
        "UPDATE sandbox_ledger SET state = 'captured', captures = captures + 1, updated_at = $2
          WHERE transaction_id = ANY($1) AND state = 'authorized' RETURNING transaction_id",
    )
    .bind(&txns)
    .bind(Utc::now())
    .fetch_all(&mut *conn)
    .await?;
    let captured: std::collections::HashSet<&str> = captured.iter().map(String::as_str).collect();
    Ok(txns
        .iter()
        .map(|t| captured.contains(t.as_str()).then_some(()))
        .collect())
}
