//! Booking (SPEC §7): idempotent, transactional purchase of held seats, and the visitor's
//! bookings.

mod book;
mod bookings;
pub mod group;
pub mod idempotency;
pub mod store;

pub use book::request_hash;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(book::book))
        .routes(routes!(bookings::list_bookings))
        .routes(routes!(bookings::get_booking))
        .routes(routes!(bookings::cancel_booking))
}
