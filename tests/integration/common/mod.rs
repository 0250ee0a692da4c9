//! Test harness, in layers:
//!
//! - [`app`]: starts the real app on port 0 over an isolated database (a fresh SQLite data dir,
//!   or a fresh PostgreSQL database cloned from a template migrated once per run, see
//!   [`postgres`]), restarts it, starts more nodes of one deployment;
//! - [`client`]: HTTP requests to it, JSON answers, signed-in users and their tokens;
//! - [`scenarios`]: multi-step flows (a venue, event and live show; a buyer; hold then book);
//! - [`services`]: servers a test runs for itself (private Redis and NATS, an SMTP sink) and
//!   waiting helpers.
//!
//! Everything is re-exported here, so tests `use crate::common::{…}` without naming the layer.
//!
//! PostgreSQL tests use `BOXOFFICE_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`) and fail, never skip, when it is unreachable.

#![allow(dead_code)]

#[macro_use]
pub mod app;
pub mod browser;
pub mod client;
pub mod deployment;
pub mod postgres;
pub mod scenarios;
pub mod services;
pub mod stream;

pub use app::*;
pub use client::*;
pub use deployment::*;
pub use postgres::admin_database_url;
pub use scenarios::*;
pub use services::*;
pub use stream::*;

use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A unique suffix for emails, databases and names.
pub fn unique() -> String {
    format!(
        "{}{}{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        uuid::Uuid::new_v4()
            .simple()
            .to_string()
            .get(..8)
            .unwrap_or("x")
    )
}
