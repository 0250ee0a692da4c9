//! Payments (SPEC §7): a provider interface and the built-in sandbox provider, which approves
//! every card token but `tok_declined`. Authorization is idempotent on the caller's key, so a
//! retried booking never authorizes (or captures) twice.

mod reconcile;

pub use reconcile::{reconcile_once, record_capture, CaptureRecord, Reconciled, Reconciler};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::domain::PaymentStatus;
use crate::store::Db;
use crate::with_db;

/// The token the sandbox declines.
pub const DECLINED_TOKEN: &str = "tok_declined";

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    #[error("payment declined: {0}")]
    Declined(String),
    #[error("payment provider failed: {0}")]
    Provider(#[from] sqlx::Error),
}

/// A payment provider. Only the sandbox exists today; a real one plugs in here.
#[derive(Clone)]
pub enum PaymentProvider {
    Sandbox(Sandbox),
}

impl PaymentProvider {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sandbox(_) => "sandbox",
        }
    }

    /// Authorizes `amount_minor`; the same `idempotency` always yields the same transaction (a
    /// voided one is authorized again, for a retry after a failed booking).
    pub async fn authorize(
        &self,
        idempotency: &str,
        amount_minor: i64,
        currency: &str,
        token: &str,
    ) -> Result<String, PaymentError> {
        match self {
            Self::Sandbox(s) => {
                s.authorize(idempotency, amount_minor, currency, token)
                    .await
            }
        }
    }

    /// Captures an authorization. Returns the provider's state afterwards: `captured` (also
    /// when it already was), or what stopped it (`voided` by a void that came first, ...).
    pub async fn capture(&self, transaction_id: &str) -> Result<PaymentStatus, PaymentError> {
        match self {
            Self::Sandbox(s) => {
                s.transition(
                    transaction_id,
                    PaymentStatus::Authorized,
                    PaymentStatus::Captured,
                )
                .await
            }
        }
    }

    /// Voids an authorization that will not be captured. Returns the provider's state
    /// afterwards: `voided`, or `captured` when a capture came first.
    pub async fn void(&self, transaction_id: &str) -> Result<PaymentStatus, PaymentError> {
        match self {
            Self::Sandbox(s) => {
                s.transition(
                    transaction_id,
                    PaymentStatus::Authorized,
                    PaymentStatus::Voided,
                )
                .await
            }
        }
    }

    /// The provider's own record of a transaction (`authorized`, `captured`, `voided`,
    /// `refunded`), or `None` if it does not know it: the truth reconciliation compares with.
    pub async fn lookup(
        &self,
        transaction_id: &str,
    ) -> Result<Option<PaymentStatus>, PaymentError> {
        match self {
            Self::Sandbox(s) => s.lookup(transaction_id).await,
        }
    }

    /// Authorizations still open at the provider that were last touched before `before`, with
    /// the idempotency key they were made with (at most `limit`): what reconciliation checks
    /// against our payments, to void those no booking used (a node that died between
    /// authorizing and committing).
    pub async fn open_authorizations(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<(String, String)>, PaymentError> {
        match self {
            Self::Sandbox(s) => s.open_authorizations(before, limit).await,
        }
    }

    /// Refunds a captured payment, at most once per transaction however many callers ask (the
    /// sandbox's transition is conditional; a real provider gets an idempotency key derived
    /// from the transaction). Returns the provider's state afterwards: `refunded`, or the state
    /// that had nothing to refund (`authorized`, `voided`).
    pub async fn refund(&self, transaction_id: &str) -> Result<PaymentStatus, PaymentError> {
        match self {
            Self::Sandbox(s) => {
                s.transition(
                    transaction_id,
                    PaymentStatus::Captured,
                    PaymentStatus::Refunded,
                )
                .await
            }
        }
    }
}

/// The sandbox provider, keeping its ledger in the service's database.
#[derive(Clone)]
pub struct Sandbox {
    db: Db,
}

impl Sandbox {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    async fn authorize(
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

    async fn lookup(&self, txn: &str) -> Result<Option<PaymentStatus>, PaymentError> {
        let state = with_db!(&self.db, |pool| {
            sqlx::query_scalar("SELECT state FROM sandbox_ledger WHERE transaction_id = $1")
                .bind(txn)
                .fetch_optional(pool)
                .await?
        });
        Ok(state)
    }

    async fn open_authorizations(
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
    async fn transition(
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

/// Refunds a payment marked `refund_pending` by a cancellation's transaction, then records it as
/// `refunded`; true once it is. A failure leaves it `refund_pending`, where reconciliation finds
/// it; a payment that was never captured is left to reconciliation too (it voids it).
pub async fn settle_refund(db: &Db, provider: &PaymentProvider, transaction_id: &str) -> bool {
    match provider.refund(transaction_id).await {
        Ok(PaymentStatus::Refunded) => {}
        Ok(state) => {
            tracing::warn!(%transaction_id, provider_state = %state, "nothing to refund; reconciliation settles it");
            return false;
        }
        Err(e) => {
            tracing::error!(error = %e, %transaction_id, "refund failed; the payment stays refund_pending");
            return false;
        }
    }
    let recorded: Result<(), sqlx::Error> = with_db!(db, |pool| {
        sqlx::query(
            "UPDATE payments SET status = 'refunded', updated_at = $2
             WHERE transaction_id = $1 AND status IN ('refund_pending', 'authorized')",
        )
        .bind(transaction_id)
        .bind(Utc::now())
        .execute(pool)
        .await
        .map(|_| ())
    });
    match recorded {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(error = %e, %transaction_id, "refund done but not recorded; the payment stays refund_pending");
            false
        }
    }
}
