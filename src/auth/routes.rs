//! `/api/v1/auth/*` and `/api/v1/me`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::store::{self, Rotation};
use super::tokens::{hash_refresh_token, random_token};
use super::{Email, Role};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::auth::{AuthUser, MaybeUser};
use crate::http::json::ApiJson;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me))
}

const TAG: &str = "accounts";

/// A new account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    #[schema(format = Email, example = "asha@example.com")]
    email: String,
    /// 8 to 128 characters.
    #[schema(min_length = 8, max_length = 128)]
    password: String,
    /// 1 to 100 characters.
    #[schema(min_length = 1, max_length = 100, pattern = "\\S")]
    name: String,
    #[serde(default)]
    #[schema(schema_with = crate::http::openapi::requested_roles)]
    roles: Vec<String>,
}

const MIN_PASSWORD: usize = 8;
const MAX_PASSWORD: usize = 128;

/// Checks a new password's length (in characters).
pub fn check_password(password: &str) -> Result<(), ApiError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD {
        return Err(ApiError::invalid_field(
            "password",
            format!("password must have at least {MIN_PASSWORD} characters"),
        ));
    }
    if n > MAX_PASSWORD {
        return Err(ApiError::invalid_field(
            "password",
            format!("password must have at most {MAX_PASSWORD} characters"),
        ));
    }
    Ok(())
}

/// Creates an account (role `user`, plus any asked for among `organiser` and `venue_owner`).
#[utoipa::path(post, path = "/api/v1/auth/register", tag = TAG, request_body = RegisterBody,
    responses(
        (status = 201, description = "Created", body = store::User),
        (status = 409, description = "`EMAIL_TAKEN`", body = crate::http::openapi::ErrorBody),
    ))]
async fn register(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RegisterBody>,
) -> ApiResult<impl IntoResponse> {
    let email = Email::parse(&body.email).map_err(|m| ApiError::invalid_field("email", m))?;
    check_password(&body.password)?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid_field(
            "name",
            "name must have between 1 and 100 characters",
        ));
    }
    let mut roles = Vec::new();
    for (i, raw) in body.roles.iter().enumerate() {
        match Role::parse(raw) {
            Some(Role::Admin) => {
                return Err(ApiError::invalid_field(
                    format!("roles[{i}]"),
                    "the admin role is granted only by `boxoffice admin create`",
                ))
            }
            Some(role) => roles.push(role),
            None => {
                return Err(ApiError::invalid_field(
                    format!("roles[{i}]"),
                    "roles must be among: user, organiser, venue_owner",
                )
                .with_details(json!({ "field": format!("roles[{i}]"), "role": raw })))
            }
        }
    }
    let hash = state.passwords.hash(body.password).await?;
    let user = store::create_user(&state.db, &email, name, &hash, &roles)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::EmailTaken,
                "An account with this email already exists",
            )
            .with_details(json!({ "field": "email" }))
        })?;
    tracing::info!(user_id = user.user_id, "user registered");
    Ok((StatusCode::CREATED, Json(user)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    email: String,
    password: String,
}

/// An access token and a refresh token.
#[derive(Serialize, ToSchema)]
struct Tokens {
    /// A JWT to send as `Authorization: Bearer …`.
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds the access token is valid for.
    expires_in: i64,
    /// Single use: `POST /api/v1/auth/refresh_token` answers a new pair for it.
    refresh_token: String,
}

/// Signs in (limited per address and per account).
#[utoipa::path(post, path = "/api/v1/auth/login", tag = TAG, request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in", body = Tokens),
        (status = 401, description = "`UNAUTHORIZED`: wrong email or password", body = crate::http::openapi::ErrorBody),
        (status = 429, description = "`RATE_LIMITED`", body = crate::http::openapi::ErrorBody),
    ))]
async fn login(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<LoginBody>,
) -> ApiResult<impl IntoResponse> {
    let refused = || ApiError::new(ErrorCode::Unauthorized, "Invalid email or password");
    state.limits.check_login_account(&body.email).await?;
    let creds = match Email::parse(&body.email) {
        Ok(email) => store::credentials(&state.db, &email.normalised).await?,
        Err(_) => None,
    };
    let (user_id, hash) = match creds {
        Some((id, hash)) => (Some(id), Some(hash)),
        None => (None, None),
    };
    if body.password.len() > 4 * MAX_PASSWORD {
        return Err(refused());
    }
    if !state.passwords.verify(body.password, hash).await? {
        return Err(refused());
    }
    let user_id = user_id.ok_or_else(refused)?;
    let family = random_token(16);
    issue_pair(&state, user_id, &family).await
}

