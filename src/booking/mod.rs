//! Booking (SPEC §7): idempotent, transactional purchase of held seats, and the visitor's
//! bookings.

mod book;
mod bookings;
pub mod group;
pub mod idempotency;
pub mod store;

pub use book::request_hash;

use axum::routing::{get, post};
use axum::Router;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/book", post(book::book))
        .route("/api/v1/bookings", get(bookings::list_bookings))
        .route("/api/v1/bookings/{booking_id}", get(bookings::get_booking))
        .route(
            "/api/v1/bookings/{booking_id}/cancel",
            post(bookings::cancel_booking),
        )
}
