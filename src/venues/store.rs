//! Queries on venues, sections and seats.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::layout::Layout;
use crate::store::Db;
use crate::{with_db, with_read_db};

/// The fields of a venue other than its layout.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct VenueRow {
    pub venue_id: i64,
    pub owner_id: i64,
    pub name: String,
    pub city: String,
    pub address: String,
    pub timezone: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SectionRow {
    #[serde(skip)]
    pub section_id: i64,
    pub name: String,
    pub priority: i32,
    pub colour: String,
    pub seat_count: i64,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SeatRow {
    #[serde(rename = "seat_id")]
    pub label: String,
    pub section: String,
    #[serde(rename = "row")]
    pub row_label: String,
    pub number: i32,
    pub x: i32,
    pub y: i32,
    pub accessible: bool,
}

/// A venue with its whole layout, as `GET /api/v1/venues/{id}` answers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Venue {
    #[serde(flatten)]
    pub venue: VenueRow,
    pub seat_count: i64,
    pub sections: Vec<SectionRow>,
    pub seats: Vec<SeatRow>,
}

pub struct NewVenue<'a> {
    pub owner_id: i64,
    pub name: &'a str,
    pub city: &'a str,
    pub address: &'a str,
    pub timezone: &'a str,
}

/// Seats per multi-row INSERT (8 binds each, well under SQLite's 32,766 limit).
const SEAT_BATCH: usize = 2_000;

/// Stores a venue, its sections and every seat in one transaction; returns the venue id.
pub async fn insert_venue(
    db: &Db,
    venue: &NewVenue<'_>,
    layout: &Layout,
) -> Result<i64, sqlx::Error> {
    let now = Utc::now();
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        let venue_id: i64 = sqlx::query_scalar(
            "INSERT INTO venues (owner_id, name, city, address, timezone, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING venue_id",
        )
        .bind(venue.owner_id)
        .bind(venue.name)
        .bind(venue.city)
        .bind(venue.address)
        .bind(venue.timezone)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let mut section_ids = Vec::with_capacity(layout.sections.len());
        for section in &layout.sections {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO sections (venue_id, name, priority, colour) VALUES ($1, $2, $3, $4)
                 RETURNING section_id",
            )
            .bind(venue_id)
            .bind(&section.name)
            .bind(section.priority)
            .bind(&section.colour)
            .fetch_one(&mut *tx)
            .await?;
            section_ids.push(id);
        }
        for chunk in layout.seats.chunks(SEAT_BATCH) {
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO seats (venue_id, section_id, label, row_label, number, x, y, accessible) ",
            );
            qb.push_values(chunk, |mut b, seat| {
                b.push_bind(venue_id)
                    .push_bind(section_ids[seat.section_index])
                    .push_bind(&seat.label)
                    .push_bind(&seat.row_label)
                    .push_bind(seat.number)
                    .push_bind(seat.x)
                    .push_bind(seat.y)
                    .push_bind(seat.accessible);
            });
            qb.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(venue_id)
    })
}

const VENUE_COLUMNS: &str = "venue_id, owner_id, name, city, address, timezone, created_at";

pub async fn find_venue_row(db: &Db, venue_id: i64) -> Result<Option<VenueRow>, sqlx::Error> {
    let sql = format!("SELECT {VENUE_COLUMNS} FROM venues WHERE venue_id = $1");
    with_db!(db, |pool| {
        sqlx::query_as(&sql)
            .bind(venue_id)
            .fetch_optional(pool)
            .await
    })
}

/// The sections of a venue with their seat counts, best first.
pub async fn sections_of(db: &Db, venue_id: i64) -> Result<Vec<SectionRow>, sqlx::Error> {
    with_read_db!(db, |pool| {
        sqlx::query_as(
            "SELECT s.section_id, s.name, s.priority, s.colour,
                    (SELECT COUNT(*) FROM seats t WHERE t.section_id = s.section_id) AS seat_count
             FROM sections s WHERE s.venue_id = $1 ORDER BY s.priority, s.section_id",
        )
        .bind(venue_id)
        .fetch_all(pool)
        .await
    })
}

/// The whole layout of a venue, or `None` if it does not exist.
pub async fn find_venue(db: &Db, venue_id: i64) -> Result<Option<Venue>, sqlx::Error> {
    let sql = format!("SELECT {VENUE_COLUMNS} FROM venues WHERE venue_id = $1");
    let row: Option<VenueRow> = with_read_db!(db, |pool| {
        sqlx::query_as(&sql)
            .bind(venue_id)
            .fetch_optional(pool)
            .await?
    });
    let Some(venue) = row else { return Ok(None) };
    let sections = sections_of(db, venue_id).await?;
    let seats: Vec<SeatRow> = with_read_db!(db, |pool| {
        sqlx::query_as(
            "SELECT t.label, s.name AS section, t.row_label, t.number, t.x, t.y, t.accessible
             FROM seats t JOIN sections s ON s.section_id = t.section_id
             WHERE t.venue_id = $1 ORDER BY t.y, t.x, t.seat_id",
        )
        .bind(venue_id)
        .fetch_all(pool)
        .await?
    });
    Ok(Some(Venue {
        seat_count: seats.len() as i64,
        venue,
        sections,
        seats,
    }))
}

/// A venue in a listing.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct VenueSummary {
    pub venue_id: i64,
    pub owner_id: i64,
    pub name: String,
    pub city: String,
    pub address: String,
    pub timezone: String,
    pub seat_count: i64,
}

/// Venues, optionally of one city (case-insensitive) or one owner, by name.
pub async fn list_venues(
    db: &Db,
    city: Option<&str>,
    owner_id: Option<i64>,
) -> Result<Vec<VenueSummary>, sqlx::Error> {
    with_read_db!(db, |pool| {
        sqlx::query_as(
            "SELECT v.venue_id, v.owner_id, v.name, v.city, v.address, v.timezone,
                    (SELECT COUNT(*) FROM seats t WHERE t.venue_id = v.venue_id) AS seat_count
             FROM venues v
             WHERE ($1 IS NULL OR LOWER(v.city) = LOWER($1)) AND ($2 IS NULL OR v.owner_id = $2)
             ORDER BY v.name, v.venue_id LIMIT 500",
        )
        .bind(city)
        .bind(owner_id)
        .fetch_all(pool)
        .await
    })
}

/// An optional text field: `None` or blank stays `None`; otherwise at most `max` characters.
pub fn text_field_opt<'a>(
    field: &str,
    value: Option<&'a str>,
    max: usize,
) -> crate::error::ApiResult<Option<&'a str>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) if v.chars().count() > max => Err(crate::error::ApiError::invalid_field(
            field,
            format!("{field} must have at most {max} characters"),
        )),
        Some(v) => Ok(Some(v)),
    }
}
