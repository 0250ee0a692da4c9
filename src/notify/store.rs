//! Queries of the notifications: the emails sent per booking, and organiser webhooks with their
//! deliveries.

use chrono::{DateTime, Utc};

use crate::domain::BookingStatus;
use crate::store::{push_id_list, Db};
use crate::with_db;

// ---------------------------------------------------------------------------------------------
// Emails

/// What a booking email says: the buyer, the show, the venue and the booking.
#[derive(Debug, sqlx::FromRow)]
pub struct BookingMail {
    pub booking_id: i64,
    pub email: String,
    pub name: String,
    pub title: String,
    pub venue_name: String,
    pub city: String,
    pub address: String,
    pub timezone: String,
    pub start_time: DateTime<Utc>,
    pub total_minor: i64,
    pub currency: String,
    pub status: BookingStatus,
}

/// Which of the bookings `booking_ids` were sent their email `kind`.
pub async fn emails_sent(
    db: &Db,
    booking_ids: &[i64],
    kind: &str,
) -> Result<std::collections::HashSet<i64>, sqlx::Error> {
    if booking_ids.is_empty() {
        return Ok(Default::default());
    }
    with_db!(db, |pool| {
        let mut qb = sqlx::QueryBuilder::new("SELECT booking_id FROM emails_sent WHERE kind = ");
        qb.push_bind(kind).push(" AND booking_id IN ");
        push_id_list(&mut qb, booking_ids);
        let ids: Vec<i64> = qb.build_query_scalar().fetch_all(pool).await?;
        Ok(ids.into_iter().collect())
    })
}

/// Records that the email `kind` of each booking was sent to its recipient (once per booking
/// and kind), in one statement: `sent` is (booking id, recipient).
pub async fn record_emails_sent(
    db: &Db,
    sent: &[(i64, String)],
    kind: &str,
) -> Result<(), sqlx::Error> {
    if sent.is_empty() {
        return Ok(());
    }
    let now = Utc::now();
    with_db!(db, |pool| {
        let mut qb = sqlx::QueryBuilder::new(
            "INSERT INTO emails_sent (booking_id, kind, recipient, sent_at) ",
        );
        qb.push_values(sent, |mut row, (booking_id, to)| {
            row.push_bind(*booking_id)
                .push_bind(kind)
                .push_bind(to.as_str())
                .push_bind(now);
        });
        qb.push(" ON CONFLICT (booking_id, kind) DO NOTHING");
        qb.build().execute(pool).await?;
        Ok(())
    })
}

/// What the emails of the bookings `booking_ids` say (those that exist).
pub async fn booking_mails(db: &Db, booking_ids: &[i64]) -> Result<Vec<BookingMail>, sqlx::Error> {
    if booking_ids.is_empty() {
        return Ok(Vec::new());
    }
    with_db!(db, |pool| {
        let mut qb = sqlx::QueryBuilder::new(
            "SELECT b.booking_id, u.email, u.name, e.title, v.name AS venue_name, v.city, v.address,
                    v.timezone, s.start_time, b.total_minor, b.currency, b.status
             FROM bookings b JOIN users u ON u.user_id = b.user_id
             JOIN shows s ON s.show_id = b.show_id JOIN events e ON e.event_id = s.event_id
             JOIN venues v ON v.venue_id = s.venue_id WHERE b.booking_id IN ",
        );
        push_id_list(&mut qb, booking_ids);
        qb.push(" ORDER BY b.booking_id");
        qb.build_query_as().fetch_all(pool).await
    })
}

/// A valid ticket as an email lists it.
#[derive(Debug, sqlx::FromRow)]
pub struct MailTicket {
    pub booking_id: i64,
    pub ticket_id: i64,
    pub seat: String,
    pub section: String,
    pub code: Option<String>,
}

/// The valid tickets of the bookings `booking_ids`, in ticket order.
pub async fn valid_tickets(db: &Db, booking_ids: &[i64]) -> Result<Vec<MailTicket>, sqlx::Error> {
    if booking_ids.is_empty() {
        return Ok(Vec::new());
    }
    with_db!(db, |pool| {
        let mut qb = sqlx::QueryBuilder::new(
            "SELECT t.booking_id, t.ticket_id, st.label AS seat, sec.name AS section, t.code FROM tickets t
             JOIN seats st ON st.seat_id = t.seat_id JOIN sections sec ON sec.section_id = st.section_id
             WHERE t.status = 'valid' AND t.booking_id IN ",
        );
        push_id_list(&mut qb, booking_ids);
        qb.push(" ORDER BY t.ticket_id");
        qb.build_query_as().fetch_all(pool).await
    })
}

