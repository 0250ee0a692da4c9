//! Notifications after a booking: emails to buyers and organiser webhooks.

pub mod email;
pub mod store;
pub mod targets;
pub mod webhooks;
