//! Show management: create a draft with its prices, launch it (its inventory), change its sale
//! settings, cancel it.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::json;

use crate::catalog::time::local_date;
use crate::events::outbox::topics;
use crate::money::Currency;
use crate::store::Db;
use crate::{enqueue_outbox, with_db};

/// A draft show ready to store.
pub struct NewShow {
    pub event_id: i64,
    pub venue_id: i64,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub tz: Tz,
    pub currency: Currency,
    pub hold_seconds: i32,
    pub max_seats_per_user: i32,
    pub queue_enabled: bool,
    pub queue_admit_per_minute: i32,
    pub queue_opens_at: Option<DateTime<Utc>>,
    pub queue_pass_minutes: i32,
    /// (section id, price in minor units) for every section of the venue.
    pub prices: Vec<(i64, i64)>,
}

/// Stores a draft show with its prices in one transaction.
pub async fn insert_show(db: &Db, show: &NewShow) -> Result<i64, sqlx::Error> {
    let now = Utc::now();
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        let show_id: i64 = sqlx::query_scalar(
            "INSERT INTO shows (event_id, venue_id, start_time, end_time, start_local_date, currency,
                                status, hold_seconds, max_seats_per_user, queue_enabled,
                                queue_admit_per_minute, queue_opens_at, queue_pass_minutes,
                                created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'draft', $7, $8, $9, $10, $12, $13, $11, $11)
             RETURNING show_id",
        )
        .bind(show.event_id)
        .bind(show.venue_id)
        .bind(show.start)
        .bind(show.end)
        .bind(local_date(show.start, show.tz))
        .bind(show.currency.code)
        .bind(show.hold_seconds)
        .bind(show.max_seats_per_user)
        .bind(show.queue_enabled)
        .bind(show.queue_admit_per_minute)
        .bind(now)
        .bind(show.queue_opens_at)
        .bind(show.queue_pass_minutes)
        .fetch_one(&mut *tx)
        .await?;
        for (section_id, minor) in &show.prices {
            sqlx::query(
                "INSERT INTO show_prices (show_id, section_id, price_minor) VALUES ($1, $2, $3)",
            )
            .bind(show_id)
            .bind(section_id)
            .bind(minor)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(show_id)
    })
}

/// Flips a draft, not yet started show to `live` and creates one inventory row per seat with a
/// single `INSERT … SELECT`, plus its `show.launched` outbox row, in one transaction. Returns
/// the number of seats put on sale, or `None` if the show was not a future draft.
pub async fn launch_inventory(
    db: &Db,
    show_id: i64,
    venue_id: i64,
    event_id: i64,
) -> Result<Option<u64>, sqlx::Error> {
    let now = Utc::now();
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        let flipped = sqlx::query(
            "UPDATE shows SET status = 'live', launched_at = $2, updated_at = $2
             WHERE show_id = $1 AND status = 'draft' AND start_time > $2",
        )
        .bind(show_id)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if flipped != 1 {
            return Ok(None);
        }
        let seats = sqlx::query(
            "INSERT INTO inventory (show_id, seat_id, section_id, status, price_minor)
             SELECT $1, t.seat_id, t.section_id, 'available', p.price_minor
             FROM seats t JOIN show_prices p ON p.show_id = $1 AND p.section_id = t.section_id
             WHERE t.venue_id = $2",
        )
        .bind(show_id)
        .bind(venue_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        enqueue_outbox!(
            tx,
            topics::SHOW_LAUNCHED,
            show_id,
            json!({ "show_id": show_id, "event_id": event_id, "seats": seats })
        )
        .await?;
        tx.commit().await?;
        Ok(Some(seats))
    })
}

/// The sale settings an organiser may change; `None` keeps the stored value.
#[derive(Debug, Clone, Copy, Default)]
pub struct ShowSettings {
    pub max_seats_per_user: Option<i32>,
    pub hold_seconds: Option<i32>,
    pub queue_enabled: Option<bool>,
    pub queue_admit_per_minute: Option<i32>,
    /// `Some(None)` clears the opening time.
    pub queue_opens_at: Option<Option<DateTime<Utc>>>,
    pub queue_pass_minutes: Option<i32>,
}

