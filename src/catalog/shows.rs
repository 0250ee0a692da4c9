//! Show management by the event's organiser: create a draft with section prices, launch it
//! (pre-populating the inventory in one statement), change caps and the waiting room, cancel.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::browse::{load_show, ShowDetail};
use super::events::event_of_organiser;
use super::store::{self, CancelledShow, NewShow, ShowSettings};
use super::time::parse_show_time;
use crate::app::AppState;
use crate::domain::ShowStatus;
use crate::error::{ApiError, ApiResult};
use crate::http::auth::AuthUser;
use crate::http::json::{ApiJson, ApiPath};
use crate::money::Currency;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_show))
        .routes(routes!(update_show))
        .routes(routes!(launch_show))
        .routes(routes!(cancel_show))
}

const TAG: &str = "shows";

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PriceSpec {
    section: String,
    price: f64,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct QueueSpec {
    enabled: Option<bool>,
    #[schema(minimum = 1, maximum = 1_000_000)]
    admit_per_minute: Option<i32>,
    /// Absent: unchanged; `null`: no pre-queue (open when turned on); a time: joins before it
    /// are shuffled at it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    opens_at: Option<Option<String>>,
    #[schema(minimum = 1, maximum = 240)]
    pass_minutes: Option<i32>,
}

/// A field that may be given as `null` (`Some(None)`), unlike an absent one (`None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// The waiting room's opening time, in the venue's zone unless it carries an offset.
fn queue_opening(queue: &QueueSpec, tz: Tz) -> ApiResult<Option<Option<chrono::DateTime<Utc>>>> {
    match &queue.opens_at {
        None => Ok(None),
        Some(None) => Ok(Some(None)),
        Some(Some(raw)) => parse_show_time(raw, tz)
            .map(|t| Some(Some(t)))
            .map_err(|e| ApiError::invalid_field("queue.opens_at", format!("queue.opens_at {e}"))),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateShow {
    venue_id: i64,
    start_time: String,
    end_time: String,
    currency: String,
    prices: Vec<PriceSpec>,
    #[schema(minimum = 1, maximum = 100)]
    max_seats_per_user: Option<i32>,
    #[schema(minimum = 1, maximum = 3600)]
    hold_seconds: Option<i32>,
    queue: Option<QueueSpec>,
}

fn check_caps(
    max_seats: Option<i32>,
    hold: Option<i32>,
    queue: Option<&QueueSpec>,
) -> ApiResult<()> {
    if let Some(m) = max_seats {
        if !(1..=100).contains(&m) {
            return Err(ApiError::invalid_field(
                "max_seats_per_user",
                "max_seats_per_user must be between 1 and 100",
            ));
        }
    }
    if let Some(h) = hold {
        if !(1..=3600).contains(&h) {
            return Err(ApiError::invalid_field(
                "hold_seconds",
                "hold_seconds must be between 1 and 3600",
            ));
        }
    }
    if let Some(a) = queue.and_then(|q| q.admit_per_minute) {
        if !(1..=1_000_000).contains(&a) {
            return Err(ApiError::invalid_field(
                "queue.admit_per_minute",
                "queue.admit_per_minute must be between 1 and 1000000",
            ));
        }
    }
    if let Some(m) = queue.and_then(|q| q.pass_minutes) {
        if !(1..=240).contains(&m) {
            return Err(ApiError::invalid_field(
                "queue.pass_minutes",
                "queue.pass_minutes must be between 1 and 240",
            ));
        }
    }
    Ok(())
}

/// Creates a draft show of an event at a venue, with a price per section (its organiser).
#[utoipa::path(post, path = "/api/v1/events/{event_id}/shows", tag = TAG, request_body = CreateShow,
    params(("event_id" = i64, Path, description = "The event")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The draft", body = ShowDetail),
        (status = 400, description = "`INVALID_REQUEST`: a field at fault", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "`FORBIDDEN`: not the event's organiser", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "`NOT_FOUND`", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "`CONFLICT`: the venue is booked then", body = crate::http::openapi::ErrorBody),
    ))]
async fn create_show(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(event_id): ApiPath<i64>,
    ApiJson(body): ApiJson<CreateShow>,
) -> ApiResult<Response> {
    event_of_organiser(&state, &user, event_id).await?;
    check_caps(
        body.max_seats_per_user,
        body.hold_seconds,
        body.queue.as_ref(),
    )?;
    let venue = crate::venues::store::find_venue_row(&state.db, body.venue_id)
        .await?
        .ok_or_else(|| {
            ApiError::invalid_field(
                "venue_id",
                format!("venue {} does not exist", body.venue_id),
            )
        })?;
    let tz = Tz::from_str(&venue.timezone)
        .map_err(|_| ApiError::internal(anyhow::anyhow!("venue has a bad timezone")))?;
    let start = parse_show_time(&body.start_time, tz)
        .map_err(|m| ApiError::invalid_field("start_time", format!("start_time {m}")))?;
    let end = parse_show_time(&body.end_time, tz)
        .map_err(|m| ApiError::invalid_field("end_time", format!("end_time {m}")))?;
    let now = Utc::now();
    if start <= now {
        return Err(ApiError::invalid_field(
            "start_time",
            "start_time must be in the future",
        ));
    }
    if end <= start {
        return Err(ApiError::invalid_field(
            "end_time",
            "end_time must be after start_time",
        ));
    }
    if end - start > chrono::Duration::hours(24) {
        return Err(ApiError::invalid_field(
            "end_time",
            "a show lasts at most 24 hours",
        ));
    }
    let code = body.currency.trim();
    let currency = Currency::parse(code).ok_or_else(|| {
        ApiError::invalid_field(
            "currency",
            format!("currency must be one of: {}", Currency::codes().join(", ")),
        )
    })?;

    // Every section of the venue priced exactly once, and nothing else.
    let sections = crate::venues::store::sections_of(&state.db, venue.venue_id).await?;
    let by_name: HashMap<String, i64> = sections
        .iter()
        .map(|s| (s.name.to_lowercase(), s.section_id))
        .collect();
    let mut priced: HashMap<i64, i64> = HashMap::new();
    for (i, p) in body.prices.iter().enumerate() {
        let section_id = *by_name
            .get(&p.section.trim().to_lowercase())
            .ok_or_else(|| {
                ApiError::invalid_field(
                    format!("prices[{i}].section"),
                    format!("venue has no section `{}`", p.section),
                )
            })?;
        let minor = currency
            .to_minor(p.price)
            .map_err(|m| ApiError::invalid_field(format!("prices[{i}].price"), m))?;
        if priced.insert(section_id, minor).is_some() {
            return Err(ApiError::invalid_field(
                format!("prices[{i}].section"),
                format!("section `{}` is priced twice", p.section),
            ));
        }
    }
    let missing: Vec<&str> = sections
        .iter()
        .filter(|s| !priced.contains_key(&s.section_id))
        .map(|s| s.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::invalid(format!(
            "every section needs a price; missing: {}",
            missing.join(", ")
        ))
        .with_details(json!({ "field": "prices", "missing_sections": missing })));
    }

    let queue = body.queue.unwrap_or_default();
    let queue_opens_at = queue_opening(&queue, tz)?.flatten();
    let show_id = store::insert_show(
        &state.db,
        &NewShow {
            event_id,
            venue_id: venue.venue_id,
            start,
            end,
            tz,
            currency,
            hold_seconds: body.hold_seconds.unwrap_or(600),
            max_seats_per_user: body.max_seats_per_user.unwrap_or(10),
            queue_enabled: queue.enabled.unwrap_or(false),
            queue_admit_per_minute: queue.admit_per_minute.unwrap_or(100),
            queue_opens_at,
            queue_pass_minutes: queue.pass_minutes.unwrap_or(10),
            prices: priced.into_iter().collect(),
        },
    )
    .await?;
    tracing::info!(show_id, event_id, "show created as draft");
    let show = reload(&state, show_id).await?;
    Ok((StatusCode::CREATED, Json(show)).into_response())
}