/// Issues an access token and a new refresh token in `family`.
async fn issue_pair(state: &AppState, user_id: i64, family: &str) -> ApiResult<Json<Tokens>> {
    let refresh = format!("rt_{}", random_token(32));
    let expires = Utc::now() + chrono::Duration::days(state.settings.refresh_token_days);
    store::insert_refresh_token(
        &state.db,
        &hash_refresh_token(&refresh),
        family,
        user_id,
        expires,
    )
    .await?;
    token_response(state, user_id, refresh).await
}

async fn token_response(
    state: &AppState,
    user_id: i64,
    refresh: String,
) -> ApiResult<Json<Tokens>> {
    let roles = store::roles_of(&state.db, user_id).await?;
    let access = state
        .tokens
        .issue(user_id, &roles, Utc::now().timestamp())?;
    Ok(Json(Tokens {
        access_token: access,
        token_type: "Bearer",
        expires_in: state.tokens.access_seconds,
        refresh_token: refresh,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RefreshBody {
    refresh_token: String,
}

/// Trades a refresh token for a new pair (the old one is spent; presenting a spent one again
/// revokes its whole family, except within a short grace for concurrent tabs).
#[utoipa::path(post, path = "/api/v1/auth/refresh_token", tag = TAG, request_body = RefreshBody,
    responses(
        (status = 200, description = "A new pair", body = Tokens),
        (status = 401, description = "`UNAUTHORIZED`", body = crate::http::openapi::ErrorBody),
    ))]
async fn refresh(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshBody>,
) -> ApiResult<impl IntoResponse> {
    // Derived, not random: concurrent refreshes of one token (several tabs) all answer this
    // same successor, which is stored once.
    let successor = state.tokens.refresh_successor(&body.refresh_token);
    let expires = Utc::now() + chrono::Duration::days(state.settings.refresh_token_days);
    let outcome = store::rotate_refresh_token(
        &state.db,
        &hash_refresh_token(&body.refresh_token),
        &hash_refresh_token(&successor),
        expires,
        state.settings.refresh_reuse_grace,
    )
    .await?;
    match outcome {
        Rotation::Rotated { user_id } => token_response(&state, user_id, successor).await,
        Rotation::Reissued { user_id } => {
            tracing::info!(
                user_id,
                "a just-spent refresh token was presented again; same successor answered"
            );
            token_response(&state, user_id, successor).await
        }
        Rotation::Refused => Err(ApiError::new(
            ErrorCode::Unauthorized,
            "Refresh token is invalid, expired or revoked",
        )),
        Rotation::ReuseDetected => {
            tracing::warn!("a spent refresh token was presented again; its family is revoked");
            Err(ApiError::new(
                ErrorCode::Unauthorized,
                "Refresh token was already used; sign in again",
            ))
        }
    }
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct LogoutBody {
    refresh_token: Option<String>,
}

/// Revokes the presented refresh token's family, or with only a Bearer token every refresh
/// token of the caller.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = TAG,
    request_body(content = Option<LogoutBody>, description = "Optional: the refresh token to revoke"),
    security((), ("bearer" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "`UNAUTHORIZED`: neither a refresh token nor a Bearer token", body = crate::http::openapi::ErrorBody),
    ))]
async fn logout(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    // No body, or JSON `null`: no refresh token given.
    let blank = body.iter().all(u8::is_ascii_whitespace) || body.trim_ascii() == b"null";
    let body: LogoutBody = if blank {
        LogoutBody::default()
    } else {
        crate::http::json::parse_json(&body)?
    };
    match (body.refresh_token, user) {
        (Some(token), _) => {
            store::revoke_family_of(&state.db, &hash_refresh_token(&token)).await?;
        }
        (None, Some(user)) => store::revoke_all_of_user(&state.db, user.user_id).await?,
        (None, None) => return Err(ApiError::unauthorized()),
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/v1/me", tag = TAG, security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = store::User),
        (status = 401, description = "`UNAUTHORIZED`", body = crate::http::openapi::ErrorBody),
    ))]
async fn me(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<store::User>> {
    store::find_user(&state.db, user.user_id)
        .await?
        .map(Json)
        .ok_or_else(ApiError::unauthorized)
}
