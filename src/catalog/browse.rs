//! Public reads: the show list in the seed's shape, one show with live section availability,
//! and the per-seat map of a show.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::cache::{self, Rendered};
use super::filter::CatalogFilter;
use super::store::{self, ListFilter, ShowSummaryRow, StoredShow};
use super::time::local_rfc3339;
use crate::app::AppState;
use crate::domain::{SeatStatus, ShowStatus};
use crate::error::{ApiError, ApiResult};
use crate::http::auth::{AuthUser, CatalogReader};
use crate::http::cache::{catalog_json, catalog_rendered, no_store_json};
use crate::http::json::{ApiPath, ApiQuery};
use crate::money::Currency;
use crate::store::Db;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_shows))
        .routes(routes!(get_show))
        .routes(routes!(get_seats))
}

const TAG: &str = "shows";

/// A show in a list, in the seed's shape.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ShowSummary {
    pub show_id: i64,
    pub event_id: i64,
    pub category: String,
    pub title: String,
    /// The event's language, when it has one ("Telugu").
    pub language: Option<String>,
    pub start_time: String,
    pub end_time: String,
    pub venue_name: String,
    pub city: String,
    #[schema(value_type = Option<f64>)]
    pub min_price: Option<serde_json::Number>,
    pub currency: String,
    /// Only in an organiser's view of their own event, where drafts appear too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<ShowStatus>,
}

impl ShowSummary {
    /// The list shape of a row: times in the venue's offset, the lowest price in major units;
    /// `with_status` for an organiser's view that includes drafts.
    pub fn from_row(row: &ShowSummaryRow, with_status: bool) -> Self {
        let tz = row.tz();
        Self {
            show_id: row.show_id,
            event_id: row.event_id,
            category: row.category.clone(),
            title: row.title.clone(),
            language: row.language.clone(),
            start_time: local_rfc3339(row.start_time, tz),
            end_time: local_rfc3339(row.end_time, tz),
            venue_name: row.venue_name.clone(),
            city: row.city.clone(),
            min_price: row
                .min_price
                .and_then(|m| Currency::parse(&row.currency).map(|c| c.to_major(m))),
            currency: row.currency.clone(),
            status: with_status.then_some(row.status),
        }
    }
}

/// Shows matching `filter`, soonest first, in the list shape.
pub async fn list_shows(db: &Db, filter: &ListFilter) -> Result<Vec<ShowSummary>, sqlx::Error> {
    let rows = store::list_shows(db, filter).await?;
    Ok(rows
        .iter()
        .map(|row| ShowSummary::from_row(row, filter.include_unlisted))
        .collect())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ShowsQuery {
    /// `movie`, `concert` or `all`.
    #[param(pattern = "^\\s*(movie|concert|all)?\\s*$")]
    cat: Option<String>,
    city: Option<String>,
    /// A date (`2026-01-10`) or an RFC 3339 time.
    #[param(
        pattern = "^\\s*([0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\\.[0-9]{1,9})?)?(Z|[+-](0[0-9]|1[0-4]):[0-5][0-9])?)?)?\\s*$"
    )]
    from: Option<String>,
    /// A date (`2026-01-10`) or an RFC 3339 time, not before `from`.
    #[param(
        pattern = "^\\s*([0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\\.[0-9]{1,9})?)?(Z|[+-](0[0-9]|1[0-4]):[0-5][0-9])?)?)?\\s*$"
    )]
    to: Option<String>,
    #[param(minimum = 1, maximum = 10000)]
    page: Option<i64>,
    #[param(minimum = 1, maximum = 100)]
    per_page: Option<i64>,
}

/// Live shows, soonest first: by category (`movie`, `concert`), city and dates.
#[utoipa::path(get, path = "/api/v1/shows", tag = TAG, params(ShowsQuery),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "Shows", body = Vec<ShowSummary>),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        (status = 400, description = "`INVALID_REQUEST`", body = crate::http::openapi::ErrorBody),
    ))]
