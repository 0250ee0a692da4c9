//! The transactional outbox: every state change others care about writes an `outbox` row in the
//! same transaction as the change; the relay beside it (`events/mod.rs`) publishes the rows.

/// Topics written to the outbox.
pub mod topics {
    pub const SHOW_LAUNCHED: &str = "show.launched";
    pub const SHOW_UPDATED: &str = "show.updated";
    pub const SHOW_CANCELLED: &str = "show.cancelled";
    pub const BOOKING_CONFIRMED: &str = "booking.confirmed";
    pub const BOOKING_CANCELLED: &str = "booking.cancelled";
}

pub const INSERT_SQL: &str =
    "INSERT INTO outbox (topic, aggregate_id, payload, created_at) VALUES ($1, $2, $3, $4)";

/// Writes an outbox row on the transaction `$tx` (a `&mut Transaction` of either backend).
#[macro_export]
macro_rules! enqueue_outbox {
    ($tx:expr, $topic:expr, $aggregate_id:expr, $payload:expr) => {
        sqlx::query($crate::events::outbox::INSERT_SQL)
            .bind($topic)
            .bind($aggregate_id)
            .bind(sqlx::types::Json($payload))
            .bind(chrono::Utc::now())
            .execute(&mut *$tx)
    };
}
