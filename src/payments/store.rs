//! Queries on our `payments` rows: recording a capture against its booking, moving a row's
//! status, marking a refund done, and what reconciliation reads (the unsettled rows, and whether
//! an open authorization is used by a payment or a running booking). The sandbox provider's own
//! ledger is not ours: its queries are in `payments/sandbox.rs`.

use chrono::{DateTime, Utc};

use crate::domain::{BookingStatus, PaymentStatus};
use crate::store::{Backend, Db};
use crate::with_db;

/// What recording a capture found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureRecord {
    /// The booking is confirmed and its payment is now `captured`.
    Captured,
    /// The booking was cancelled meanwhile: the payment is now `refund_pending`.
    RefundPending,
    /// The payment was not `authorized` any more (recorded already).
    Unchanged,
}

/// Records a capture done at the provider. The booking row is locked first, so a cancellation
/// committing at the same moment either sees `captured` (and marks it `refund_pending`) or has
/// already cancelled the booking (and the capture is recorded as `refund_pending` here).
pub async fn record_capture(db: &Db, txn: &str) -> Result<CaptureRecord, sqlx::Error> {
    if let Db::Postgres { write, .. } = db {
        return record_capture_pg(write, txn).await;
    }
    let lock = match db.backend() {
        Backend::Postgres => {
            "SELECT b.status FROM payments p JOIN bookings b ON b.booking_id = p.booking_id
              WHERE p.transaction_id = $1 FOR NO KEY UPDATE OF b"
        }
        Backend::Sqlite => {
            "SELECT b.status FROM payments p JOIN bookings b ON b.booking_id = p.booking_id
              WHERE p.transaction_id = $1"
        }
    };
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        let booking: Option<BookingStatus> = sqlx::query_scalar(lock)
            .bind(txn)
            .fetch_optional(&mut *tx)
            .await?;
        let to = match booking {
            Some(BookingStatus::Confirmed) => PaymentStatus::Captured,
            Some(BookingStatus::Cancelled) => PaymentStatus::RefundPending,
            None => return Ok(CaptureRecord::Unchanged),
        };
        let changed = sqlx::query(
            "UPDATE payments SET status = $2, updated_at = $3
              WHERE transaction_id = $1 AND status = 'authorized'",
        )
        .bind(txn)
        .bind(to)
        .bind(Utc::now())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(match (changed, to) {
            (0, _) => CaptureRecord::Unchanged,
            (_, PaymentStatus::Captured) => CaptureRecord::Captured,
            _ => CaptureRecord::RefundPending,
        })
    })
}

/// [`record_capture`] on PostgreSQL in one statement: the booking row is locked by the CTE (a
/// locked row is re-read at its latest committed version, so a cancellation that committed first
/// is seen), and the payment moves in the same statement.
async fn record_capture_pg(pool: &sqlx::PgPool, txn: &str) -> Result<CaptureRecord, sqlx::Error> {
    let row: Option<(String, Option<String>)> = sqlx::query_as(
        "WITH b AS (
             SELECT b.booking_id, b.status FROM payments p JOIN bookings b ON b.booking_id = p.booking_id
              WHERE p.transaction_id = $1 FOR NO KEY UPDATE OF b
         ), moved AS (
             UPDATE payments p
                SET status = CASE WHEN b.status = 'confirmed' THEN 'captured' ELSE 'refund_pending' END,
                    updated_at = $2
               FROM b
              WHERE p.transaction_id = $1 AND p.booking_id = b.booking_id AND p.status = 'authorized'
             RETURNING p.status
         )
         SELECT b.status, (SELECT status FROM moved) FROM b",
    )
    .bind(txn)
    .bind(Utc::now())
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        None | Some((_, None)) => CaptureRecord::Unchanged,
        Some((_, Some(status))) if status == "captured" => CaptureRecord::Captured,
        Some(_) => CaptureRecord::RefundPending,
    })
}

/// The statement of [`record_captures_pg`]: `$1` the transactions, `$2` the time. Public for the
/// test that checks its plan reads no table from end to end.
#[doc(hidden)]
pub const RECORD_CAPTURES_PG: &str = "WITH b AS (
             SELECT p.transaction_id, b.booking_id, b.status
               FROM payments p JOIN bookings b ON b.booking_id = p.booking_id
              WHERE p.transaction_id = ANY($1) ORDER BY b.booking_id FOR NO KEY UPDATE OF b
         ), moved AS (
             UPDATE payments p
                SET status = CASE WHEN b.status = 'confirmed' THEN 'captured' ELSE 'refund_pending' END,
                    updated_at = $2
               FROM b
              WHERE p.transaction_id = b.transaction_id AND p.booking_id = b.booking_id
                AND p.status = 'authorized'
             RETURNING p.transaction_id, p.status
         )
         SELECT b.transaction_id, m.status FROM b LEFT JOIN moved m ON m.transaction_id = b.transaction_id";

