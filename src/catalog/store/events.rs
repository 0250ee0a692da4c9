//! Events: read, create, update.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::types::Json as SqlJson;

use super::browse::{ShowSummaryRow, SUMMARY_COLUMNS};
use crate::events::outbox::topics;
use crate::store::Db;
use crate::{enqueue_outbox, with_db, with_read_db};

/// An event as stored and answered.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Event {
    pub event_id: i64,
    pub organiser_id: i64,
    pub title: String,
    pub category: String,
    pub description: String,
    pub language: Option<String>,
    pub duration_minutes: Option<i32>,
    #[schema(value_type = Vec<String>)]
    pub tags: SqlJson<Vec<String>>,
    #[schema(value_type = Vec<String>)]
    pub artists: SqlJson<Vec<String>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const EVENT_COLUMNS: &str = "event_id, organiser_id, title, category, description, language, \
     duration_minutes, tags, artists, created_at, updated_at";

/// The fields of an event an organiser writes.
pub struct EventFields<'a> {
    pub title: &'a str,
    pub category: &'a str,
    pub description: &'a str,
    pub language: Option<&'a str>,
    pub duration_minutes: Option<i32>,
    pub tags: &'a [String],
    pub artists: &'a [String],
}

/// The event, read from the writer (for decisions: who organises it).
pub async fn find_event(db: &Db, event_id: i64) -> Result<Option<Event>, sqlx::Error> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE event_id = $1");
    with_db!(db, |pool| sqlx::query_as(&sql)
        .bind(event_id)
        .fetch_optional(pool)
        .await)
}

/// The event, read from the reader pool (a replica may serve it: the public event page).
pub async fn read_event(db: &Db, event_id: i64) -> Result<Option<Event>, sqlx::Error> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE event_id = $1");
    with_read_db!(db, |pool| {
        sqlx::query_as(&sql)
            .bind(event_id)
            .fetch_optional(pool)
            .await
    })
}

/// Stores a new event of `organiser_id`.
pub async fn insert_event(
    db: &Db,
    organiser_id: i64,
    fields: &EventFields<'_>,
) -> Result<Event, sqlx::Error> {
    let now = Utc::now();
    let sql = format!(
        "INSERT INTO events (organiser_id, title, category, description, language, duration_minutes, \
         tags, artists, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
         RETURNING {EVENT_COLUMNS}"
    );
    with_db!(db, |pool| {
        sqlx::query_as(&sql)
            .bind(organiser_id)
            .bind(fields.title)
            .bind(fields.category)
            .bind(fields.description)
            .bind(fields.language)
            .bind(fields.duration_minutes)
            .bind(SqlJson(fields.tags))
            .bind(SqlJson(fields.artists))
            .bind(now)
            .fetch_one(pool)
            .await
    })
}

/// Replaces an event's fields and, in the same transaction, writes a `show.updated` outbox row
/// for each of its live shows.
pub async fn update_event(
    db: &Db,
    event_id: i64,
    fields: &EventFields<'_>,
) -> Result<Event, sqlx::Error> {
    let sql = format!(
        "UPDATE events SET title = $2, category = $3, description = $4, language = $5, \
         duration_minutes = $6, tags = $7, artists = $8, updated_at = $9 WHERE event_id = $1 \
         RETURNING {EVENT_COLUMNS}"
    );
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        let event: Event = sqlx::query_as(&sql)
            .bind(event_id)
            .bind(fields.title)
            .bind(fields.category)
            .bind(fields.description)
            .bind(fields.language)
            .bind(fields.duration_minutes)
            .bind(SqlJson(fields.tags))
            .bind(SqlJson(fields.artists))
            .bind(Utc::now())
            .fetch_one(&mut *tx)
            .await?;
        let show_ids: Vec<i64> =
            sqlx::query_scalar("SELECT show_id FROM shows WHERE event_id = $1 AND status = 'live'")
                .bind(event_id)
                .fetch_all(&mut *tx)
                .await?;
        for show_id in show_ids {
            enqueue_outbox!(
                tx,
                topics::SHOW_UPDATED,
                show_id,
                json!({ "show_id": show_id, "event_id": event_id })
            )
            .await?;
        }
        tx.commit().await?;
        Ok(event)
    })
}

/// At most this many events in an organiser's own list (newest first).
pub const MAX_OWN_EVENTS: i64 = 200;
/// At most this many shows across those events.
pub const MAX_OWN_SHOWS: i64 = 2000;

/// The events `organiser_id` organises, newest first (at most [`MAX_OWN_EVENTS`]).
pub async fn events_of_organiser(db: &Db, organiser_id: i64) -> Result<Vec<Event>, sqlx::Error> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE organiser_id = $1
         ORDER BY created_at DESC, event_id DESC LIMIT $2"
    );
    // From the writer, as `shows_of_organiser` (read right after a create).
    with_db!(db, |pool| {
        sqlx::query_as(&sql)
            .bind(organiser_id)
            .bind(MAX_OWN_EVENTS)
            .fetch_all(pool)
            .await
    })
}

/// A show of an organiser's own list, with its sales so far.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OwnShowRow {
    #[sqlx(flatten)]
    pub summary: ShowSummaryRow,
    /// Seats of the venue (every one is priced and, once live, on sale).
    pub seat_count: i64,
    pub seats_sold: i64,
    /// What the sold seats fetched, in minor units of the show's currency.
    pub revenue_minor: i64,
}

/// Every show (drafts, live, past and cancelled) of the organiser's newest
/// [`MAX_OWN_EVENTS`] events, soonest first, with its sales: one query (at most the newest
/// [`MAX_OWN_SHOWS`] shows).
pub async fn shows_of_organiser(
    db: &Db,
    organiser_id: i64,
) -> Result<Vec<OwnShowRow>, sqlx::Error> {
    // The newest shows are the ones kept when there are too many; listed soonest first.
    let sql = format!(
        "SELECT * FROM (SELECT {SUMMARY_COLUMNS},
            (SELECT COUNT(*) FROM seats t WHERE t.venue_id = s.venue_id) AS seat_count,
            (SELECT COUNT(*) FROM inventory i
             WHERE i.show_id = s.show_id AND i.status = 'sold') AS seats_sold,
            (SELECT CAST(COALESCE(SUM(i.price_minor), 0) AS BIGINT) FROM inventory i
             WHERE i.show_id = s.show_id AND i.status = 'sold') AS revenue_minor
         FROM shows s
         JOIN events e ON e.event_id = s.event_id
         JOIN venues v ON v.venue_id = s.venue_id
         WHERE s.event_id IN (SELECT event_id FROM events WHERE organiser_id = $1
                              ORDER BY created_at DESC, event_id DESC LIMIT $2)
         ORDER BY s.start_time DESC, s.show_id DESC
         LIMIT $3) AS own
         ORDER BY own.start_time, own.show_id"
    );
    // From the writer: the organiser reloads this list right after creating an event or show,
    // which a lagging replica would leave out.
    with_db!(db, |pool| {
        sqlx::query_as(&sql)
            .bind(organiser_id)
            .bind(MAX_OWN_EVENTS)
            .bind(MAX_OWN_SHOWS)
            .fetch_all(pool)
            .await
    })
}