// ---------------------------------------------------------------------------------------------
// Webhooks

/// Registers a webhook of an event; returns its id.
pub async fn insert_webhook(
    db: &Db,
    event_id: i64,
    url: &str,
    secret: &str,
    created_at: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    with_db!(db, |pool| {
        sqlx::query_scalar(
            "INSERT INTO webhooks (event_id, url, secret, created_at) VALUES ($1, $2, $3, $4)
             RETURNING webhook_id",
        )
        .bind(event_id)
        .bind(url)
        .bind(secret)
        .bind(created_at)
        .fetch_one(pool)
        .await
    })
}

/// A webhook of an event with its delivery counts.
#[derive(Debug, sqlx::FromRow)]
pub struct WebhookSummary {
    pub webhook_id: i64,
    pub url: String,
    pub created_at: DateTime<Utc>,
    pub delivered: i64,
    pub failed: i64,
}

/// The webhooks of an event, oldest first.
pub async fn webhooks_of_event(db: &Db, event_id: i64) -> Result<Vec<WebhookSummary>, sqlx::Error> {
    let rows: Vec<(i64, String, DateTime<Utc>, i64, i64)> = with_db!(db, |pool| {
        sqlx::query_as(
            "SELECT w.webhook_id, w.url, w.created_at,
                    (SELECT COUNT(*) FROM webhook_deliveries d WHERE d.webhook_id = w.webhook_id AND d.status = 'delivered'),
                    (SELECT COUNT(*) FROM webhook_deliveries d WHERE d.webhook_id = w.webhook_id AND d.status = 'failed')
             FROM webhooks w WHERE w.event_id = $1 ORDER BY w.webhook_id",
        )
        .bind(event_id)
        .fetch_all(pool)
        .await?
    });
    Ok(rows
        .into_iter()
        .map(
            |(webhook_id, url, created_at, delivered, failed)| WebhookSummary {
                webhook_id,
                url,
                created_at,
                delivered,
                failed,
            },
        )
        .collect())
}

/// Deletes a webhook of an event; `false` if there was none.
pub async fn delete_webhook(db: &Db, event_id: i64, webhook_id: i64) -> Result<bool, sqlx::Error> {
    let deleted = with_db!(db, |pool| {
        sqlx::query("DELETE FROM webhooks WHERE webhook_id = $1 AND event_id = $2")
            .bind(webhook_id)
            .bind(event_id)
            .execute(pool)
            .await?
            .rows_affected()
    });
    Ok(deleted != 0)
}

/// One event to queue for its webhooks: the event's id when its payload names it, else the
/// show's (whose event is looked up in the same statement).
pub struct EventDeliveries {
    pub outbox_id: i64,
    pub topic: String,
    pub body: String,
    pub event_id: Option<i64>,
    pub show_id: Option<i64>,
}

