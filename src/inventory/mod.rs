//! What is on sale: a show's sale state and its seats' inventory rows, shared by holds and
//! booking. The inventory table is the source of truth for sold seats. The queries are in
//! [`store`].

pub mod store;

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::json;

use crate::availability::live::ShowLive;
use crate::domain::{InventoryStatus, ShowStatus};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::store::Db;

/// Largest number of seats in one hold or booking request.
pub const MAX_SEATS_PER_REQUEST: usize = 100;

/// The sale settings of a show.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SaleShow {
    pub show_id: i64,
    pub event_id: i64,
    pub venue_id: i64,
    pub status: ShowStatus,
    pub start_time: DateTime<Utc>,
    pub currency: String,
    pub hold_seconds: i32,
    pub max_seats_per_user: i32,
    pub timezone: String,
    /// The waiting room (`crate::queue`): on or off, admissions a minute, when it opens (joins
    /// before form the shuffled pre-queue), how long a pass lasts.
    pub queue_enabled: bool,
    pub queue_admit_per_minute: i32,
    pub queue_opens_at: Option<DateTime<Utc>>,
    pub queue_pass_minutes: i32,
}

impl SaleShow {
    pub fn tz(&self) -> Tz {
        self.timezone.parse().unwrap_or(Tz::UTC)
    }

    /// 409 unless the show is live and has not started.
    pub fn ensure_on_sale(&self) -> ApiResult<()> {
        if self.status != ShowStatus::Live {
            return Err(ApiError::invalid_state(format!(
                "Show {} is {} and not on sale",
                self.show_id, self.status
            ))
            .with_details(json!({ "show_id": self.show_id, "status": self.status })));
        }
        if self.start_time <= Utc::now() {
            return Err(ApiError::invalid_state(format!(
                "Show {} has already started",
                self.show_id
            ))
            .with_details(json!({ "show_id": self.show_id, "status": "started" })));
        }
        Ok(())
    }
}

/// A per-node cache of sale settings, read on every hold and booking. Entries live
/// [`SHOW_CACHE_TTL`] and are dropped at once on this node when the organiser changes the show;
/// other nodes see a change within the TTL. Staleness cannot sell anything wrongly: the booking
/// transaction only flips seats that are still `available` (a cancelled show's are `blocked`).
#[derive(Default)]
pub struct ShowCache {
    entries: std::sync::Mutex<std::collections::HashMap<i64, (std::time::Instant, SaleShow)>>,
}

/// How long a cached [`SaleShow`] is used.
pub const SHOW_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(1);

impl ShowCache {
    fn get(&self, show_id: i64) -> Option<SaleShow> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(&show_id)
            .filter(|(at, _)| at.elapsed() < SHOW_CACHE_TTL)
            .map(|(_, show)| show.clone())
    }

    fn put(&self, show: &SaleShow) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() > 10_000 {
            entries.retain(|_, (at, _)| at.elapsed() < SHOW_CACHE_TTL);
        }
        entries.insert(show.show_id, (std::time::Instant::now(), show.clone()));
    }

    /// Forgets a show after a change on this node.
    pub fn invalidate(&self, show_id: i64) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&show_id);
    }
}

/// The show if it exists and is public (not a draft), from the cache when fresh.
pub async fn cached_sale_show(db: &Db, cache: &ShowCache, show_id: i64) -> ApiResult<SaleShow> {
    if let Some(show) = cache.get(show_id) {
        return Ok(show);
    }
    let show = sale_show(db, show_id).await?;
    cache.put(&show);
    Ok(show)
}

/// The show if it exists and is public (not a draft): otherwise the seed's 404.
pub async fn sale_show(db: &Db, show_id: i64) -> ApiResult<SaleShow> {
    let show = store::find_sale_show(db, show_id).await?;
    show.filter(|s| s.status != ShowStatus::Draft)
        .ok_or_else(|| ApiError::show_not_found(show_id))
}

/// One requested seat: its id, price and status.
#[derive(Debug, Clone)]
pub struct InventorySeat {
    pub label: String,
    pub seat_id: i64,
    pub status: InventoryStatus,
    pub price_minor: i64,
}

/// Checks a request's seat ids: not empty, at most [`MAX_SEATS_PER_REQUEST`], no duplicates,
/// each a plausible label. Returns them trimmed, in request order.
pub fn check_seat_ids(show_id: i64, seat_ids: &[String]) -> ApiResult<Vec<String>> {
    if seat_ids.is_empty() {
        return Err(ApiError::invalid_field(
            "seat_ids",
            "seat_ids cannot be empty",
        ));
    }
    if seat_ids.len() > MAX_SEATS_PER_REQUEST {
        return Err(ApiError::invalid_field(
            "seat_ids",
            format!("at most {MAX_SEATS_PER_REQUEST} seats per request"),
        ));
    }
    let mut seen = HashSet::new();
    let mut duplicates = Vec::new();
    let mut out = Vec::with_capacity(seat_ids.len());
    for (i, raw) in seat_ids.iter().enumerate() {
        let label = raw.trim();
        if label.is_empty() || label.len() > 16 || !label.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Err(ApiError::invalid_field(
                format!("seat_ids[{i}]"),
                format!("`{raw}` is not a seat id"),
            ));
        }
        if !seen.insert(label.to_owned()) {
            duplicates.push(label.to_owned());
        }
        out.push(label.to_owned());
    }
    if !duplicates.is_empty() {
        return Err(
            ApiError::invalid("seat_ids contains duplicates").with_details(json!({
                "field": "seat_ids", "show_id": show_id, "duplicate_seats": duplicates,
            })),
        );
    }
    Ok(out)
}

/// The seats labelled `labels` in the show, in request order, from the node's live
/// availability: no database read. Their statuses are as this node last heard; the booking
/// transaction takes a seat only where it is still available. 400 naming unknown seats.
pub fn inventory_seats(live: &ShowLive, labels: &[String]) -> ApiResult<Vec<InventorySeat>> {
    let seats = live
        .seats_of(labels)
        .map_err(|unknown| unknown_seats(live.map.show_id, &unknown))?;
    Ok(labels
        .iter()
        .zip(seats)
        .map(|(label, (seat_id, price_minor, status))| InventorySeat {
            label: label.clone(),
            seat_id,
            status,
            price_minor,
        })
        .collect())
}

/// 400 naming the requested seats the show does not have.
pub fn unknown_seats(show_id: i64, unknown: &[String]) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidRequest,
        format!("Unknown seats for show {show_id}: {}", unknown.join(", ")),
    )
    .with_details(json!({ "field": "seat_ids", "show_id": show_id, "unknown_seats": unknown }))
}

/// The seats `buyer` has bought for the show (confirmed bookings), from the primary.
pub async fn bought_seats(db: &Db, show_id: i64, buyer: i64) -> ApiResult<u32> {
    let bought = store::bought_seats(db, show_id, buyer).await?;
    Ok(u32::try_from(bought.max(0)).unwrap_or(u32::MAX))
}
