//! `/api/v1/events`: an event is the bigger plan (a film's release, a tour) whose shows are
//! performed at venues.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::browse::{list_shows, ShowSummary};
use super::cache::Rendered;
use super::store::{self, Event, EventFields, ListFilter};
use super::Category;
use crate::app::AppState;
use crate::auth::Role;
use crate::error::{ApiError, ApiResult};
use crate::http::auth::{AuthUser, CatalogReader};
use crate::http::cache::{catalog_rendered, no_store_json};
use crate::http::json::{ApiJson, ApiPath, ApiQuery};
use crate::money::Currency;
use crate::venues::store::text_field_opt;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_event, list_events))
        .routes(routes!(get_event, update_event))
}

const TAG: &str = "events";

/// The event, if the caller organises it (or is an admin): 404 if missing, 403 if not theirs.
pub async fn event_of_organiser(
    state: &AppState,
    user: &AuthUser,
    event_id: i64,
) -> ApiResult<Event> {
    let event = store::find_event(&state.db, event_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Event", event_id))?;
    if event.organiser_id != user.user_id && !user.is_admin(state).await? {
        return Err(ApiError::forbidden(
            "Only the event's organiser may do this",
        ));
    }
    Ok(event)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateEvent {
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    title: String,
    #[schema(pattern = "^(movie|concert)$")]
    category: String,
    #[serde(default)]
    #[schema(max_length = 5000)]
    description: String,
    #[schema(max_length = 40)]
    language: Option<String>,
    #[schema(minimum = 1, maximum = 1440)]
    duration_minutes: Option<i32>,
    #[serde(default)]
    #[schema(schema_with = crate::http::openapi::short_texts)]
    tags: Vec<String>,
    #[serde(default)]
    #[schema(schema_with = crate::http::openapi::short_texts)]
    artists: Vec<String>,
}

fn parse_category(raw: &str) -> ApiResult<Category> {
    Category::parse(raw).ok_or_else(|| {
        ApiError::invalid_field("category", "category must be one of: movie, concert")
            .with_details(json!({ "field": "category", "category": raw }))
    })
}

fn check_list(field: &str, items: &[String]) -> ApiResult<Vec<String>> {
    if items.len() > 30 {
        return Err(ApiError::invalid_field(
            field,
            format!("{field} has at most 30 entries"),
        ));
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let item = item.trim();
        if item.is_empty() || item.chars().count() > 80 {
            return Err(ApiError::invalid_field(
                format!("{field}[{i}]"),
                format!("each of {field} must have 1 to 80 characters"),
            ));
        }
        out.push(item.to_owned());
    }
    Ok(out)
}

fn check_duration(minutes: Option<i32>) -> ApiResult<Option<i32>> {
    match minutes {
        Some(m) if !(1..=1440).contains(&m) => Err(ApiError::invalid_field(
            "duration_minutes",
            "duration_minutes must be between 1 and 1440",
        )),
        other => Ok(other),
    }
}

/// Creates an event (organisers); its shows come next.
#[utoipa::path(post, path = "/api/v1/events", tag = TAG, request_body = CreateEvent,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = Event),
        (status = 400, description = "`INVALID_REQUEST`", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "`FORBIDDEN`: not an organiser", body = crate::http::openapi::ErrorBody),
    ))]
async fn create_event(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<CreateEvent>,
) -> ApiResult<Response> {
    user.require_role(&state, Role::Organiser).await?;
    let title = crate::venues::text_field("title", &body.title, 1, 200)?;
    let category = parse_category(&body.category)?;
    let description = crate::venues::text_field("description", &body.description, 0, 5000)?;
    let language = text_field_opt("language", body.language.as_deref(), 40)?;
    let duration = check_duration(body.duration_minutes)?;
    let tags = check_list("tags", &body.tags)?;
    let artists = check_list("artists", &body.artists)?;
    let event = store::insert_event(
        &state.db,
        user.user_id,
        &EventFields {
            title,
            category: category.as_str(),
            description,
            language,
            duration_minutes: duration,
            tags: &tags,
            artists: &artists,
        },
    )
    .await?;
    tracing::info!(event_id = event.event_id, "event created");
    Ok((StatusCode::CREATED, Json(event)).into_response())
}

