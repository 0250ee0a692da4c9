//! Queries of the search indexer: the outbox tail after a position, the newest outbox id, and
//! the rows a show's search document is made from.

use chrono::{DateTime, Utc};
use sqlx::types::Json as SqlJson;

use crate::catalog::store::{ShowSummaryRow, SUMMARY_COLUMNS};
use crate::store::{push_id_list, Db};
use crate::{with_db, with_read_db};

/// A show's list-shape columns plus what only search needs.
#[derive(sqlx::FromRow)]
pub struct ShowDocRow {
    #[sqlx(flatten)]
    pub summary: ShowSummaryRow,
    pub description: String,
    pub tags: SqlJson<Vec<String>>,
    pub artists: SqlJson<Vec<String>>,
    /// 1 while any seat is available, else 0.
    pub available: i64,
}

fn select() -> String {
    format!(
        "SELECT {SUMMARY_COLUMNS}, e.description, e.tags, e.artists,
            CAST(CASE WHEN EXISTS (SELECT 1 FROM inventory i WHERE i.show_id = s.show_id AND i.status = 'available')
                 THEN 1 ELSE 0 END AS BIGINT) AS available
         FROM shows s JOIN events e ON e.event_id = s.event_id JOIN venues v ON v.venue_id = s.venue_id"
    )
}

/// The newest outbox id (0 when the outbox is empty).
pub async fn max_outbox_id(db: &Db) -> Result<i64, sqlx::Error> {
    with_read_db!(db, |pool| {
        sqlx::query_scalar("SELECT CAST(COALESCE(MAX(outbox_id), 0) AS BIGINT) FROM outbox")
            .fetch_one(pool)
            .await
    })
}

/// The rows of every live show starting after `now`, for a rebuild.
pub async fn live_show_rows(db: &Db, now: DateTime<Utc>) -> Result<Vec<ShowDocRow>, sqlx::Error> {
    let sql = format!("{} WHERE s.status = 'live' AND s.start_time > $1", select());
    with_read_db!(db, |pool| {
        sqlx::query_as(&sql).bind(now).fetch_all(pool).await
    })
}

/// An outbox row as the indexer reads it: id, topic, aggregate id, payload.
pub type OutboxTailRow = (i64, String, i64, SqlJson<serde_json::Value>);

/// Up to 2,000 outbox rows after the id `after`, in id order.
pub async fn outbox_tail(db: &Db, after: i64) -> Result<Vec<OutboxTailRow>, sqlx::Error> {
    with_db!(db, |pool| {
        sqlx::query_as(
            "SELECT outbox_id, topic, aggregate_id, payload FROM outbox
             WHERE outbox_id > $1 ORDER BY outbox_id LIMIT 2000",
        )
        .bind(after)
        .fetch_all(pool)
        .await
    })
}

/// The rows of the shows `ids` (whatever their status).
///
/// The primary, not a replica: the outbox row was read there, so the show must be too.
pub async fn show_rows(db: &Db, ids: &[i64]) -> Result<Vec<ShowDocRow>, sqlx::Error> {
    with_db!(db, |pool| {
        let mut qb = sqlx::QueryBuilder::new(format!("{} WHERE s.show_id IN ", select()));
        push_id_list(&mut qb, ids);
        let rows = qb.build_query_as().fetch_all(pool).await?;
        Ok(rows)
    })
}
