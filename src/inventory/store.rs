//! Queries on what is on sale: a show's sale settings and its seats' inventory rows, read
//! from the primary (holds and booking must see the latest commit).

use super::{InventorySeat, SaleShow};
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

/// The seats `buyer` has bought for the show (in confirmed bookings).
pub async fn bought_seats(db: &Db, show_id: i64, buyer: i64) -> Result<i64, sqlx::Error> {
    with_primary_read!(db, |pool| {
        sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(seat_count), 0) AS BIGINT) FROM bookings
              WHERE show_id = $1 AND status = 'confirmed' AND user_id = $2",
        )
        .bind(show_id)
        .bind(buyer)
        .fetch_one(pool)
        .await
    })
}

/// The inventory rows of the seats labelled `labels` in `show` (those that exist, in no
/// particular order), each with the seats `buyer` has bought for the show: one round trip.
pub async fn seat_rows(
    db: &Db,
    show: &SaleShow,
    labels: &[String],
    buyer: i64,
) -> Result<Vec<InventorySeat>, sqlx::Error> {
    with_primary_read!(db, |pool| {
        let mut qb = sqlx::QueryBuilder::new(
            "SELECT t.label, t.seat_id, i.status, i.price_minor,
                    (SELECT CAST(COALESCE(SUM(b.seat_count), 0) AS BIGINT) FROM bookings b
                      WHERE b.show_id = i.show_id AND b.status = 'confirmed' AND b.user_id = ",
        );
        qb.push_bind(buyer);
        qb.push(
            ") AS bought FROM seats t JOIN inventory i ON i.seat_id = t.seat_id AND i.show_id = ",
        );
        qb.push_bind(show.show_id);
        qb.push(" WHERE t.venue_id = ");
        qb.push_bind(show.venue_id);
        qb.push(" AND t.label IN (");
        let mut list = qb.separated(", ");
        for label in labels {
            list.push_bind(label);
        }
        qb.push(")");
        let rows = qb.build_query_as().fetch_all(pool).await?;
        Ok(rows)
    })
}
