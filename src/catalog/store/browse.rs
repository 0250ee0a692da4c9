//! Public reads: the show list, one show with its section counts, held seats per section and
//! the seat map.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sqlx::types::Json as SqlJson;

use crate::catalog::time::TimeFilter;
use crate::domain::{InventoryStatus, ShowStatus};
use crate::store::Db;
use crate::with_read_db;

/// Filters of a show listing; the default lists every live, upcoming show.
#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    pub category: Option<String>,
    pub city: Option<String>,
    pub event_id: Option<i64>,
    pub from: Option<TimeFilter>,
    pub to: Option<TimeFilter>,
    /// Include drafts, cancelled and past shows (an organiser's own event page).
    pub include_unlisted: bool,
    pub limit: i64,
    pub offset: i64,
}

/// The columns a show in a list is made from (see [`SUMMARY_COLUMNS`]).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ShowSummaryRow {
    pub show_id: i64,
    pub event_id: i64,
    pub category: String,
    pub title: String,
    pub language: Option<String>,
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    pub venue_name: String,
    pub city: String,
    pub timezone: String,
    pub min_price: Option<i64>,
    pub currency: String,
    pub status: ShowStatus,
}

/// The select list of a [`ShowSummaryRow`] over `shows s`, `events e` and `venues v`.
pub const SUMMARY_COLUMNS: &str = "s.show_id, s.event_id, e.category, e.title, e.language,
    s.start_time, s.end_time, v.name AS venue_name, v.city, v.timezone,
    (SELECT MIN(p.price_minor) FROM show_prices p WHERE p.show_id = s.show_id) AS min_price,
    s.currency, s.status";

impl ShowSummaryRow {
    pub fn tz(&self) -> Tz {
        self.timezone.parse().unwrap_or(Tz::UTC)
    }
}

/// Shows matching `filter`, soonest first.
pub async fn list_shows(db: &Db, filter: &ListFilter) -> Result<Vec<ShowSummaryRow>, sqlx::Error> {
    let (from_instant, from_date) = split_filter(filter.from.as_ref());
    let (to_instant, to_date) = split_filter(filter.to.as_ref());
    let limit = if filter.limit > 0 { filter.limit } else { 1000 };
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS}
             FROM shows s
             JOIN events e ON e.event_id = s.event_id
             JOIN venues v ON v.venue_id = s.venue_id
             WHERE ($1 OR (s.status = 'live' AND s.start_time > $2))
               AND ($3 IS NULL OR e.category = $3)
               AND ($4 IS NULL OR LOWER(v.city) = LOWER($4))
               AND ($5 IS NULL OR s.event_id = $5)
               AND ($6 IS NULL OR s.start_time >= $6)
               AND ($7 IS NULL OR s.start_time <= $7)
               AND ($8 IS NULL OR s.start_local_date >= $8)
               AND ($9 IS NULL OR s.start_local_date <= $9)
             ORDER BY s.start_time, s.show_id
             LIMIT $10 OFFSET $11"
    );
    with_read_db!(db, |pool| {
        sqlx::query_as(&sql)
            .bind(filter.include_unlisted)
            .bind(Utc::now())
            .bind(filter.category.as_deref())
            .bind(filter.city.as_deref())
            .bind(filter.event_id)
            .bind(from_instant)
            .bind(to_instant)
            .bind(from_date)
            .bind(to_date)
            .bind(limit)
            .bind(filter.offset)
            .fetch_all(pool)
            .await
    })
}

fn split_filter(f: Option<&TimeFilter>) -> (Option<DateTime<Utc>>, Option<String>) {
    match f {
        Some(TimeFilter::Instant(t)) => (Some(*t), None),
        Some(TimeFilter::Date(d)) => (None, Some(d.to_string())),
        None => (None, None),
    }
}

/// A show with its event and venue, as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ShowRow {
    pub show_id: i64,
    pub event_id: i64,
    pub venue_id: i64,
    pub status: ShowStatus,
    pub category: String,
    pub title: String,
    pub description: String,
    pub language: Option<String>,
    pub duration_minutes: Option<i32>,
    pub tags: SqlJson<Vec<String>>,
    pub artists: SqlJson<Vec<String>>,
    pub venue_name: String,
    pub city: String,
    pub address: String,
    pub timezone: String,
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    pub currency: String,
    pub hold_seconds: i32,
    pub max_seats_per_user: i32,
    pub queue_enabled: bool,
    pub queue_admit_per_minute: i32,
    pub queue_opens_at: Option<DateTime<Utc>>,
    pub queue_pass_minutes: i32,
    pub organiser_id: i64,
}

/// One priced section of a show with its inventory counts (zero before launch).
#[derive(Debug, Clone)]
pub struct SectionCounts {
    pub name: String,
    pub priority: i32,
    pub colour: String,
    pub price_minor: i64,
    /// Seats of the section in the venue.
    pub total: i64,
    /// Inventory rows `available` (on sale, held or not).
    pub available: i64,
    pub sold: i64,
}

/// A show with its priced sections, best first.
#[derive(Debug, Clone)]
pub struct StoredShow {
    pub show: ShowRow,
    pub sections: Vec<SectionCounts>,
}