async fn get_shows(
    State(state): State<AppState>,
    CatalogReader(reader): CatalogReader,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<ShowsQuery>,
) -> ApiResult<Response> {
    let parsed = CatalogFilter::parse(
        q.cat.as_deref(),
        q.city.as_deref(),
        q.from.as_deref(),
        q.to.as_deref(),
    )?;
    let page = q.page.unwrap_or(1);
    if !(1..=10_000).contains(&page) {
        return Err(ApiError::invalid_field(
            "page",
            "page must be between 1 and 10000",
        ));
    }
    let per_page = q.per_page.unwrap_or(20);
    if !(1..=100).contains(&per_page) {
        return Err(ApiError::invalid_field(
            "per_page",
            "per_page must be between 1 and 100",
        ));
    }
    let filter = ListFilter {
        category: parsed.category.map(|c| c.as_str().to_owned()),
        city: parsed.city,
        from: parsed.from,
        to: parsed.to,
        limit: per_page,
        offset: (page - 1) * per_page,
        ..ListFilter::default()
    };
    let key = format!(
        "shows:{:?}:{:?}:{:?}:{:?}:{}:{}",
        filter.category,
        filter.city.as_deref().map(str::to_lowercase),
        filter.from,
        filter.to,
        filter.limit,
        filter.offset
    );
    let answer = match state.catalog.answer(&key) {
        Some(answer) => answer,
        None => {
            let _filling = state.catalog.filling.lock().await;
            if let Some(answer) = state.catalog.answer(&key) {
                return catalog_rendered(
                    &headers,
                    &answer,
                    state.settings.catalog_max_age,
                    reader.is_some(),
                );
            }
            let generation = state.catalog.generation();
            let shows = list_shows(&state.db, &filter).await?;
            let answer = Rendered::new(serde_json::to_vec(&shows).map_err(ApiError::internal)?);
            state
                .catalog
                .keep_answer(key, generation, cache::TTL, answer.clone());
            answer
        }
    };
    catalog_rendered(
        &headers,
        &answer,
        state.settings.catalog_max_age,
        reader.is_some(),
    )
}

/// One section of a show with its price and live counts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SectionAvailability {
    pub name: String,
    pub priority: i32,
    pub colour: String,
    #[schema(value_type = f64)]
    pub price: serde_json::Number,
    pub total: i64,
    /// On sale and not held by anyone.
    pub available: i64,
    pub held: i64,
    pub sold: i64,
}

/// A show with its event, venue, settings and live section availability.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ShowDetail {
    pub show_id: i64,
    pub event_id: i64,
    pub venue_id: i64,
    pub status: ShowStatus,
    pub category: String,
    pub title: String,
    pub description: String,
    pub language: Option<String>,
    pub duration_minutes: Option<i32>,
    pub tags: Vec<String>,
    pub artists: Vec<String>,
    pub venue_name: String,
    pub city: String,
    pub address: String,
    pub timezone: String,
    pub start_time: String,
    pub end_time: String,
    pub currency: String,
    #[schema(value_type = Option<f64>)]
    pub min_price: Option<serde_json::Number>,
    pub hold_seconds: i32,
    pub max_seats_per_user: i32,
    /// The waiting room's settings: `enabled`, `admit_per_minute`, `opens_at`, `pass_minutes`.
    #[schema(value_type = Object)]
    pub queue: serde_json::Value,
    pub seat_count: i64,
    pub available: i64,
    pub held: i64,
    pub sections: Vec<SectionAvailability>,
    #[serde(skip)]
    pub organiser_id: i64,
}