#[derive(Serialize, utoipa::ToSchema)]
struct EventWithShows {
    #[serde(flatten)]
    event: Event,
    shows: Vec<ShowSummary>,
}

/// An event with its shows (its organiser also sees drafts).
#[utoipa::path(get, path = "/api/v1/events/{event_id}", tag = TAG,
    params(("event_id" = i64, Path, description = "The event")),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The event", body = EventWithShows),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        (status = 404, description = "`NOT_FOUND`", body = crate::http::openapi::ErrorBody),
    ))]
async fn get_event(
    State(state): State<AppState>,
    CatalogReader(reader): CatalogReader,
    headers: HeaderMap,
    ApiPath(event_id): ApiPath<i64>,
) -> ApiResult<Response> {
    // The public answer (no drafts) is kept in memory; an organiser's own view is read fresh.
    let key = format!("event:{event_id}");
    if let Some(answer) = state.catalog.answer(&key) {
        let organiser = match &reader {
            Some(user) => is_organiser_of(&state, user, event_id).await?,
            None => false,
        };
        if !organiser {
            return catalog_rendered(
                &headers,
                &answer,
                state.settings.catalog_max_age,
                reader.is_some(),
            );
        }
    }
    let generation = state.catalog.generation();
    let event = store::read_event(&state.db, event_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Event", event_id))?;
    let is_organiser = match &reader {
        Some(user) => user.user_id == event.organiser_id || user.is_admin(&state).await?,
        None => false,
    };
    let filter = ListFilter {
        event_id: Some(event_id),
        include_unlisted: is_organiser,
        ..ListFilter::default()
    };
    let shows = list_shows(&state.db, &filter).await?;
    let answer = Rendered::new(
        serde_json::to_vec(&EventWithShows { event, shows }).map_err(ApiError::internal)?,
    );
    if !is_organiser {
        // Events change without an outbox event while they have no live show: a short life.
        state
            .catalog
            .keep_answer(key, generation, Duration::from_secs(1), answer.clone());
    }
    catalog_rendered(
        &headers,
        &answer,
        state.settings.catalog_max_age,
        reader.is_some(),
    )
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    /// `true` when given (and by default): the one list of events is the caller's own (the
    /// public browses shows).
    #[param(schema_with = only_true)]
    mine: Option<bool>,
}

/// The schema of a flag that has one allowed value, `true`.
fn only_true() -> utoipa::openapi::schema::Object {
    ObjectBuilder::new()
        .schema_type(Type::Boolean)
        .enum_values(Some([true]))
        .build()
}

/// A show in its organiser's list, with its sales so far.
#[derive(Serialize, utoipa::ToSchema)]
struct OwnShow {
    #[serde(flatten)]
    show: ShowSummary,
    /// Seats on sale once live (every seat of the venue).
    seat_count: i64,
    seats_sold: i64,
    /// What the sold seats fetched, in major units of `currency`.
    #[schema(value_type = f64)]
    revenue: serde_json::Number,
}

/// An event in its organiser's list: every show, drafts included, with its sales.
#[derive(Serialize, utoipa::ToSchema)]
struct OwnEvent {
    #[serde(flatten)]
    event: Event,
    shows: Vec<OwnShow>,
}

/// The caller's own events (`mine=true`), newest first, each with every show and its sales
/// (at most 200 events and 2,000 shows). An admin gets their own events too, not everyone's.
#[utoipa::path(get, path = "/api/v1/events", tag = TAG, params(EventsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's events", body = Vec<OwnEvent>),
        (status = 400, description = "`INVALID_REQUEST`: `mine` other than `true`", body = crate::http::openapi::ErrorBody),
    ))]