/// Loads a show with live section counts (from the inventory once live).
pub async fn load_show(db: &Db, show_id: i64) -> Result<Option<StoredShow>, sqlx::Error> {
    let row: Option<ShowRow> = with_read_db!(db, |pool| {
        sqlx::query_as(
            "SELECT s.show_id, s.event_id, s.venue_id, s.status, e.category, e.title, e.description,
                    e.language, e.duration_minutes, e.tags, e.artists, v.name AS venue_name, v.city,
                    v.address, v.timezone, s.start_time, s.end_time, s.currency, s.hold_seconds,
                    s.max_seats_per_user, s.queue_enabled, s.queue_admit_per_minute,
                    s.queue_opens_at, s.queue_pass_minutes, e.organiser_id
             FROM shows s JOIN events e ON e.event_id = s.event_id
             JOIN venues v ON v.venue_id = s.venue_id
             WHERE s.show_id = $1",
        )
        .bind(show_id)
        .fetch_optional(pool)
        .await?
    });
    let Some(row) = row else { return Ok(None) };
    let priced: Vec<(i64, String, i32, String, i64, i64)> = with_read_db!(db, |pool| {
        sqlx::query_as(
            "SELECT sec.section_id, sec.name, sec.priority, sec.colour, p.price_minor,
                    (SELECT COUNT(*) FROM seats t WHERE t.section_id = sec.section_id)
             FROM show_prices p JOIN sections sec ON sec.section_id = p.section_id
             WHERE p.show_id = $1 ORDER BY sec.priority, sec.section_id",
        )
        .bind(show_id)
        .fetch_all(pool)
        .await?
    });
    // One pass over the show's inventory for every section's counts.
    let counts: Vec<(i64, InventoryStatus, i64)> = with_read_db!(db, |pool| {
        sqlx::query_as(
            "SELECT section_id, status, COUNT(*) FROM inventory WHERE show_id = $1
             GROUP BY section_id, status",
        )
        .bind(show_id)
        .fetch_all(pool)
        .await?
    });
    let count = |section_id: i64, status: InventoryStatus| {
        counts
            .iter()
            .find(|(id, st, _)| *id == section_id && *st == status)
            .map(|(_, _, n)| *n)
            .unwrap_or(0)
    };
    let sections = priced
        .into_iter()
        .map(
            |(id, name, priority, colour, price_minor, total)| SectionCounts {
                name,
                priority,
                colour,
                price_minor,
                total,
                available: count(id, InventoryStatus::Available),
                sold: count(id, InventoryStatus::Sold),
            },
        )
        .collect();
    Ok(Some(StoredShow {
        show: row,
        sections,
    }))
}

/// Of the seats labelled `labels` in the show, those still `available`, counted per section
/// name (the seats held right now, once `labels` are the held ones).
pub async fn available_per_section(
    db: &Db,
    show_id: i64,
    venue_id: i64,
    labels: &[&String],
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let mut per_section: Vec<(String, i64)> = Vec::new();
    for chunk in labels.chunks(1000) {
        let rows: Vec<(String, i64)> = with_read_db!(db, |pool| {
            let mut qb = sqlx::QueryBuilder::new(
                "SELECT sec.name, COUNT(*) FROM inventory i
                 JOIN seats t ON t.seat_id = i.seat_id
                 JOIN sections sec ON sec.section_id = i.section_id
                 WHERE i.status = 'available' AND i.show_id = ",
            );
            qb.push_bind(show_id);
            qb.push(" AND t.venue_id = ");
            qb.push_bind(venue_id);
            qb.push(" AND t.label IN (");
            let mut list = qb.separated(", ");
            for label in chunk {
                list.push_bind(label.as_str());
            }
            qb.push(") GROUP BY sec.name");
            qb.build_query_as().fetch_all(pool).await?
        });
        per_section.extend(rows);
    }
    Ok(per_section)
}

/// One seat of a show's map: label, section, row, number, x, y, accessible, price in minor
/// units and inventory status.
pub type SeatMapRow = (
    String,
    String,
    String,
    i32,
    i32,
    i32,
    bool,
    i64,
    InventoryStatus,
);

/// The seat map of a draft show: every seat of the venue at its section's price, `available`.
pub async fn draft_seat_map(
    db: &Db,
    show_id: i64,
    venue_id: i64,
) -> Result<Vec<SeatMapRow>, sqlx::Error> {
    with_read_db!(db, |pool| {
        sqlx::query_as(
            "SELECT t.label, sec.name, t.row_label, t.number, t.x, t.y, t.accessible,
                    p.price_minor, 'available'
             FROM seats t JOIN sections sec ON sec.section_id = t.section_id
             JOIN show_prices p ON p.show_id = $1 AND p.section_id = t.section_id
             WHERE t.venue_id = $2 ORDER BY t.y, t.x",
        )
        .bind(show_id)
        .bind(venue_id)
        .fetch_all(pool)
        .await
    })
}

/// The seat map of a launched show, from its inventory.
pub async fn inventory_seat_map(db: &Db, show_id: i64) -> Result<Vec<SeatMapRow>, sqlx::Error> {
    with_read_db!(db, |pool| {
        sqlx::query_as(
            "SELECT t.label, sec.name, t.row_label, t.number, t.x, t.y, t.accessible,
                    i.price_minor, i.status
             FROM inventory i JOIN seats t ON t.seat_id = i.seat_id
             JOIN sections sec ON sec.section_id = i.section_id
             WHERE i.show_id = $1 ORDER BY t.y, t.x",
        )
        .bind(show_id)
        .fetch_all(pool)
        .await
    })
}