/// Loads a show with live section counts (from the inventory once live), in the answer's shape.
pub async fn load_show(db: &Db, show_id: i64) -> Result<Option<ShowDetail>, sqlx::Error> {
    let Some(StoredShow {
        show: row,
        sections,
    }) = store::load_show(db, show_id).await?
    else {
        return Ok(None);
    };
    let tz: Tz = row.timezone.parse().unwrap_or(Tz::UTC);
    let currency = Currency::parse(&row.currency);
    let major = |minor: i64| {
        currency
            .map(|c| c.to_major(minor))
            .unwrap_or_else(|| serde_json::Number::from(minor))
    };
    let is_draft = row.status == ShowStatus::Draft;
    let sections: Vec<SectionAvailability> = sections
        .into_iter()
        .map(|section| SectionAvailability {
            name: section.name,
            priority: section.priority,
            colour: section.colour,
            price: major(section.price_minor),
            total: section.total,
            // Before launch there is no inventory yet: every seat will be on sale.
            available: if is_draft {
                section.total
            } else {
                section.available
            },
            held: 0,
            sold: section.sold,
        })
        .collect();
    Ok(Some(ShowDetail {
        show_id: row.show_id,
        event_id: row.event_id,
        venue_id: row.venue_id,
        status: row.status,
        category: row.category,
        title: row.title,
        description: row.description,
        language: row.language,
        duration_minutes: row.duration_minutes,
        tags: row.tags.0,
        artists: row.artists.0,
        venue_name: row.venue_name,
        city: row.city,
        address: row.address,
        timezone: row.timezone,
        start_time: local_rfc3339(row.start_time, tz),
        end_time: local_rfc3339(row.end_time, tz),
        min_price: sections.iter().map(|s| s.price.clone()).min_by(|a, b| {
            a.as_f64()
                .unwrap_or(0.0)
                .total_cmp(&b.as_f64().unwrap_or(0.0))
        }),
        currency: row.currency,
        hold_seconds: row.hold_seconds,
        max_seats_per_user: row.max_seats_per_user,
        queue: json!({
            "enabled": row.queue_enabled,
            "admit_per_minute": row.queue_admit_per_minute,
            "opens_at": row.queue_opens_at.map(|t| local_rfc3339(t, tz)),
            "pass_minutes": row.queue_pass_minutes,
        }),
        seat_count: sections.iter().map(|s| s.total).sum(),
        available: sections.iter().map(|s| s.available).sum(),
        held: 0,
        sections,
        organiser_id: row.organiser_id,
    }))
}

/// A show the caller may see: drafts only to their organiser (or an admin).
pub async fn visible_show(
    state: &AppState,
    reader: Option<&AuthUser>,
    show_id: i64,
) -> ApiResult<ShowDetail> {
    let show = load_show(&state.db, show_id)
        .await?
        .ok_or_else(|| ApiError::show_not_found(show_id))?;
    if show.status == ShowStatus::Draft {
        let allowed = match reader {
            Some(user) => user.user_id == show.organiser_id || user.is_admin(state).await?,
            None => false,
        };
        if !allowed {
            return Err(ApiError::show_not_found(show_id));
        }
    }
    Ok(show)
}

/// A show: its event, venue, prices and live section counts.
#[utoipa::path(get, path = "/api/v1/shows/{show_id}", tag = TAG,
    params(("show_id" = i64, Path, description = "The show")),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The show", body = ShowDetail),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        (status = 404, description = "`SHOW_NOT_FOUND`", body = crate::http::openapi::ErrorBody),
    ))]
async fn get_show(
    State(state): State<AppState>,
    CatalogReader(reader): CatalogReader,
    headers: HeaderMap,
    ApiPath(show_id): ApiPath<i64>,
) -> ApiResult<Response> {
    let generation = state.catalog.generation();
    let max_age = state.settings.catalog_max_age.min(5);
    let show = match state.catalog.show(show_id) {
        Some(show) => show,
        None => {
            let _filling = state.catalog.filling.lock().await;
            let cached = state.catalog.show(show_id);
            let show = match cached {
                Some(show) => ShowDetail::clone(&show),
                None => visible_show(&state, reader.as_ref(), show_id).await?,
            };
            if show.status == ShowStatus::Draft {
                // Only its organiser sees a draft: never kept.
                return catalog_json(&headers, &show, max_age, true);
            }
            let show = Arc::new(show);
            state.catalog.keep_show(generation, show.clone());
            show
        }
    };
    // Rendered once per version of the seats (their counts are part of the answer).
    let (version, snapshot) = if show.status == ShowStatus::Live {
        let live = state.availability.show(show_id).await?;
        let snapshot = live.snapshot();
        (snapshot.version, Some((live, snapshot)))
    } else {
        (0, None)
    };
    let key = format!("show:{show_id}:{version}");
    let answer = match state.catalog.answer(&key) {
        Some(answer) => answer,
        None => {
            let mut detail = ShowDetail::clone(&show);
            if let Some((live, snapshot)) = &snapshot {
                live_counts(live, snapshot, &mut detail);
            }
            let answer = Rendered::new(serde_json::to_vec(&detail).map_err(ApiError::internal)?);
            state
                .catalog
                .keep_answer(key, generation, cache::TTL, answer.clone());
            answer
        }
    };
    catalog_rendered(&headers, &answer, max_age, reader.is_some())
}

