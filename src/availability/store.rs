//! The queries of live availability: a show's seat map (once) and its recorded seat statuses
//! (when a node builds or repairs its state).

use crate::domain::{InventoryStatus, ShowStatus};
use crate::store::Db;
use crate::{with_primary_read, with_read_db};

/// A show's settings that shape its map.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MapShow {
    pub show_id: i64,
    pub venue_id: i64,
    pub status: ShowStatus,
    pub currency: String,
}

/// One seat of a venue, in seat id order.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SeatRow {
    pub seat_id: i64,
    pub section_id: i64,
    pub row_label: String,
    pub number: i32,
    pub x: i32,
    pub y: i32,
    pub accessible: bool,
}

/// A priced section of a show.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SectionRow {
    pub section_id: i64,
    pub name: String,
    pub colour: String,
    pub priority: i32,
    pub price_minor: i64,
}

pub async fn map_show(db: &Db, show_id: i64) -> Result<Option<MapShow>, sqlx::Error> {
    with_primary_read!(db, |pool| sqlx::query_as(
        "SELECT show_id, venue_id, status, currency FROM shows WHERE show_id = $1"
    )
    .bind(show_id)
    .fetch_optional(pool)
    .await)
}

/// Every seat of a venue, by seat id (the order seats were laid out in: section, row, number).
pub async fn venue_seats(db: &Db, venue_id: i64) -> Result<Vec<SeatRow>, sqlx::Error> {
    with_read_db!(db, |pool| sqlx::query_as(
        "SELECT seat_id, section_id, row_label, number, x, y, accessible
           FROM seats WHERE venue_id = $1 ORDER BY seat_id"
    )
    .bind(venue_id)
    .fetch_all(pool)
    .await)
}

/// The sections of a show with their prices, by priority.
pub async fn show_sections(db: &Db, show_id: i64) -> Result<Vec<SectionRow>, sqlx::Error> {
    with_read_db!(db, |pool| sqlx::query_as(
        "SELECT sec.section_id, sec.name, sec.colour, sec.priority, p.price_minor
           FROM show_prices p JOIN sections sec ON sec.section_id = p.section_id
          WHERE p.show_id = $1 ORDER BY sec.priority, sec.section_id"
    )
    .bind(show_id)
    .fetch_all(pool)
    .await)
}

/// The recorded status of every seat of a live show that is not on sale (sold or blocked);
/// the others are available. Read from the primary: the state built from it must not be older
/// than the changes announced after it.
pub async fn unavailable_seats(
    db: &Db,
    show_id: i64,
) -> Result<Vec<(i64, InventoryStatus)>, sqlx::Error> {
    with_primary_read!(db, |pool| sqlx::query_as(
        "SELECT seat_id, status FROM inventory WHERE show_id = $1 AND status <> 'available'"
    )
    .bind(show_id)
    .fetch_all(pool)
    .await)
}
