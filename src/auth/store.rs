//! Queries on users, roles and refresh tokens.

use chrono::{DateTime, Utc};

use super::Role;
use crate::store::Db;
use crate::{with_db, with_primary_read};

/// A user as `/me` shows it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct User {
    pub user_id: i64,
    pub email: String,
    pub name: String,
    pub roles: Vec<Role>,
    pub created_at: DateTime<Utc>,
}

/// Creates a user with `roles` (`user` is always added). `Ok(None)` when the email is taken.
pub async fn create_user(
    db: &Db,
    email: &super::Email,
    name: &str,
    password_hash: &str,
    roles: &[Role],
) -> Result<Option<User>, sqlx::Error> {
    let now = Utc::now();
    let mut roles: Vec<Role> = roles.to_vec();
    roles.push(Role::User);
    roles.sort();
    roles.dedup();
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO users (email, email_norm, name, password_hash, created_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (email_norm) DO NOTHING
             RETURNING user_id",
        )
        .bind(&email.display)
        .bind(&email.normalised)
        .bind(name)
        .bind(password_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(user_id) = inserted else {
            return Ok(None);
        };
        for role in &roles {
            sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)")
                .bind(user_id)
                .bind(role.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Some(User {
            user_id,
            email: email.display.clone(),
            name: name.to_owned(),
            roles,
            created_at: now,
        }))
    })
}