async fn reload(state: &AppState, show_id: i64) -> ApiResult<ShowDetail> {
    load_show(&state.db, show_id)
        .await?
        .ok_or_else(|| ApiError::show_not_found(show_id))
}

/// The show, if the caller organises its event (or is an admin).
pub(crate) async fn show_of_organiser(
    state: &AppState,
    user: &AuthUser,
    show_id: i64,
) -> ApiResult<ShowDetail> {
    let show = reload(state, show_id).await?;
    if show.organiser_id != user.user_id && !user.is_admin(state).await? {
        if show.status == ShowStatus::Draft {
            return Err(ApiError::show_not_found(show_id));
        }
        return Err(ApiError::forbidden(
            "Only the event's organiser may manage this show",
        ));
    }
    Ok(show)
}

/// Puts a draft on sale: every seat becomes one inventory row, in one statement.
#[utoipa::path(post, path = "/api/v1/shows/{show_id}/launch", tag = TAG,
    params(("show_id" = i64, Path, description = "The show")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Live", body = ShowDetail),
        (status = 403, description = "`FORBIDDEN`", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "`SHOW_NOT_FOUND`", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "`INVALID_STATE`: not a draft, or started", body = crate::http::openapi::ErrorBody),
    ))]
async fn launch_show(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(show_id): ApiPath<i64>,
) -> ApiResult<Json<ShowDetail>> {
    let show = show_of_organiser(&state, &user, show_id).await?;
    let started = Instant::now();
    let seats = store::launch_inventory(&state.db, show_id, show.venue_id, show.event_id).await?;
    let Some(seats) = seats else {
        return Err(if show.status != ShowStatus::Draft {
            ApiError::invalid_state(format!(
                "Show {show_id} is {}, only a draft can be launched",
                show.status
            ))
        } else {
            ApiError::invalid_state(format!("Show {show_id} has already started"))
        }
        .with_details(json!({ "show_id": show_id, "status": show.status })));
    };
    state.shows.invalidate(show_id);
    state.catalog.invalidate();
    state.outbox_wakeup.notify_one();
    tracing::info!(
        show_id,
        seats,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "show launched"
    );
    Ok(Json(reload(&state, show_id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateShow {
    #[schema(minimum = 1, maximum = 100)]
    max_seats_per_user: Option<i32>,
    #[schema(minimum = 1, maximum = 3600)]
    hold_seconds: Option<i32>,
    queue: Option<QueueSpec>,
}

/// Changes a show's seat cap, hold time or waiting room (its organiser).
#[utoipa::path(patch, path = "/api/v1/shows/{show_id}", tag = TAG, request_body = UpdateShow,
    params(("show_id" = i64, Path, description = "The show")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The show", body = ShowDetail),
        (status = 400, description = "`INVALID_REQUEST`", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "`FORBIDDEN`", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "`SHOW_NOT_FOUND`", body = crate::http::openapi::ErrorBody),
    ))]
async fn update_show(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(show_id): ApiPath<i64>,
    ApiJson(body): ApiJson<UpdateShow>,
) -> ApiResult<Json<ShowDetail>> {
    let show = show_of_organiser(&state, &user, show_id).await?;
    if matches!(show.status, ShowStatus::Cancelled | ShowStatus::Completed) {
        return Err(ApiError::invalid_state(format!(
            "Show {show_id} is {}",
            show.status
        )));
    }
    check_caps(
        body.max_seats_per_user,
        body.hold_seconds,
        body.queue.as_ref(),
    )?;
    let queue = body.queue.unwrap_or_default();
    let tz: Tz = show.timezone.parse().unwrap_or(Tz::UTC);
    let queue_opens_at = queue_opening(&queue, tz)?;
    store::update_show_settings(
        &state.db,
        show_id,
        show.event_id,
        &ShowSettings {
            max_seats_per_user: body.max_seats_per_user,
            hold_seconds: body.hold_seconds,
            queue_enabled: queue.enabled,
            queue_admit_per_minute: queue.admit_per_minute,
            queue_opens_at,
            queue_pass_minutes: queue.pass_minutes,
        },
    )
    .await?;
    // Turning the room on again starts a new line: places, the pre-queue, the clock and the
    // seed of the one before are gone (passes already given run out on their own).
    let was_on = show
        .queue
        .get("enabled")
        .and_then(serde_json::Value::as_bool)
        == Some(true);
    if queue.enabled == Some(true) && !was_on {
        if let Err(e) = state.queue.line.reset(show_id).await {
            tracing::warn!(error = %e, show_id, "cannot clear the previous waiting line");
        }
    }
    state.shows.invalidate(show_id);
    state.catalog.invalidate();
    state.outbox_wakeup.notify_one();
    Ok(Json(reload(&state, show_id).await?))
}

/// Cancels a draft or live show: every confirmed booking is cancelled with its tickets voided
/// and its payment marked `refund_pending`, seats are withdrawn from sale, in one transaction
/// ([`store::cancel_show`]); then each payment is refunded through the provider and recorded
/// `refunded`.
/// Calls a show off: its bookings are cancelled and refunded, its seats withdrawn.
#[utoipa::path(post, path = "/api/v1/shows/{show_id}/cancel", tag = TAG,
    params(("show_id" = i64, Path, description = "The show")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Cancelled", body = ShowDetail),
        (status = 403, description = "`FORBIDDEN`", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "`SHOW_NOT_FOUND`", body = crate::http::openapi::ErrorBody),
        (status = 409, description = "`INVALID_STATE`", body = crate::http::openapi::ErrorBody),
    ))]
