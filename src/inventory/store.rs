//! Queries on what is on sale: a show's sale settings and a buyer's seats bought, read from the
//! primary (holds and booking must see the latest commit).

use super::SaleShow;
use crate::store::Db;
use crate::with_primary_read;

/// The sale settings of the show `show_id` (drafts included), `None` if there is none.
pub async fn find_sale_show(db: &Db, show_id: i64) -> Result<Option<SaleShow>, sqlx::Error> {
    with_primary_read!(db, |pool| {
        sqlx::query_as(
            "SELECT s.show_id, s.event_id, s.venue_id, s.status, s.start_time, s.currency,
                    s.hold_seconds, s.max_seats_per_user, v.timezone, s.queue_enabled,
                    s.queue_admit_per_minute, s.queue_opens_at, s.queue_pass_minutes
             FROM shows s JOIN venues v ON v.venue_id = s.venue_id WHERE s.show_id = $1",
        )
        .bind(show_id)
        .fetch_optional(pool)
        .await
    })
}

/// The seats `buyer` has bought for the show (in confirmed bookings). Selected by buyer alone,
/// the show summed apart, as the booking's own recount is (`booking::group`).
pub async fn bought_seats(db: &Db, show_id: i64, buyer: i64) -> Result<i64, sqlx::Error> {
    with_primary_read!(db, |pool| {
        sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(CASE WHEN show_id = $1 THEN seat_count ELSE 0 END), 0)
                    AS BIGINT) FROM bookings
              WHERE status = 'confirmed' AND user_id = $2",
        )
        .bind(show_id)
        .bind(buyer)
        .fetch_one(pool)
        .await
    })
}
