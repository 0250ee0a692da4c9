//! Venue onboarding (SPEC §5): sections, rows, aisles, accessible seats and map positions.
//! Layouts are static after onboarding.

pub mod layout;
mod routes;
pub mod store;

pub use routes::router;

pub use routes::text_field;
