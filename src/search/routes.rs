//! `GET /api/v1/search?q=&city=&cat=&from=&to=&limit=&offset=`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use chrono::{Datelike, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::index::SearchQuery;
use crate::app::AppState;
use crate::catalog::filter::CatalogFilter;
use crate::catalog::time::TimeFilter;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::auth::CatalogReader;
use crate::http::cache::catalog_json;
use crate::http::json::ApiQuery;

/// `max-age` of search answers, in seconds.
const SEARCH_MAX_AGE: u32 = 5;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct SearchParams {
    /// What the visitor typed.
    #[serde(default)]
    #[param(max_length = 200)]
    q: String,
    city: Option<String>,
    /// `movie`, `concert` or `all`.
    #[param(pattern = "^\\s*(movie|concert|all)?\\s*$")]
    cat: Option<String>,
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
    #[param(minimum = 1, maximum = 100)]
    limit: Option<usize>,
    #[param(maximum = 10000)]
    offset: Option<usize>,
}

/// Full-text search over live shows (title, description, tags, artists, venue, city), typo
/// tolerant and prefix-matching as the visitor types; filters as `GET /api/v1/shows`.
#[utoipa::path(get, path = "/api/v1/search", tag = "shows", params(SearchParams),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "Hits, best first (`X-Total-Count`: all matches)", body = Vec<super::index::Hit>,
            headers(("X-Total-Count" = u64, description = "Matches in all"))),
        (status = 400, description = "`INVALID_REQUEST`", body = crate::http::openapi::ErrorBody),
        (status = 503, description = "`SERVICE_UNAVAILABLE`: search is not running on this node", body = crate::http::openapi::ErrorBody),
    ))]
async fn search(
    State(state): State<AppState>,
    CatalogReader(reader): CatalogReader,
    headers: HeaderMap,
    ApiQuery(p): ApiQuery<SearchParams>,
) -> ApiResult<Response> {
    let index = state.search.get().cloned().ok_or_else(|| {
        ApiError::new(ErrorCode::Unavailable, "Search is not running on this node")
    })?;
    if p.q.chars().count() > 200 {
        return Err(ApiError::invalid_field(
            "q",
            "q must have at most 200 characters",
        ));
    }
    let filter = CatalogFilter::parse(
        p.cat.as_deref(),
        p.city.as_deref(),
        p.from.as_deref(),
        p.to.as_deref(),
    )?;
    let limit = p.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid_field(
            "limit",
            "limit must be between 1 and 100",
        ));
    }
    let offset = p.offset.unwrap_or(0);
    if offset > 10_000 {
        return Err(ApiError::invalid_field(
            "offset",
            "offset must be at most 10000",
        ));
    }
    let mut query = SearchQuery {
        q: p.q,
        city: filter.city,
        category: filter.category.map(|c| c.as_str().to_owned()),
        limit,
        offset,
        ..SearchQuery::default()
    };
    for (parsed, is_from) in [(filter.from, true), (filter.to, false)] {
        match (parsed, is_from) {
            (None, _) => {}
            (Some(TimeFilter::Instant(t)), true) => query.from = Some(t),
            (Some(TimeFilter::Date(d)), true) => {
                query.from_day = Some(i64::from(d.num_days_from_ce()))
            }
            (Some(TimeFilter::Instant(t)), false) => query.to = Some(t),
            (Some(TimeFilter::Date(d)), false) => {
                query.to_day = Some(i64::from(d.num_days_from_ce()))
            }
        }
    }
    let (total, hits) = tokio::task::spawn_blocking(move || index.search(&query, Utc::now()))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    // Results change as shows go live, so they are cached briefly; the ETag covers the hits,
    // and the total travels in a header of its own.
    let mut response = catalog_json(&headers, &hits, SEARCH_MAX_AGE, reader.is_some())?;
    response
        .headers_mut()
        .insert("x-total-count", HeaderValue::from(total as u64));
    Ok(response)
}
