//! Payment reconciliation: after a crash, a lost connection or a provider outage our `payments`
//! rows can lag behind the provider (a committed booking whose capture never happened, a capture
//! that happened but was not recorded, a refund that failed). A worker on every node compares
//! each unsettled row with the provider's own record and finishes the job, so no confirmed
//! booking stays uncaptured and no cancelled booking keeps the buyer's money.

use std::time::Duration;

use chrono::Utc;

use super::store::{self, record_capture, CaptureRecord};
use super::{settle_refund, PaymentError, PaymentProvider};
use crate::app::AppState;
use crate::domain::{BookingStatus, PaymentStatus};
use crate::store::Db;

/// What one reconciliation pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reconciled {
    pub captured: u32,
    pub voided: u32,
    /// Authorizations no booking used (the node died between authorizing and committing).
    pub orphans_voided: u32,
    pub refunded: u32,
    /// Rows whose provider record makes no sense for their booking; logged for a person.
    pub unresolved: u32,
    /// Rows whose provider or database call failed this time; retried on a later pass.
    pub failed: u32,
}

/// What settling one payment did.
enum Settled {
    Captured,
    Voided,
    Refunded,
    Unresolved,
    /// Someone else (the booking flow, another node) settled it meanwhile, or a refund failed
    /// and stays `refund_pending` for the next pass.
    Nothing,
}

/// Marks the payment for a refund and refunds it.
async fn refund(
    db: &Db,
    provider: &PaymentProvider,
    txn: &str,
    ours: PaymentStatus,
) -> Result<Settled, PaymentError> {
    store::set_status(db, txn, ours, PaymentStatus::RefundPending).await?;
    Ok(if settle_refund(db, provider, txn).await {
        Settled::Refunded
    } else {
        Settled::Nothing
    })
}

/// Settles one payment. Every decision rests on the provider's state as its own call returns
/// it, so a node racing another node or the booking flow (one voiding while the other
/// captures) ends with the provider's truth recorded: a capture that won is refunded for a
/// cancelled booking, a void that won is recorded as voided.
async fn settle(
    db: &Db,
    provider: &PaymentProvider,
    txn: &str,
    ours: PaymentStatus,
    booking: BookingStatus,
) -> Result<Settled, PaymentError> {
    use PaymentStatus::*;
    let keep = ours == Authorized && booking == BookingStatus::Confirmed;
    let truth = provider.lookup(txn).await?;
    Ok(match truth {
        Some(Authorized | Captured) if keep => {
            let now = provider.capture(txn).await?;
            if now != Captured {
                // A void won: only a cancelled booking's payment is voided.
                store::set_status(db, txn, ours, now).await?;
                return Ok(Settled::Voided);
            }
            match record_capture(db, txn).await? {
                CaptureRecord::Captured => Settled::Captured,
                CaptureRecord::RefundPending => refund(db, provider, txn, RefundPending).await?,
                CaptureRecord::Unchanged => Settled::Nothing,
            }
        }
        Some(Authorized) => match provider.void(txn).await? {
            Voided => {
                store::set_status(db, txn, ours, Voided).await?;
                Settled::Voided
            }
            Captured => refund(db, provider, txn, ours).await?,
            _ => Settled::Unresolved,
        },
        Some(Captured) => refund(db, provider, txn, ours).await?,
        Some(Refunded) if !keep => {
            store::set_status(db, txn, ours, Refunded).await?;
            Settled::Refunded
        }
        Some(Voided) if !keep => {
            store::set_status(db, txn, ours, Voided).await?;
            Settled::Voided
        }
        _ => Settled::Unresolved,
    })
}

/// One pass over the payments left `authorized` or `refund_pending` for longer than
/// `settled_within` (the normal flow settles them within milliseconds). One payment failing
/// does not hold up the others: it goes to the back of the queue for the next pass.
pub async fn reconcile_once(
    db: &Db,
    provider: &PaymentProvider,
    settled_within: Duration,
) -> Result<Reconciled, PaymentError> {
    let before = Utc::now()
        - chrono::Duration::from_std(settled_within).unwrap_or_else(|_| chrono::Duration::zero());
    let rows = store::unsettled_payments(db, before).await?;
    let mut done = Reconciled::default();
    for (txn, ours, booking) in rows {
        match settle(db, provider, &txn, ours, booking).await {
            Ok(Settled::Captured) => done.captured += 1,
            Ok(Settled::Voided) => done.voided += 1,
            Ok(Settled::Refunded) => done.refunded += 1,
            Ok(Settled::Nothing) => {}
            Ok(Settled::Unresolved) => {
                tracing::error!(
                    transaction_id = %txn, ours = %ours, booking = %booking,
                    "payment cannot be reconciled automatically; needs a person"
                );
                done.unresolved += 1;
                // To the back of the queue, so it cannot starve the others.
                let _ = store::set_status(db, &txn, ours, ours).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, transaction_id = %txn, "payment reconciliation failed; will retry");
                done.failed += 1;
                let _ = store::set_status(db, &txn, ours, ours).await;
            }
        }
    }
    done.orphans_voided = void_orphans(db, provider, before).await?;
    Ok(done)
}

/// Voids the provider's authorizations older than `before` that no payment row uses and whose
/// booking is not running any more (its idempotency claim is gone, completed or past its
/// lease): the card holds of bookings that died between authorizing and committing.
async fn void_orphans(
    db: &Db,
    provider: &PaymentProvider,
    before: chrono::DateTime<Utc>,
) -> Result<u32, PaymentError> {
    let lease = chrono::Duration::seconds(crate::booking::idempotency::LEASE_SECONDS);
    let mut voided = 0;
    for (txn, idempotency) in provider.open_authorizations(before, 100).await? {
        let Some((user_id, key)) = idempotency
            .split_once(':')
            .and_then(|(user, key)| Some((user.parse::<i64>().ok()?, key)))
        else {
            continue;
        };
        if store::authorization_in_use(db, &txn, user_id, key, lease).await? {
            continue;
        }
        if provider.void(&txn).await? == PaymentStatus::Voided {
            tracing::warn!(transaction_id = %txn, "voided an authorization no booking used");
            voided += 1;
        }
    }
    Ok(voided)
}

/// Payment reconciliation as a background worker: one [`reconcile_once`] pass per step.
pub struct Reconciler {
    pub state: AppState,
    /// How long a payment may stay unsettled before reconciliation takes it over.
    pub settled_within: Duration,
}

impl crate::workers::Worker for Reconciler {
    const NAME: &'static str = "payment reconciler";

    async fn step(&mut self) -> anyhow::Result<usize> {
        let done =
            reconcile_once(&self.state.db, &self.state.payments, self.settled_within).await?;
        if done != Reconciled::default() {
            tracing::warn!(?done, "payments reconciled");
        }
        let settled = done.captured + done.voided + done.refunded + done.orphans_voided;
        Ok(settled as usize)
    }
}