async fn cancel_show(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(show_id): ApiPath<i64>,
) -> ApiResult<Json<ShowDetail>> {
    let show = show_of_organiser(&state, &user, show_id).await?;
    let cancelled = store::cancel_show(&state.db, show_id, show.event_id).await?;
    let Some(CancelledShow { bookings, refunds }) = cancelled else {
        return Err(ApiError::invalid_state(format!(
            "Show {show_id} is {} and cannot be cancelled",
            show.status
        ))
        .with_details(json!({ "show_id": show_id, "status": show.status })));
    };
    state.shows.invalidate(show_id);
    state.catalog.invalidate();
    state.outbox_wakeup.notify_one();
    announce_blocked(&state, show_id).await;
    for txn in &refunds {
        if state.faults.fire(crate::faults::Fault::CrashBeforeRefund) {
            tracing::warn!(transaction_id = %txn, "fault: refund skipped");
        } else {
            crate::payments::settle_refund(&state.db, &state.payments, txn).await;
        }
    }
    tracing::info!(
        show_id,
        refunded_bookings = bookings.len(),
        "show cancelled"
    );
    Ok(Json(reload(&state, show_id).await?))
}

/// Tells every node's live availability that a cancelled show's seats are off sale.
async fn announce_blocked(state: &AppState, show_id: i64) {
    let live = match state.availability.show(show_id).await {
        Ok(live) => live,
        Err(e) => {
            tracing::warn!(error = ?e, show_id, "cannot load a cancelled show's map; availability repairs it");
            return;
        }
    };
    let labels: Vec<_> = (0..live.map.len() as u32)
        .filter_map(|i| live.map.label(i))
        .map(|l| (l, crate::domain::InventoryStatus::Blocked))
        .collect();
    for chunk in labels.chunks(2_000) {
        if let Err(e) = state.holds.announce(show_id, chunk, None).await {
            tracing::warn!(error = %e, show_id, "cannot announce a cancelled show's seats; availability repairs it");
            return;
        }
    }
}
