//! `/api/v1/venues`.

use std::str::FromStr;

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::layout::{plan_layout, SectionSpec};
use super::store::{self, NewVenue};
use crate::app::AppState;
use crate::auth::Role;
use crate::catalog::cache::Rendered;
use crate::error::{ApiError, ApiResult};
use crate::http::auth::{AuthUser, CatalogReader};
use crate::http::cache::{catalog_json, catalog_rendered};
use crate::http::json::{ApiJson, ApiPath, ApiQuery};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/venues", post(create_venue).get(list_venues))
        .route("/api/v1/venues/preview", post(preview_layout))
        .route("/api/v1/venues/{venue_id}", get(get_venue))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateVenue {
    name: String,
    city: String,
    address: String,
    timezone: String,
    sections: Vec<SectionSpec>,
}

/// Trims `value` and checks it has between `min` and `max` characters.
pub fn text_field<'a>(field: &str, value: &'a str, min: usize, max: usize) -> ApiResult<&'a str> {
    let trimmed = value.trim();
    let n = trimmed.chars().count();
    if n < min || n > max {
        return Err(ApiError::invalid_field(
            field,
            format!("{field} must have between {min} and {max} characters"),
        ));
    }
    Ok(trimmed)
}

async fn create_venue(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<CreateVenue>,
) -> ApiResult<Response> {
    user.require_role(&state, Role::VenueOwner).await?;
    let name = text_field("name", &body.name, 1, 120)?;
    let city = text_field("city", &body.city, 1, 80)?;
    let address = text_field("address", &body.address, 1, 300)?;
    let timezone = chrono_tz::Tz::from_str(body.timezone.trim()).map_err(|_| {
        ApiError::invalid_field(
            "timezone",
            "timezone must be an IANA name such as Asia/Kolkata",
        )
    })?;
    let layout = plan_layout(&body.sections, state.settings.max_seats_per_venue)
        .map_err(|e| ApiError::invalid_field(e.field, e.message))?;
    let venue_id = store::insert_venue(
        &state.db,
        &NewVenue {
            owner_id: user.user_id,
            name,
            city,
            address,
            timezone: timezone.name(),
        },
        &layout,
    )
    .await?;
    tracing::info!(venue_id, seats = layout.seats.len(), "venue onboarded");
    let venue = store::find_venue(&state.db, venue_id)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("venue vanished after insert")))?;
    Ok((StatusCode::CREATED, Json(venue)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviewBody {
    sections: Vec<SectionSpec>,
}

/// The seats a layout would produce, without saving anything (the onboarding map preview).
async fn preview_layout(
    State(state): State<AppState>,
    _user: AuthUser,
    ApiJson(body): ApiJson<PreviewBody>,
) -> ApiResult<Json<serde_json::Value>> {
    let layout = plan_layout(&body.sections, state.settings.max_seats_per_venue)
        .map_err(|e| ApiError::invalid_field(e.field, e.message))?;
    let seats: Vec<serde_json::Value> = layout
        .seats
        .iter()
        .map(|s| {
            json!({
                "seat_id": s.label, "section": layout.sections[s.section_index].name,
                "row": s.row_label, "number": s.number, "x": s.x, "y": s.y,
                "accessible": s.accessible,
            })
        })
        .collect();
    Ok(Json(json!({
        "seat_count": layout.seats.len(),
        "sections": layout.sections,
        "seats": seats,
    })))
}

async fn get_venue(
    State(state): State<AppState>,
    CatalogReader(reader): CatalogReader,
    headers: HeaderMap,
    ApiPath(venue_id): ApiPath<i64>,
) -> ApiResult<Response> {
    // A venue's layout never changes once onboarded: kept in memory.
    let key = format!("venue:{venue_id}");
    let answer = match state.catalog.answer(&key) {
        Some(answer) => answer,
        None => {
            let generation = state.catalog.generation();
            let venue = store::find_venue(&state.db, venue_id)
                .await?
                .ok_or_else(|| ApiError::not_found("Venue", venue_id))?;
            let answer = Rendered::new(serde_json::to_vec(&venue).map_err(ApiError::internal)?);
            state
                .catalog
                .keep_answer(key, generation, Duration::from_secs(300), answer.clone());
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VenueQuery {
    city: Option<String>,
    /// `true`: only the caller's own venues.
    #[serde(default)]
    mine: bool,
}

async fn list_venues(
    State(state): State<AppState>,
    CatalogReader(reader): CatalogReader,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<VenueQuery>,
) -> ApiResult<Response> {
    let owner = if query.mine {
        Some(reader.as_ref().ok_or_else(ApiError::unauthorized)?.user_id)
    } else {
        None
    };
    let city = query
        .city
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let venues = store::list_venues(&state.db, city, owner).await?;
    catalog_json(
        &headers,
        &venues,
        state.settings.catalog_max_age,
        reader.is_some(),
    )
}