/// [`record_capture`] of many transactions in one statement (PostgreSQL), in the order given.
pub async fn record_captures_pg(
    conn: &mut sqlx::PgConnection,
    txns: Vec<String>,
) -> Result<Vec<Option<CaptureRecord>>, sqlx::Error> {
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(RECORD_CAPTURES_PG)
        .bind(&txns)
        .bind(Utc::now())
        .fetch_all(&mut *conn)
        .await?;
    let found: std::collections::HashMap<&str, Option<&str>> = rows
        .iter()
        .map(|(t, s)| (t.as_str(), s.as_deref()))
        .collect();
    // A transaction named twice is answered once; the second asker records it alone.
    let mut seen = std::collections::HashSet::new();
    Ok(txns
        .iter()
        .map(|t| {
            if !seen.insert(t.as_str()) {
                return None;
            }
            Some(match found.get(t.as_str()) {
                None | Some(None) => CaptureRecord::Unchanged,
                Some(Some("captured")) => CaptureRecord::Captured,
                Some(Some(_)) => CaptureRecord::RefundPending,
            })
        })
        .collect())
}

/// Moves `txn`'s payment row from `from` to `to` (no-op if it changed meanwhile).
pub async fn set_status(
    db: &Db,
    txn: &str,
    from: PaymentStatus,
    to: PaymentStatus,
) -> Result<(), sqlx::Error> {
    with_db!(db, |pool| {
        sqlx::query(
            "UPDATE payments SET status = $3, updated_at = $4 WHERE transaction_id = $1 AND status = $2",
        )
        .bind(txn)
        .bind(from)
        .bind(to)
        .bind(Utc::now())
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// Records the refund of `txn` done at the provider: `refund_pending` (or `authorized`) becomes
/// `refunded`.
pub async fn mark_refunded(db: &Db, txn: &str) -> Result<(), sqlx::Error> {
    with_db!(db, |pool| {
        sqlx::query(
            "UPDATE payments SET status = 'refunded', updated_at = $2
             WHERE transaction_id = $1 AND status IN ('refund_pending', 'authorized')",
        )
        .bind(txn)
        .bind(Utc::now())
        .execute(pool)
        .await
        .map(|_| ())
    })
}

/// A payment left unsettled: its provider transaction, its status and its booking's status.
pub type UnsettledPayment = (String, PaymentStatus, BookingStatus);

/// Up to 100 payments left `authorized` or `refund_pending` since before `before`, the longest
/// untouched first.
pub async fn unsettled_payments(
    db: &Db,
    before: DateTime<Utc>,
) -> Result<Vec<UnsettledPayment>, sqlx::Error> {
    with_db!(db, |pool| {
        sqlx::query_as(
            "SELECT p.transaction_id, p.status, b.status FROM payments p
               JOIN bookings b ON b.booking_id = p.booking_id
              WHERE p.status IN ('authorized', 'refund_pending') AND p.updated_at <= $1
              ORDER BY p.updated_at LIMIT 100",
        )
        .bind(before)
        .fetch_all(pool)
        .await
    })
}

/// Whether the provider transaction `txn`, authorized under `user_id`'s idempotency key `key`,
/// is used by a payment row or may still be: its booking's idempotency claim is `in_progress`
/// and was touched within `lease`.
///
/// One statement, so one snapshot: the booking's commit writes its payment row and completes
/// its claim together, and this sees either both or neither. Two reads could miss both (the
/// payment row read before the commit, the claim read after it) and void a booking's payment.
pub async fn authorization_in_use(
    db: &Db,
    txn: &str,
    user_id: i64,
    key: &str,
    lease: chrono::Duration,
) -> Result<bool, sqlx::Error> {
    let in_use: bool = with_db!(db, |pool| {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM payments WHERE transaction_id = $1)
                 OR EXISTS (SELECT 1 FROM idempotency_records
                             WHERE user_id = $2 AND idempotency_key = $3
                               AND status = 'in_progress' AND updated_at > $4)",
        )
        .bind(txn)
        .bind(user_id)
        .bind(key)
        .bind(Utc::now() - lease)
        .fetch_one(pool)
        .await?
    });
    Ok(in_use)
}