/// Section counts from this node's live availability (held seats apart from available ones).
fn live_counts(
    live: &crate::availability::live::ShowLive,
    snapshot: &crate::availability::live::Snapshot,
    show: &mut ShowDetail,
) {
    for (section, counts) in live.map.sections.iter().zip(&snapshot.section_counts) {
        if let Some(s) = show.sections.iter_mut().find(|s| s.name == section.name) {
            s.available = i64::from(counts[0]);
            s.held = i64::from(counts[1]);
            s.sold = i64::from(counts[2]);
        }
    }
    show.held = show.sections.iter().map(|s| s.held).sum();
    show.available = show.sections.iter().map(|s| s.available).sum();
}

/// One seat of a show's map with its live status.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SeatView {
    pub seat_id: String,
    pub section: String,
    pub row: String,
    pub number: i32,
    pub x: i32,
    pub y: i32,
    pub accessible: bool,
    #[schema(value_type = f64)]
    pub price: serde_json::Number,
    pub status: SeatStatus,
    /// True on seats held by the caller.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub mine: bool,
}

/// Every seat of a show with its live status (the seed's shape; the seat map uses the compact
/// layout and availability instead).
#[utoipa::path(get, path = "/api/v1/shows/{show_id}/seats", tag = TAG,
    params(("show_id" = i64, Path, description = "The show")),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "Seats", body = ShowSeats),
        (status = 404, description = "`SHOW_NOT_FOUND`", body = crate::http::openapi::ErrorBody),
    ))]
async fn get_seats(
    State(state): State<AppState>,
    CatalogReader(reader): CatalogReader,
    ApiPath(show_id): ApiPath<i64>,
) -> ApiResult<Response> {
    let show = visible_show(&state, reader.as_ref(), show_id).await?;
    let me = reader.as_ref().map(|u| u.user_id);
    let seats: Vec<SeatView> = if show.status == ShowStatus::Draft {
        // Before launch every seat will be on sale; there is no live state yet.
        let currency = Currency::parse(&show.currency);
        store::draft_seat_map(&state.db, show_id, show.venue_id)
            .await?
            .into_iter()
            .map(
                |(seat_id, section, row, number, x, y, accessible, price, status)| SeatView {
                    seat_id,
                    section,
                    row,
                    number,
                    x,
                    y,
                    accessible,
                    price: currency
                        .map(|c| c.to_major(price))
                        .unwrap_or_else(|| serde_json::Number::from(price)),
                    status: status.into(),
                    mine: false,
                },
            )
            .collect()
    } else {
        let live = state.availability.show(show_id).await?;
        crate::availability::seat_list(&live, me)
    };
    let held = crate::availability::held_count(&seats);
    no_store_json(&ShowSeats {
        show_id,
        status: show.status,
        currency: show.currency,
        held,
        seats,
    })
}

/// Every seat of a show.
#[derive(Serialize, utoipa::ToSchema)]
struct ShowSeats {
    show_id: i64,
    status: ShowStatus,
    currency: String,
    /// Seats held by anyone.
    held: usize,
    seats: Vec<SeatView>,
}
