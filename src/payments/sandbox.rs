//! The sandbox provider: approves every card token but [`DECLINED_TOKEN`] and keeps its own
//! ledger (`sandbox_ledger`) in the service's database. The ledger is the provider's record, not
//! ours; its queries live here, beside the provider, and nowhere else.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::{PaymentError, DECLINED_TOKEN};
use crate::domain::PaymentStatus;
use crate::store::Db;
use crate::with_db;

/// The sandbox provider, keeping its ledger in the service's database.
#[derive(Clone)]
pub struct Sandbox {
    db: Db,
}

impl Sandbox {
    pub fn new(db: Db) -> Self {
        Self { db }
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