/// Changes a show's sale settings and writes its `show.updated` outbox row, in one transaction.
pub async fn update_show_settings(
    db: &Db,
    show_id: i64,
    event_id: i64,
    settings: &ShowSettings,
) -> Result<(), sqlx::Error> {
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        sqlx::query(
            "UPDATE shows SET
                max_seats_per_user = COALESCE($2, max_seats_per_user),
                hold_seconds = COALESCE($3, hold_seconds),
                queue_enabled = COALESCE($4, queue_enabled),
                queue_admit_per_minute = COALESCE($5, queue_admit_per_minute),
                updated_at = $6,
                queue_opens_at = CASE WHEN $7 THEN $8 ELSE queue_opens_at END,
                queue_pass_minutes = COALESCE($9, queue_pass_minutes)
             WHERE show_id = $1",
        )
        .bind(show_id)
        .bind(settings.max_seats_per_user)
        .bind(settings.hold_seconds)
        .bind(settings.queue_enabled)
        .bind(settings.queue_admit_per_minute)
        .bind(Utc::now())
        .bind(settings.queue_opens_at.is_some())
        .bind(settings.queue_opens_at.flatten())
        .bind(settings.queue_pass_minutes)
        .execute(&mut *tx)
        .await?;
        enqueue_outbox!(
            tx,
            topics::SHOW_UPDATED,
            show_id,
            json!({ "show_id": show_id, "event_id": event_id })
        )
        .await?;
        tx.commit().await?;
        Ok(())
    })
}

/// What a show's cancellation changed.
#[derive(Debug, Clone)]
pub struct CancelledShow {
    /// The bookings cancelled with the show.
    pub bookings: Vec<i64>,
    /// The transactions of the captured payments now `refund_pending`.
    pub refunds: Vec<String>,
}

/// Cancels a draft or live show in one transaction: every confirmed booking is cancelled with
/// its tickets voided and its payment marked `refund_pending`, seats are withdrawn from sale
/// (`blocked`), and the `show.cancelled` and `booking.cancelled` outbox rows are written.
/// Cancelling updates the show's row, so it waits for bookings in flight (they lock it
/// `FOR SHARE`) and then cancels them with the rest. `None` if the show was neither a draft
/// nor live.
pub async fn cancel_show(
    db: &Db,
    show_id: i64,
    event_id: i64,
) -> Result<Option<CancelledShow>, sqlx::Error> {
    let now = Utc::now();
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        let flipped = sqlx::query(
            "UPDATE shows SET status = 'cancelled', cancelled_at = $2, updated_at = $2
                 WHERE show_id = $1 AND status IN ('draft', 'live')",
        )
        .bind(show_id)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if flipped != 1 {
            return Ok(None);
        }
        let bookings: Vec<i64> = sqlx::query_scalar(
            "UPDATE bookings SET status = 'cancelled', cancelled_at = $2
                     WHERE show_id = $1 AND status = 'confirmed' RETURNING booking_id",
        )
        .bind(show_id)
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query("UPDATE tickets SET status = 'void' WHERE show_id = $1 AND status = 'valid'")
            .bind(show_id)
            .execute(&mut *tx)
            .await?;
        let refunds: Vec<String> = sqlx::query_scalar(
            "UPDATE payments SET status = 'refund_pending', updated_at = $2
                 WHERE status = 'captured' AND booking_id IN (SELECT booking_id FROM bookings WHERE show_id = $1)
                 RETURNING transaction_id",
        )
        .bind(show_id)
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE inventory SET status = 'blocked', booking_id = NULL WHERE show_id = $1",
        )
        .bind(show_id)
        .execute(&mut *tx)
        .await?;
        enqueue_outbox!(
            tx,
            topics::SHOW_CANCELLED,
            show_id,
            json!({ "show_id": show_id, "event_id": event_id, "booking_ids": bookings })
        )
        .await?;
        for booking_id in &bookings {
            enqueue_outbox!(
                tx,
                topics::BOOKING_CANCELLED,
                *booking_id,
                json!({ "booking_id": booking_id, "show_id": show_id, "reason": "show_cancelled" })
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Some(CancelledShow { bookings, refunds }))
    })
}