async fn list_events(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> ApiResult<Response> {
    if query.mine == Some(false) {
        return Err(ApiError::invalid_field(
            "mine",
            "only the caller's own events are listed: mine=true, or leave it out",
        ));
    }
    let events = store::events_of_organiser(&state.db, user.user_id).await?;
    let mut shows: HashMap<i64, Vec<OwnShow>> = HashMap::new();
    for row in store::shows_of_organiser(&state.db, user.user_id).await? {
        shows
            .entry(row.summary.event_id)
            .or_default()
            .push(own_show(&row));
    }
    let own: Vec<OwnEvent> = events
        .into_iter()
        .map(|event| OwnEvent {
            shows: shows.remove(&event.event_id).unwrap_or_default(),
            event,
        })
        .collect();
    no_store_json(&own)
}

fn own_show(row: &store::OwnShowRow) -> OwnShow {
    let revenue = Currency::parse(&row.summary.currency)
        .map(|c| c.to_major(row.revenue_minor))
        .unwrap_or_else(|| row.revenue_minor.into());
    OwnShow {
        show: ShowSummary::from_row(&row.summary, true),
        seat_count: row.seat_count,
        seats_sold: row.seats_sold,
        revenue,
    }
}

/// Whether `user` organises the event (or is an admin).
async fn is_organiser_of(state: &AppState, user: &AuthUser, event_id: i64) -> ApiResult<bool> {
    if user.is_admin(state).await? {
        return Ok(true);
    }
    Ok(store::read_event(&state.db, event_id)
        .await?
        .is_some_and(|e| e.organiser_id == user.user_id))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateEvent {
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    title: Option<String>,
    #[schema(pattern = "^(movie|concert)$")]
    category: Option<String>,
    #[schema(max_length = 5000)]
    description: Option<String>,
    #[schema(max_length = 40)]
    language: Option<String>,
    #[schema(minimum = 1, maximum = 1440)]
    duration_minutes: Option<i32>,
    #[schema(schema_with = crate::http::openapi::optional_short_texts)]
    tags: Option<Vec<String>>,
    #[schema(schema_with = crate::http::openapi::optional_short_texts)]
    artists: Option<Vec<String>>,
}

/// Changes an event's fields (its organiser).
#[utoipa::path(patch, path = "/api/v1/events/{event_id}", tag = TAG, request_body = UpdateEvent,
    params(("event_id" = i64, Path, description = "The event")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The event", body = Event),
        (status = 403, description = "`FORBIDDEN`: not its organiser", body = crate::http::openapi::ErrorBody),
        (status = 404, description = "`NOT_FOUND`", body = crate::http::openapi::ErrorBody),
    ))]
async fn update_event(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(event_id): ApiPath<i64>,
    ApiJson(body): ApiJson<UpdateEvent>,
) -> ApiResult<Json<Event>> {
    let current = event_of_organiser(&state, &user, event_id).await?;
    let title = match &body.title {
        Some(t) => crate::venues::text_field("title", t, 1, 200)?.to_owned(),
        None => current.title.clone(),
    };
    let category = match &body.category {
        Some(c) => parse_category(c)?.as_str().to_owned(),
        None => current.category.clone(),
    };
    let description = match &body.description {
        Some(d) => crate::venues::text_field("description", d, 0, 5000)?.to_owned(),
        None => current.description.clone(),
    };
    let language = match &body.language {
        Some(l) => text_field_opt("language", Some(l), 40)?.map(str::to_owned),
        None => current.language.clone(),
    };
    let duration = match body.duration_minutes {
        Some(_) => check_duration(body.duration_minutes)?,
        None => current.duration_minutes,
    };
    let tags = match &body.tags {
        Some(t) => check_list("tags", t)?,
        None => current.tags.0.clone(),
    };
    let artists = match &body.artists {
        Some(a) => check_list("artists", a)?,
        None => current.artists.0.clone(),
    };
    let event = store::update_event(
        &state.db,
        event_id,
        &EventFields {
            title: &title,
            category: &category,
            description: &description,
            language: language.as_deref(),
            duration_minutes: duration,
            tags: &tags,
            artists: &artists,
        },
    )
    .await?;
    state.catalog.invalidate();
    Ok(Json(event))
}