/// Adds `role` to an existing user (used by `boxoffice admin create`).
pub async fn grant_role(db: &Db, user_id: i64, role: Role) -> Result<(), sqlx::Error> {
    with_db!(db, |pool| {
        sqlx::query(
            "INSERT INTO user_roles (user_id, role) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(user_id)
        .bind(role.as_str())
        .execute(pool)
        .await?;
        Ok(())
    })
}

/// The user id and password hash for a normalised email.
pub async fn credentials(db: &Db, email_norm: &str) -> Result<Option<(i64, String)>, sqlx::Error> {
    with_db!(db, |pool| {
        sqlx::query_as("SELECT user_id, password_hash FROM users WHERE email_norm = $1")
            .bind(email_norm)
            .fetch_optional(pool)
            .await
    })
}

/// The roles a user holds in the database.
pub async fn roles_of(db: &Db, user_id: i64) -> Result<Vec<Role>, sqlx::Error> {
    let names: Vec<String> = with_primary_read!(db, |pool| {
        sqlx::query_scalar("SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role")
            .bind(user_id)
            .fetch_all(pool)
            .await?
    });
    let mut roles: Vec<Role> = names.iter().filter_map(|n| Role::parse(n)).collect();
    roles.sort();
    Ok(roles)
}

pub async fn find_user(db: &Db, user_id: i64) -> Result<Option<User>, sqlx::Error> {
    let row: Option<(i64, String, String, DateTime<Utc>)> = with_primary_read!(db, |pool| {
        sqlx::query_as("SELECT user_id, email, name, created_at FROM users WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(pool)
            .await?
    });
    let Some((user_id, email, name, created_at)) = row else {
        return Ok(None);
    };
    Ok(Some(User {
        user_id,
        email,
        name,
        roles: roles_of(db, user_id).await?,
        created_at,
    }))
}

pub async fn set_password(db: &Db, user_id: i64, hash: &str) -> Result<(), sqlx::Error> {
    with_db!(db, |pool| {
        sqlx::query("UPDATE users SET password_hash = $1 WHERE user_id = $2")
            .bind(hash)
            .bind(user_id)
            .execute(pool)
            .await?;
        Ok(())
    })
}

/// Stores a new refresh token (by hash) in `family_id`.
pub async fn insert_refresh_token(
    db: &Db,
    token_hash: &str,
    family_id: &str,
    user_id: i64,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    with_db!(db, |pool| {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, family_id, user_id, issued_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(family_id)
        .bind(user_id)
        .bind(Utc::now())
        .bind(expires_at)
        .execute(pool)
        .await?;
        Ok(())
    })
}

/// What presenting a refresh token led to.
#[derive(Debug, PartialEq, Eq)]
pub enum Rotation {
    /// The token was live: it is now spent and its successor is stored in the same family.
    Rotated { user_id: i64 },
    /// The token was spent within the grace window (a concurrent refresh, another tab): its
    /// successor, already stored, is answered again.
    Reissued { user_id: i64 },
    /// Unknown, expired or revoked.
    Refused,
    /// Spent before the grace window: the whole family has been revoked.
    ReuseDetected,
}

#[derive(sqlx::FromRow)]
struct StoredRefreshToken {
    family_id: String,
    user_id: i64,
    expires_at: DateTime<Utc>,
    spent_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

/// Spends a refresh token and stores its successor (`successor_hash`, derived from the
/// presented token, so every concurrent caller names the same one) in one transaction.
///
/// The spend is a single conditional `UPDATE … WHERE spent_at IS NULL`: of concurrent callers
/// exactly one matches the row (on PostgreSQL the others wait for its row lock and, under READ
/// COMMITTED, re-check the condition against its committed spend; SQLite has one writer). The
/// others then read the committed row: spent within `grace`, they get `Reissued` and answer the
/// same successor; spent earlier, the family is revoked. `tests/integration/auth.rs`
/// `concurrent_refreshes_of_one_token_all_get_the_same_successor` and
/// `reuse_after_the_grace_window_revokes_the_family` prove both.
pub async fn rotate_refresh_token(
    db: &Db,
    presented_hash: &str,
    successor_hash: &str,
    successor_expires_at: DateTime<Utc>,
    grace: chrono::Duration,
) -> Result<Rotation, sqlx::Error> {
    let now = Utc::now();
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        let spent: Option<(String, i64, DateTime<Utc>)> = sqlx::query_as(
            "UPDATE refresh_tokens SET spent_at = $1
             WHERE token_hash = $2 AND spent_at IS NULL AND revoked_at IS NULL
             RETURNING family_id, user_id, expires_at",
        )
        .bind(now)
        .bind(presented_hash)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((family_id, user_id, expires_at)) = spent {
            if expires_at <= now {
                // Dropping the transaction rolls the spend back.
                return Ok(Rotation::Refused);
            }
            sqlx::query(
                "INSERT INTO refresh_tokens (token_hash, family_id, user_id, issued_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(successor_hash)
            .bind(&family_id)
            .bind(user_id)
            .bind(now)
            .bind(successor_expires_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(Rotation::Rotated { user_id });
        }
        let row: Option<StoredRefreshToken> = sqlx::query_as(
            "SELECT family_id, user_id, expires_at, spent_at, revoked_at
             FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(presented_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(StoredRefreshToken {
            family_id,
            user_id,
            expires_at,
            spent_at,
            revoked_at,
        }) = row
        else {
            return Ok(Rotation::Refused);
        };
        let Some(spent_at) = spent_at else {
            return Ok(Rotation::Refused);
        };
        if revoked_at.is_some() || expires_at <= now {
            return Ok(Rotation::Refused);
        }
        if now - spent_at <= grace {
            return Ok(Rotation::Reissued { user_id });
        }
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(&family_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Rotation::ReuseDetected)
    })
}

/// Revokes the family of a refresh token; returns the owner, if the token was known.
pub async fn revoke_family_of(db: &Db, token_hash: &str) -> Result<Option<i64>, sqlx::Error> {
    let now = Utc::now();
    with_db!(db, |pool| {
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT family_id, user_id FROM refresh_tokens WHERE token_hash = $1")
                .bind(token_hash)
                .fetch_optional(pool)
                .await?;
        let Some((family_id, user_id)) = row else {
            return Ok(None);
        };
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(&family_id)
        .execute(pool)
        .await?;
        Ok(Some(user_id))
    })
}

/// Revokes every refresh token of a user.
pub async fn revoke_all_of_user(db: &Db, user_id: i64) -> Result<(), sqlx::Error> {
    let now = Utc::now();
    with_db!(db, |pool| {
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(user_id)
        .execute(pool)
        .await?;
        Ok(())
    })
}

/// Reads, or creates once for all nodes, a named server secret.
pub async fn shared_secret(db: &Db, name: &str, fresh: &str) -> Result<String, sqlx::Error> {
    with_db!(db, |pool| {
        sqlx::query(
            "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(fresh)
        .bind(Utc::now())
        .execute(pool)
        .await?;
        sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
            .bind(name)
            .fetch_one(pool)
            .await
    })
}
