//! `/api/v1/venues`.

use std::str::FromStr;

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::layout::{plan_layout, SectionSpec};
use super::store::{self, NewVenue};
use crate::app::AppState;
use crate::auth::Role;
use crate::catalog::cache::Rendered;
use crate::error::{ApiError, ApiResult};
use crate::http::auth::{AuthUser, CatalogReader};
use crate::http::cache::{catalog_json, catalog_rendered};
use crate::http::json::{ApiJson, ApiPath, ApiQuery};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_venue, list_venues))
        .routes(routes!(preview_layout))
        .routes(routes!(get_venue))
}

const TAG: &str = "venues";

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateVenue {
    #[schema(min_length = 1, max_length = 120, pattern = "\\S")]
    name: String,
    #[schema(min_length = 1, max_length = 80, pattern = "\\S")]
    city: String,
    #[schema(min_length = 1, max_length = 300, pattern = "\\S")]
    address: String,
    /// An IANA time zone such as `Asia/Kolkata`.
    #[schema(example = "Asia/Kolkata")]
    timezone: String,
    #[schema(min_items = 1, max_items = 64)]
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

/// Onboards a venue and its seat layout (venue owners).
#[utoipa::path(post, path = "/api/v1/venues", tag = TAG, request_body = CreateVenue,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Onboarded", body = store::Venue),
        (status = 400, description = "`INVALID_REQUEST`: a field at fault (`details.field`)", body = crate::http::openapi::ErrorBody),
        (status = 403, description = "`FORBIDDEN`: not a venue owner", body = crate::http::openapi::ErrorBody),
    ))]
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PreviewBody {
    #[schema(min_items = 1, max_items = 64)]
    sections: Vec<SectionSpec>,
}

/// What a layout would produce.
#[derive(Serialize, ToSchema)]
struct LayoutPreview {
    seat_count: usize,
    sections: Vec<super::layout::PlannedSection>,
    seats: Vec<PreviewSeat>,
}

/// A seat of a previewed layout.
#[derive(Serialize, ToSchema)]
struct PreviewSeat {
    seat_id: String,
    section: String,
    row: String,
    number: i32,
    x: i32,
    y: i32,
    accessible: bool,
}

/// The seats a layout would produce, without saving anything (the onboarding map preview).
#[utoipa::path(post, path = "/api/v1/venues/preview", tag = TAG, request_body = PreviewBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The planned sections and seats", body = LayoutPreview),
        (status = 400, description = "`INVALID_REQUEST`: the layout at fault (`details.field`)", body = crate::http::openapi::ErrorBody),
    ))]
async fn preview_layout(
    State(state): State<AppState>,
    _user: AuthUser,
    ApiJson(body): ApiJson<PreviewBody>,
) -> ApiResult<Json<LayoutPreview>> {
    let layout = plan_layout(&body.sections, state.settings.max_seats_per_venue)
        .map_err(|e| ApiError::invalid_field(e.field, e.message))?;
    let seats = layout
        .seats
        .iter()
        .map(|s| PreviewSeat {
            seat_id: s.label.clone(),
            section: layout.sections[s.section_index].name.clone(),
            row: s.row_label.clone(),
            number: s.number,
            x: s.x,
            y: s.y,
            accessible: s.accessible,
        })
        .collect();
    Ok(Json(LayoutPreview {
        seat_count: layout.seats.len(),
        sections: layout.sections,
        seats,
    }))
}

/// A venue with its sections and seats.
#[utoipa::path(get, path = "/api/v1/venues/{venue_id}", tag = TAG,
    params(("venue_id" = i64, Path, description = "The venue")),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The venue", body = store::Venue),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        (status = 404, description = "`NOT_FOUND`", body = crate::http::openapi::ErrorBody),
    ))]
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

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct VenueQuery {
    city: Option<String>,
    /// `true`: only the caller's own venues.
    #[serde(default)]
    mine: bool,
}

/// Venues, by city, or the caller's own (`mine=true`).
#[utoipa::path(get, path = "/api/v1/venues", tag = TAG, params(VenueQuery),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "Venues", body = Vec<store::VenueSummary>),
        (status = 304, description = "Not modified (`If-None-Match`)"),
        (status = 401, description = "`UNAUTHORIZED`: `mine=true` without a token", body = crate::http::openapi::ErrorBody),
    ))]
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
