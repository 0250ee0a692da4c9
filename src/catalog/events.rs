//! `/api/v1/events`: an event is the bigger plan (a film's release, a tour) whose shows are
//! performed at venues.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::types::Json as SqlJson;

use super::browse::{list_shows, ListFilter, ShowSummary};
use super::Category;
use crate::app::AppState;
use crate::auth::Role;
use crate::error::{ApiError, ApiResult};
use crate::http::auth::{AuthUser, CatalogReader};
use crate::http::cache::catalog_json;
use crate::http::json::{ApiJson, ApiPath};
use crate::outbox::topics;
use crate::store::Db;
use crate::venues::store::text_field_opt;
use crate::{enqueue_outbox, with_db, with_read_db};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/events", post(create_event))
        .route(
            "/api/v1/events/{event_id}",
            get(get_event).patch(update_event),
        )
}

/// An event as stored and answered.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Event {
    pub event_id: i64,
    pub organiser_id: i64,
    pub title: String,
    pub category: String,
    pub description: String,
    pub language: Option<String>,
    pub duration_minutes: Option<i32>,
    pub tags: SqlJson<Vec<String>>,
    pub artists: SqlJson<Vec<String>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const EVENT_COLUMNS: &str = "event_id, organiser_id, title, category, description, language, \
     duration_minutes, tags, artists, created_at, updated_at";

pub async fn find_event(db: &Db, event_id: i64) -> Result<Option<Event>, sqlx::Error> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE event_id = $1");
    with_db!(db, |pool| sqlx::query_as(&sql)
        .bind(event_id)
        .fetch_optional(pool)
        .await)
}

/// The event, if the caller organises it (or is an admin): 404 if missing, 403 if not theirs.
pub async fn event_of_organiser(
    state: &AppState,
    user: &AuthUser,
    event_id: i64,
) -> ApiResult<Event> {
    let event = find_event(&state.db, event_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Event", event_id))?;
    if event.organiser_id != user.user_id && !user.is_admin(state).await? {
        return Err(ApiError::forbidden(
            "Only the event's organiser may do this",
        ));
    }
    Ok(event)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateEvent {
    title: String,
    category: String,
    #[serde(default)]
    description: String,
    language: Option<String>,
    duration_minutes: Option<i32>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
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
    let now = Utc::now();
    let sql = format!(
        "INSERT INTO events (organiser_id, title, category, description, language, duration_minutes, \
         tags, artists, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
         RETURNING {EVENT_COLUMNS}"
    );
    let event: Event = with_db!(&state.db, |pool| {
        sqlx::query_as(&sql)
            .bind(user.user_id)
            .bind(title)
            .bind(category.as_str())
            .bind(description)
            .bind(language)
            .bind(duration)
            .bind(SqlJson(&tags))
            .bind(SqlJson(&artists))
            .bind(now)
            .fetch_one(pool)
            .await?
    });
    tracing::info!(event_id = event.event_id, "event created");
    Ok((StatusCode::CREATED, Json(event)).into_response())
}

#[derive(Serialize)]
struct EventWithShows {
    #[serde(flatten)]
    event: Event,
    shows: Vec<ShowSummary>,
}

async fn get_event(
    State(state): State<AppState>,
    CatalogReader(reader): CatalogReader,
    headers: HeaderMap,
    ApiPath(event_id): ApiPath<i64>,
) -> ApiResult<Response> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE event_id = $1");
    let event: Event = with_read_db!(&state.db, |pool| {
        sqlx::query_as(&sql)
            .bind(event_id)
            .fetch_optional(pool)
            .await?
    })
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
    catalog_json(
        &headers,
        &EventWithShows { event, shows },
        state.settings.catalog_max_age,
        reader.is_some(),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateEvent {
    title: Option<String>,
    category: Option<String>,
    description: Option<String>,
    language: Option<String>,
    duration_minutes: Option<i32>,
    tags: Option<Vec<String>>,
    artists: Option<Vec<String>>,
}

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
    let sql = format!(
        "UPDATE events SET title = $2, category = $3, description = $4, language = $5, \
         duration_minutes = $6, tags = $7, artists = $8, updated_at = $9 WHERE event_id = $1 \
         RETURNING {EVENT_COLUMNS}"
    );
    let event: Event = with_db!(&state.db, |pool| {
        let mut tx = pool.begin().await?;
        let event: Event = sqlx::query_as(&sql)
            .bind(event_id)
            .bind(&title)
            .bind(&category)
            .bind(&description)
            .bind(&language)
            .bind(duration)
            .bind(SqlJson(&tags))
            .bind(SqlJson(&artists))
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
        event
    });
    Ok(Json(event))
}
