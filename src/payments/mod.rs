//! Payments (SPEC §7): a provider interface and the built-in sandbox provider, which approves
//! every card token but `tok_declined`. Authorization is idempotent on the caller's key, so a
//! retried booking never authorizes (or captures) twice.

mod reconcile;
mod sandbox;
pub mod store;

pub use reconcile::{reconcile_once, Reconciled, Reconciler};
pub use sandbox::Sandbox;
pub use store::{record_capture, CaptureRecord};

use chrono::{DateTime, Utc};

use crate::domain::PaymentStatus;
use crate::store::Db;

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
    let recorded = store::mark_refunded(db, transaction_id).await;
    match recorded {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(error = %e, %transaction_id, "refund done but not recorded; the payment stays refund_pending");
            false
        }
    }
}
