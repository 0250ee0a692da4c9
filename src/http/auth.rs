//! Bearer-token extractors. A missing, expired, tampered or `alg: none` token is the seed's 401.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::app::AppState;
use crate::auth::tokens::TokenError;
use crate::auth::{store, Role};
use crate::error::{ApiError, ErrorCode};

/// The authenticated caller (required).
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user_id: i64,
    /// Roles as the token states them; authorization decisions re-read them from the database.
    pub token_roles: Vec<Role>,
}

impl AuthUser {
    /// Checks against the database that the caller holds `role` (admins hold every role).
    pub async fn require_role(&self, state: &AppState, role: Role) -> Result<(), ApiError> {
        let roles = store::roles_of(&state.db, self.user_id).await?;
        if roles.contains(&role) || roles.contains(&Role::Admin) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "This action needs the {} role",
                role.as_str()
            )))
        }
    }

    /// True when the caller is an admin according to the database.
    pub async fn is_admin(&self, state: &AppState) -> Result<bool, ApiError> {
        Ok(store::roles_of(&state.db, self.user_id)
            .await?
            .contains(&Role::Admin))
    }
}

/// A bearer token the gateway already verified (to key the rate limits), left in the request's
/// extensions so the handler's [`AuthUser`] takes it instead of verifying the token again.
#[derive(Clone)]
pub struct Verified(AuthUser);

/// The user a request's bearer token names, if it carries a valid one (the rate limiter's
/// subject). The verified caller is kept in the request's extensions for [`AuthUser`]; an
/// invalid token leaves nothing there, and the handler refuses it as before.
pub fn bearer_user_id(state: &AppState, request: &mut axum::extract::Request) -> Option<i64> {
    let value = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let (user_id, claims) = state.tokens.verify(token.trim()).ok()?;
    request.extensions_mut().insert(Verified(AuthUser {
        user_id,
        token_roles: claims.roles,
    }));
    Some(user_id)
}

fn bearer(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(value) = parts.headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| ApiError::unauthorized())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(ApiError::unauthorized)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::unauthorized());
    }
    Ok(Some(token.trim()))
}

fn verify(state: &AppState, token: &str) -> Result<AuthUser, ApiError> {
    match state.tokens.verify(token) {
        Ok((user_id, claims)) => {
            tracing::Span::current().record("user_id", user_id);
            Ok(AuthUser {
                user_id,
                token_roles: claims.roles,
            })
        }
        Err(TokenError::Expired) => Err(ApiError::new(
            ErrorCode::Unauthorized,
            "Access token expired",
        )),
        Err(TokenError::Invalid) => Err(ApiError::new(
            ErrorCode::Unauthorized,
            "Authentication required",
        )),
    }
}

/// The caller the request's bearer token names (`None` without one): as the gateway verified
/// it, or verified here.
fn caller(parts: &mut Parts, state: &AppState) -> Result<Option<AuthUser>, ApiError> {
    if let Some(Verified(user)) = parts.extensions.remove::<Verified>() {
        tracing::Span::current().record("user_id", user.user_id);
        return Ok(Some(user));
    }
    match bearer(parts)? {
        Some(token) => verify(state, token).map(Some),
        None => Ok(None),
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        caller(parts, state)?.ok_or_else(ApiError::unauthorized)
    }
}

impl OptionalFromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, ApiError> {
        caller(parts, state)
    }
}

/// The caller if a Bearer token is present; an invalid token is still a 401.
pub struct MaybeUser(pub Option<AuthUser>);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        caller(parts, state).map(MaybeUser)
    }
}

/// A catalog reader: anonymous unless `BOXOFFICE_CATALOG_REQUIRES_AUTH` is on, in which case a
/// valid Bearer token is required.
pub struct CatalogReader(pub Option<AuthUser>);

impl FromRequestParts<AppState> for CatalogReader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let MaybeUser(user) = MaybeUser::from_request_parts(parts, state).await?;
        if user.is_none() && state.settings.catalog_requires_auth {
            return Err(ApiError::unauthorized());
        }
        Ok(CatalogReader(user))
    }
}