/// Queues one `pending` delivery of each event per webhook of its event, due at `due`;
/// idempotent (a delivery already queued is kept). One statement for the whole batch on
/// PostgreSQL, one per event on SQLite. Returns the deliveries queued.
pub async fn queue_deliveries(
    db: &Db,
    events: &[EventDeliveries],
    due: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    if events.is_empty() {
        return Ok(0);
    }
    match db {
        Db::Postgres { write, .. } => {
            let outbox: Vec<i64> = events.iter().map(|e| e.outbox_id).collect();
            let topics: Vec<&str> = events.iter().map(|e| e.topic.as_str()).collect();
            let bodies: Vec<&str> = events.iter().map(|e| e.body.as_str()).collect();
            let event_ids: Vec<Option<i64>> = events.iter().map(|e| e.event_id).collect();
            let show_ids: Vec<Option<i64>> = events.iter().map(|e| e.show_id).collect();
            Ok(sqlx::query(
                "INSERT INTO webhook_deliveries (webhook_id, outbox_id, topic, payload, status, attempts, next_attempt_at)
                 SELECT w.webhook_id, x.o, x.t, x.p, 'pending', 0, $6
                   FROM unnest($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::BIGINT[], $5::BIGINT[])
                        AS x(o, t, p, e, s)
                   JOIN webhooks w
                     ON w.event_id = COALESCE(x.e, (SELECT event_id FROM shows WHERE show_id = x.s))
                 ON CONFLICT (webhook_id, outbox_id) DO NOTHING",
            )
            .bind(&outbox)
            .bind(&topics)
            .bind(&bodies)
            .bind(&event_ids)
            .bind(&show_ids)
            .bind(due)
            .execute(write)
            .await?
            .rows_affected())
        }
        Db::Sqlite { write, .. } => {
            let mut queued = 0;
            for e in events {
                queued += sqlx::query(
                    "INSERT INTO webhook_deliveries (webhook_id, outbox_id, topic, payload, status, attempts, next_attempt_at)
                     SELECT webhook_id, $2, $3, $4, 'pending', 0, $5 FROM webhooks
                      WHERE event_id = COALESCE($1, (SELECT event_id FROM shows WHERE show_id = $6))
                     ON CONFLICT (webhook_id, outbox_id) DO NOTHING",
                )
                .bind(e.event_id)
                .bind(e.outbox_id)
                .bind(&e.topic)
                .bind(&e.body)
                .bind(due)
                .bind(e.show_id)
                .execute(write)
                .await?
                .rows_affected();
            }
            Ok(queued)
        }
    }
}

/// A pending delivery that is due, with its webhook's URL and secret.
#[derive(Debug, sqlx::FromRow)]
pub struct DueDelivery {
    pub webhook_id: i64,
    pub outbox_id: i64,
    pub topic: String,
    pub payload: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub url: String,
    pub secret: String,
}

/// Up to 20 pending deliveries due at `now`, the longest waiting first.
pub async fn due_deliveries(db: &Db, now: DateTime<Utc>) -> Result<Vec<DueDelivery>, sqlx::Error> {
    with_db!(db, |pool| {
        sqlx::query_as(
            "SELECT d.webhook_id, d.outbox_id, d.topic, d.payload, d.attempts, d.next_attempt_at, w.url, w.secret
             FROM webhook_deliveries d JOIN webhooks w ON w.webhook_id = d.webhook_id
             WHERE d.status = 'pending' AND d.next_attempt_at <= $1
             ORDER BY d.next_attempt_at, d.outbox_id LIMIT 20",
        )
        .bind(now)
        .fetch_all(pool)
        .await
    })
}

/// Leases a due delivery until `until` so another node does not send it at the same time:
/// `true` if this call moved its `next_attempt_at` (no one else leased it since it was read).
pub async fn lease_delivery(
    db: &Db,
    delivery: &DueDelivery,
    until: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    with_db!(db, |pool| {
        Ok(sqlx::query(
            "UPDATE webhook_deliveries SET next_attempt_at = $4
                 WHERE webhook_id = $1 AND outbox_id = $2 AND status = 'pending' AND next_attempt_at = $3",
        )
        .bind(delivery.webhook_id)
        .bind(delivery.outbox_id)
        .bind(delivery.next_attempt_at)
        .bind(until)
        .execute(pool)
        .await?
        .rows_affected()
            == 1)
    })
}

/// Records an attempt of a delivery: its new `status` (`delivered`, `failed` or `pending`),
/// attempt count, next attempt (or delivery) time and error.
pub async fn record_attempt(
    db: &Db,
    webhook_id: i64,
    outbox_id: i64,
    status: &str,
    attempts: i32,
    next: DateTime<Utc>,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    with_db!(db, |pool| {
        sqlx::query(
            "UPDATE webhook_deliveries SET status = $3, attempts = $4, next_attempt_at = $5,
                        last_error = $6, delivered_at = CASE WHEN $3 = 'delivered' THEN $5 ELSE NULL END
                 WHERE webhook_id = $1 AND outbox_id = $2",
        )
        .bind(webhook_id)
        .bind(outbox_id)
        .bind(status)
        .bind(attempts)
        .bind(next)
        .bind(error)
        .execute(pool)
        .await?;
        Ok(())
    })
}
